"""Prioritized experience replay (Schaul et al., 2016), proportional variant.

Transition ``i`` is drawn with probability ``P(i) = p_i^alpha / sum_j p_j^alpha``
and weighted by ``w_i = (N * P(i))^-beta / max_j w_j``, ``N`` being the number of
stored transitions; the largest weight belongs to the smallest priority, so
``w_i = (p_i^alpha / min_j p_j^alpha)^-beta``. The ``p_i^alpha`` live in a
:class:`~tripod.data.segment_tree.SumTree` (proportional sampling) and a
:class:`~tripod.data.segment_tree.MinTree` (the largest weight). New transitions
get the largest priority seen so far, so each is likely to be replayed at least once.

Storage, n-step targets and the handling of incomplete n-step windows are those of
:class:`~tripod.data.replay_buffer.ReplayBuffer`. Memory: the replay storage plus
two float64 trees of ``2 * P`` nodes each, ``P`` the next power of two at or above
the capacity, i.e. ``32 * P`` bytes (between 32 and 64 bytes per transition).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from tripod.data.replay_buffer import ReplayBuffer
from tripod.data.segment_tree import MinTree, SumTree

__all__ = ["PrioritizedReplayBuffer"]


class PrioritizedReplayBuffer(ReplayBuffer):
    """Replay buffer sampling proportionally to ``priority ** alpha``, with importance weights.

    Args:
        capacity: Number of transitions kept (see :class:`ReplayBuffer`).
        observation_space: Space of one observation.
        action_space: Space of one action.
        num_envs: Number of sub-envs ``N`` in each added ``[T, N]`` batch.
        n_step: Steps summed into each return.
        gamma: Discount factor of the n-step return.
        seed: Seed of the buffer's own ``numpy`` generator.
        alpha: How strongly priorities shape sampling (0: uniform).
        beta: Default importance-sampling exponent (0: no correction, 1: full);
            algorithms usually anneal it towards 1 through ``sample(..., beta=)``.
        eps: Added to ``|td_error|`` so that no transition gets priority 0.

    Raises:
        ValueError: For ``alpha < 0``, ``beta < 0``, ``eps <= 0`` or the errors of
            :class:`ReplayBuffer`.
    """

    def __init__(
        self,
        capacity: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        *,
        num_envs: int = 1,
        n_step: int = 1,
        gamma: float = 0.99,
        seed: int | None = None,
        alpha: float = 0.6,
        beta: float = 0.4,
        eps: float = 1e-6,
    ):
        super().__init__(
            capacity,
            observation_space,
            action_space,
            num_envs=num_envs,
            n_step=n_step,
            gamma=gamma,
            seed=seed,
        )
        if not alpha >= 0.0:
            raise ValueError(f"PrioritizedReplayBuffer alpha must be >= 0, got {alpha!r}")
        self._check_beta(beta)
        if not eps > 0.0:
            raise ValueError(f"PrioritizedReplayBuffer eps must be > 0, got {eps!r}")
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.eps = float(eps)
        self._max_priority = 1.0
        self._sum_tree = SumTree(self.capacity)
        self._min_tree = MinTree(self.capacity)

    def _extra_bytes(self, capacity: int) -> int:
        """The sum and min trees: ``2 * next_pow2(capacity)`` float64 entries each."""
        return 2 * 2 * (1 << (capacity - 1).bit_length()) * 8

    @property
    def nbytes(self) -> int:
        """Bytes of the replay storage plus both priority trees."""
        return super().nbytes + self._sum_tree.nbytes + self._min_tree.nbytes

    def add(self, batch: Mapping[str, Any]) -> np.ndarray:
        """Store a ``[T, N]`` batch (see :meth:`ReplayBuffer.add`) with the largest priority so far.

        Returns:
            The flat indices of the transitions written.
        """
        indices = super().add(batch)
        self._set_priorities(indices, np.full(indices.shape, self._max_priority**self.alpha))
        return indices

    def sample(self, batch_size: int, beta: float | None = None) -> dict[str, Any]:
        """Draw ``batch_size`` transitions proportionally to ``priority ** alpha``.

        Sampling is stratified: the total priority mass is cut into ``batch_size``
        equal segments and one transition is drawn from each.

        Args:
            batch_size: Number of transitions; at most ``len(self)``.
            beta: Importance-sampling exponent for this batch (default: ``self.beta``).

        Returns:
            The batch of :meth:`ReplayBuffer.sample` plus ``"weights"`` (float32,
            ``(N * P(i)) ** -beta`` divided by the largest possible weight, so in ``(0, 1]``).

        Raises:
            ValueError: If ``batch_size`` is invalid or larger than ``len(self)``, or
                ``beta < 0``.
        """
        self._check_batch_size(batch_size)
        beta = self.beta if beta is None else self._check_beta(beta)
        total = self._sum_tree.total()
        targets = (np.arange(batch_size) + self._rng.random(batch_size)) * (total / batch_size)
        indices = self._sum_tree.find_prefixsum_idx(targets)
        batch = self._gather(indices)
        # (N P(i))^-beta / (N P_min)^-beta = (p_i / p_min)^-beta with p = priority^alpha.
        ratio = self._sum_tree[indices] / self._min_tree.min()
        batch["weights"] = np.power(ratio, -beta).astype(np.float32)
        return batch

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        """Set the priorities of sampled transitions to ``|td_error| + eps``.

        A slot overwritten since it was sampled gets the priority meant for its old
        transition (as in other PER implementations; it is soon resampled anyway).

        Args:
            indices: The ``"indices"`` of a batch from :meth:`sample`.
            td_errors: One TD error per index (numpy array, list or CPU tensor).

        Raises:
            ValueError: If the lengths differ, an index is not a stored transition, or
                a TD error is not finite.
        """
        indices = np.asarray(indices, dtype=np.int64).ravel()
        priorities = np.abs(np.asarray(td_errors, dtype=np.float64)).ravel() + self.eps
        if indices.shape != priorities.shape:
            raise ValueError(f"update_priorities got {indices.size} indices but {priorities.size} TD errors")
        rows, envs = np.divmod(indices, self.num_envs)
        stored = (indices >= 0) & (indices < self.capacity)
        stored[stored] &= rows[stored] < self._size[envs[stored]]
        if not stored.all():
            raise ValueError(
                f"update_priorities: indices {indices[~stored][:5].tolist()} are not stored transitions; "
                "pass the 'indices' of a batch from sample()"
            )
        if not np.all(np.isfinite(priorities)):
            raise ValueError("update_priorities: TD errors contain NaN or inf; check the loss for divergence")
        self._set_priorities(indices, priorities**self.alpha)
        if priorities.size:
            self._max_priority = max(self._max_priority, float(priorities.max()))

    def get_state(self) -> dict[str, Any]:
        """The :meth:`ReplayBuffer.get_state` state plus priorities (``p ** alpha``) and the max priority."""
        state = super().get_state()
        state["priorities"] = self._sum_tree.leaves[: int(self._size.max()) * self.num_envs].copy()
        state["max_priority"] = self._max_priority
        return state

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`get_state` returned, priorities included.

        Raises:
            ValueError: If the state does not fit this buffer.
        """
        priorities = np.asarray(state["priorities"], dtype=np.float64)
        filled = int(np.max(state["size"])) * int(state["num_envs"])
        if priorities.shape != (filled,):
            raise ValueError(f"replay buffer state has {priorities.shape} priorities, expected ({filled},)")
        super().set_state(state)
        rows, envs = np.divmod(np.arange(filled), self.num_envs)
        self._sum_tree.set_leaves(priorities)
        # Slots a sub-env has not filled yet must not count towards the minimum.
        self._min_tree.set_leaves(np.where(rows < self._size[envs], priorities, np.inf))
        self._max_priority = float(state["max_priority"])

    def _set_priorities(self, indices: np.ndarray, scaled: np.ndarray) -> None:
        self._sum_tree.update(indices, scaled)
        self._min_tree.update(indices, scaled)

    @staticmethod
    def _check_beta(beta: float) -> float:
        if not beta >= 0.0:
            raise ValueError(f"PrioritizedReplayBuffer beta must be >= 0, got {beta!r}")
        return float(beta)
