"""The one owner of action sampling and ``action_logp`` for every env runner.

:class:`ActionSampler` turns what a module's forward returns (``action_dist_inputs``:
a logits tensor, a numpy array of logits, or a distribution) into actions and
their log-probabilities. The single-agent runner (per vector step) and the
multi-agent runner (per module and forward call) share this class, so both draw
the same way from the same kind of stream.

Categorical logits on the CPU, the common case, are sampled with the Gumbel-max
trick: ``argmax(logits + g)`` with ``g ~ Gumbel(0, 1)`` is a sample from
``softmax(logits)``. The noise comes from the sampler's own seeded NumPy
generator, drawn in large blocks and handed out in order (a single flat stream:
where the blocks end does not change which noise a step gets), so a step costs
two NumPy calls. Their log-probabilities are ``log_softmax(logits)[action]``
(:meth:`ActionSampler.categorical_logp`); the runners call it once per round
on all rows sampled this way rather than once per step, which keeps the hot loop
as short as it was. Every other distribution is sampled through
:func:`~tripod.core.distribution.action_dist.make_action_dist` (torch's global
generator, which the runner's :class:`~tripod.io.seeding.GlobalRNGScope` owns).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from tripod.core.distribution.action_dist import make_action_dist

__all__ = ["ActionSampler"]

#: Noise values drawn per block (per action count); one generator call per block. The left-over
#: noise is part of the runner's RNG state (saved with checkpoints): 64 KiB unless one draw needs more.
_BLOCK_VALUES = 1 << 14

_EMPTY = np.zeros((0, 0), dtype=np.float32)


def _numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


class ActionSampler:
    """Samples actions and their log-probabilities from action distribution inputs.

    Args:
        rng: The generator the Gumbel noise of categorical sampling comes from (seed
            it for reproducible sampling). Its state and :meth:`get_state` together
            say what the sampler draws next.

    Example::

        sampler = ActionSampler(np.random.default_rng(0))
        actions, logp = sampler.sample(torch.tensor([[0.0, 1.0], [2.0, 0.0]]), explore=True)
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self._pools: dict[int, tuple[np.ndarray, int]] = {}

    # ---------------------------------------------------------------- noise
    def gumbel(self, count: int, num_actions: int) -> np.ndarray:
        """``[count, num_actions]`` fresh Gumbel(0, 1) noise, float32.

        Each piece is handed out once, so callers may overwrite it in place. The
        values follow one flat stream per ``num_actions``: asking for ``3`` rows
        then ``5`` gives what asking for ``8`` would have.
        """
        pool, used = self._pools.get(num_actions, (_EMPTY, 0))
        if used + count > pool.shape[0]:
            rows = max(2 * count, -(-_BLOCK_VALUES // num_actions))
            fresh = self.rng.gumbel(size=(rows, num_actions)).astype(np.float32)
            pool = np.concatenate([pool[used:], fresh]) if used < pool.shape[0] else fresh
            used = 0
        self._pools[num_actions] = (pool, used + count)
        return pool[used : used + count]

    def get_state(self) -> dict[str, np.ndarray]:
        """The noise drawn but not handed out yet, ``{str(num_actions): [n, num_actions]}``."""
        return {str(k): np.array(pool[used:]) for k, (pool, used) in self._pools.items()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore :meth:`get_state` (the generator's own state is restored separately)."""
        self._pools = {int(k): (np.array(v, dtype=np.float32), 0) for k, v in state.items()}  # owned, writable

    # ---------------------------------------------------------------- categorical
    def sample_categorical(
        self, logits: np.ndarray, explore: bool = True, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Actions ``[N]`` for logits ``[N, A]``: a Gumbel-max sample, or the argmax when not exploring.

        Args:
            logits: Unnormalised log-probabilities, one row per observation.
            explore: Sample (``True``) or take the most likely action.
            out: An ``[N]`` integer array to write the actions to (returned).
        """
        scores = logits
        if explore:
            noise = self.gumbel(logits.shape[0], logits.shape[1])
            scores = np.add(logits, noise, out=noise)
        if out is None:
            return scores.argmax(axis=1)
        if out.dtype == np.intp:
            return scores.argmax(axis=1, out=out)
        out[:] = scores.argmax(axis=1)
        return out

    @staticmethod
    def categorical_logp(logits: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """``log softmax(logits)[actions]`` along the last axis, float32 (``logits`` ``[..., A]``)."""
        top = logits.max(axis=-1, keepdims=True)
        shifted = logits - top
        lse = np.log(np.exp(shifted).sum(axis=-1))
        flat = shifted.reshape(-1, shifted.shape[-1])
        picked = flat[np.arange(flat.shape[0]), actions.reshape(-1)].reshape(lse.shape)
        return (picked - lse).astype(np.float32)

    # ---------------------------------------------------------------- any distribution
    def sample(
        self, dist_inputs: Any, explore: bool = True, *, dist_cls: Any = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Actions and (when exploring) their log-probabilities, as numpy arrays.

        Args:
            dist_inputs: A numpy array of categorical logits ``[N, A]`` (Gumbel-max, this
                sampler's noise), or what a module returns as ``action_dist_inputs``: a
                tensor of distribution inputs (built with ``dist_cls``, default
                categorical) or a distribution object (sampled with torch's generator).
            explore: Sample; ``False``: the distribution's deterministic (greedy) action.
            dist_cls: The distribution class of ``dist_inputs`` tensors (a module's
                ``get_exploration_action_dist_cls()``).

        Returns:
            ``(actions, logp)``; ``logp`` is ``None`` when not exploring.
        """
        if isinstance(dist_inputs, np.ndarray):
            actions = self.sample_categorical(dist_inputs, explore)
            return actions, self.categorical_logp(dist_inputs, actions) if explore else None
        dist = make_action_dist(dist_inputs, dist_cls=dist_cls)
        if not explore:
            return _numpy(dist.to_deterministic().sample()), None
        actions = dist.sample()
        return _numpy(actions), _numpy(dist.logp(actions))

    def logp(self, dist_inputs: Any, actions: Any, *, dist_cls: Any = None) -> np.ndarray:
        """Log-probabilities of given ``actions`` under ``dist_inputs`` (as in :meth:`sample`)."""
        if isinstance(dist_inputs, np.ndarray):
            return self.categorical_logp(dist_inputs, np.asarray(actions))
        dist = make_action_dist(dist_inputs, dist_cls=dist_cls)
        acts = torch.from_numpy(actions) if isinstance(actions, np.ndarray) else actions
        return _numpy(dist.logp(acts))
