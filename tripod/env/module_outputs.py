"""Turning what a module's forward returns into actions, log-probabilities and the other columns.

A module may return ``actions`` (numpy or tensor), ``action_dist_inputs`` (a
logits tensor or a ``torch.distributions.Distribution``), or both, plus
``action_logp``, ``vf_preds`` and ``state_out``. The runner builds one
:class:`OutputPlan` per output structure (set of keys) it meets, validates that
first output, and then reuses the plan every step, so the per-step cost is a
handful of numpy calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import distributions as td

from tripod.core.columns import Columns
from tripod.core.distribution.torch.torch_distribution import TorchCategorical
from tripod.core.rl_module.validation import ModuleOutputError, check_module_output
from tripod.env.action_sampler import ActionSampler
from tripod.env.buffers import SampleBuffers, tree_write

__all__ = ["OutputPlan", "squeeze_time_outputs"]

_ACTIONS, _FAST_CATEGORICAL, _DISTRIBUTION = "actions", "fast_categorical", "distribution"
_NESTED = (gym.spaces.Dict, gym.spaces.Tuple)


def _squeeze_time(value: Any, tail_ndim: int) -> Any:
    """Drop the time axis of ``[N, 1, ...]`` outputs of a stateful module."""
    if isinstance(value, torch.Tensor | np.ndarray) and value.ndim == tail_ndim + 2 and value.shape[1] == 1:
        return value[:, 0]
    return value


def squeeze_time_outputs(output: Mapping[str, Any], action_space: Any) -> dict[str, Any]:
    """A stateful module's one-step output without its time axis and ``state_out``.

    ``actions``, ``action_dist_inputs`` (tensors), ``action_logp`` and ``vf_preds``
    shaped ``[N, 1, ...]`` become ``[N, ...]``; other entries are kept as they are.
    """
    tails = {
        Columns.ACTIONS: len(getattr(action_space, "shape", None) or ()),
        Columns.ACTION_DIST_INPUTS: 1,
        Columns.ACTION_LOGP: 0,
        Columns.VF_PREDS: 0,
    }
    return {
        k: _squeeze_time(v, tails[k]) if k in tails else v
        for k, v in output.items()
        if k != Columns.STATE_OUT
    }


class OutputPlan:
    """How to read one output structure of a module; validated once when built.

    Args:
        module: The module (for its action distribution classes and error messages).
        output: The first output with this structure.
        explore: Whether the output came from ``forward_exploration`` (sample) or
            ``forward_inference`` (greedy).
        num_envs: Rows per forward call.
        action_space: The single-env action space.
        stateful: Whether the module carries a recurrent state (outputs then may
            have a time axis of length 1, which is dropped).
        clip_actions: Clip Box actions to the space's bounds before they go to the env.
        sampler: Draws the actions and their log-probabilities from ``action_dist_inputs``
            (the runner's :class:`~tripod.env.action_sampler.ActionSampler`).
        validate: Check ``output`` with the module output validator (shapes, dtypes,
            NaN, action ranges) before trusting the structure.

    Attributes:
        columns: The batch columns (besides obs/actions) that :meth:`apply` fills.
    """

    def __init__(
        self,
        module: Any,
        output: Any,
        *,
        explore: bool,
        num_envs: int,
        action_space: gym.Space,
        stateful: bool,
        clip_actions: bool,
        sampler: ActionSampler,
        validate: bool = True,
    ) -> None:
        self.sampler = sampler
        self.method = "forward_exploration" if explore else "forward_inference"
        self.explore, self.num_envs, self.stateful = explore, num_envs, stateful
        self.space = action_space
        self.nested = isinstance(action_space, _NESTED)
        self.action_ndim = 0 if self.nested else len(action_space.shape)
        if validate or not isinstance(output, Mapping):
            self._validate(module, output)

        dist_in = output.get(Columns.ACTION_DIST_INPUTS)
        self.logits_tensor = isinstance(dist_in, torch.Tensor)
        self.torch_categorical = type(dist_in) is td.Categorical
        self.dist_cls = None
        if self.logits_tensor:
            getter = (
                module.get_exploration_action_dist_cls if explore else module.get_inference_action_dist_cls
            )
            self.dist_cls = getter()
        on_cpu = not isinstance(dist_in, torch.Tensor) or dist_in.device.type == "cpu"
        discrete = isinstance(action_space, gym.spaces.Discrete)
        if Columns.ACTIONS in output:
            self.kind = _ACTIONS
        elif discrete and on_cpu and (self.torch_categorical or self.dist_cls is TorchCategorical):
            self.kind = _FAST_CATEGORICAL
        else:
            self.kind = _DISTRIBUTION
        self.has_logp = Columns.ACTION_LOGP in output
        self.logp_from_dist = not self.has_logp and explore and dist_in is not None
        self.has_vf = Columns.VF_PREDS in output
        self.offset = self._action_offset() if self.kind != _ACTIONS else None
        self.clip = (
            clip_actions and isinstance(action_space, gym.spaces.Box) and action_space.is_bounded("both")
        )
        columns = set()
        if self.has_logp or self.logp_from_dist:
            columns.add(Columns.ACTION_LOGP)
        if self.logits_tensor or (self.kind == _FAST_CATEGORICAL and self.torch_categorical):
            columns.add(Columns.ACTION_DIST_INPUTS)
        if self.has_vf:
            columns.add(Columns.VF_PREDS)
        self.columns = frozenset(columns)

    # ---------------------------------------------------------------- checking
    def _validate(self, module: Any, output: Any) -> None:
        if isinstance(output, Mapping) and self.stateful:
            tails = {
                Columns.ACTIONS: self.action_ndim,
                Columns.ACTION_DIST_INPUTS: 1,
                Columns.ACTION_LOGP: 0,
                Columns.VF_PREDS: 0,
            }
            output = {k: _squeeze_time(v, tails[k]) if k in tails else v for k, v in output.items()}
        where = f"{type(module).__name__}.{self.method}()"
        if self.nested and isinstance(output, Mapping):
            if Columns.ACTIONS not in output:
                raise ModuleOutputError(
                    f"{where} returned no '{Columns.ACTIONS}' for the {type(self.space).__name__} action "
                    f"space {self.space}. tripod has no action distribution for Dict/Tuple action spaces: "
                    "return the actions themselves, a dict/tuple of arrays with one row per observation."
                )
            self._check_nested_actions(where, output[Columns.ACTIONS])
            rest = {k: v for k, v in output.items() if k != Columns.ACTIONS}
            check_module_output(
                module,
                self.method,
                rest,
                batch_size=self.num_envs,
                action_space=self.space,
                require_action=False,
            )
        else:
            check_module_output(
                module, self.method, output, batch_size=self.num_envs, action_space=self.space
            )
        if self.stateful and Columns.STATE_OUT not in output:
            raise ModuleOutputError(
                f"{where} returned keys {sorted(output)} without '{Columns.STATE_OUT}', but the module is "
                "stateful (get_initial_state() is not empty). Return the next recurrent state under "
                "Columns.STATE_OUT, shaped like the batch's Columns.STATE_IN."
            )

    def _check_nested_actions(self, where: str, actions: Any) -> None:
        try:
            first = _nested_row(actions, 0)
            ok = self.space.contains(first)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ModuleOutputError(
                f"{where} returned actions that do not match the action space {self.space}: {exc!r}. Return "
                f"a structure like the space with arrays of {self.num_envs} rows."
            ) from None
        if not ok:
            raise ModuleOutputError(
                f"{where} returned actions whose first row {first} is not in the action space {self.space}."
            )

    def _action_offset(self) -> np.ndarray | None:
        start = getattr(self.space, "start", None)
        if start is None or not np.any(start):
            return None
        return np.asarray(start, dtype=self.space.dtype)

    # ---------------------------------------------------------------- per step
    def _rows(self, value: Any, tail_ndim: int) -> np.ndarray:
        """``value`` as a numpy array ``[N, ...]``."""
        if type(value) is torch.Tensor:
            try:
                arr = value.numpy()  # the common case: a CPU tensor without grad
            except (RuntimeError, TypeError):
                arr = value.detach().cpu().numpy()
        elif isinstance(value, torch.Tensor):
            arr = value.detach().cpu().numpy()
        else:
            arr = np.asarray(value)
        if self.stateful and arr.ndim == tail_ndim + 2:
            arr = arr.reshape((self.num_envs, *arr.shape[2:]))
        elif arr.ndim == tail_ndim:
            arr = arr.reshape((1, *arr.shape))  # one env: a single unbatched action
        return arr

    def apply(self, output: Mapping[str, Any], t: int, bufs: SampleBuffers) -> Any:
        """Write row ``t`` of the batch from ``output``; returns the actions to send to the env."""
        kind = self.kind
        if kind == _FAST_CATEGORICAL:
            dist_in = output[Columns.ACTION_DIST_INPUTS]
            logits = self._rows(dist_in if self.logits_tensor else dist_in.logits, 1)
            column = bufs.columns.get(Columns.ACTION_DIST_INPUTS)
            if column is None:
                column = bufs.column(Columns.ACTION_DIST_INPUTS, logits)
            column[t] = logits
            acts = self.sampler.sample_categorical(logits, self.explore, out=bufs.actions[t])
            if self.explore:
                bufs.logp_from_logits[t] = True  # computed for the whole round by the runner
        elif kind == _DISTRIBUTION:
            acts = self._sample(output, t, bufs)
        else:
            acts = self._given_actions(output, t, bufs)
        if self.has_vf:
            values = self._rows(output[Columns.VF_PREDS], 0)
            bufs.column(Columns.VF_PREDS, values)[t] = values
        if self.stateful:
            tree_write(bufs.state, t + 1, output[Columns.STATE_OUT])
        if self.nested:
            return _nested_row(bufs.actions, t)
        if self.offset is not None:
            return np.add(acts, self.offset, out=bufs.env_actions)
        if self.clip:
            return np.clip(acts, self.space.low, self.space.high, out=bufs.env_actions)
        return acts

    def _dist_inputs(self, output: Mapping[str, Any]) -> Any:
        dist_in = output[Columns.ACTION_DIST_INPUTS]
        if self.stateful and isinstance(dist_in, torch.Tensor):
            dist_in = _squeeze_time(dist_in, 1)
        return dist_in

    def _sample(self, output: Mapping[str, Any], t: int, bufs: SampleBuffers) -> np.ndarray:
        actions, logp = self.sampler.sample(self._dist_inputs(output), self.explore, dist_cls=self.dist_cls)
        bufs.actions[t] = self._rows(actions, self.action_ndim)
        if self.has_logp:
            logp = output[Columns.ACTION_LOGP]
        if logp is not None:
            logp = self._rows(logp, 0)
            bufs.column(Columns.ACTION_LOGP, logp)[t] = logp
        if self.logits_tensor:
            logits = self._rows(output[Columns.ACTION_DIST_INPUTS], 1)
            bufs.column(Columns.ACTION_DIST_INPUTS, logits)[t] = logits
        return bufs.actions[t]

    def _given_actions(self, output: Mapping[str, Any], t: int, bufs: SampleBuffers) -> Any:
        actions = output[Columns.ACTIONS]
        if self.nested:
            tree_write(bufs.actions, t, _squeeze_nested(actions, self.stateful))
            acts = None
        else:
            acts = self._rows(actions, self.action_ndim)
            bufs.actions[t] = acts
            acts = bufs.actions[t]
        dist_in = output.get(Columns.ACTION_DIST_INPUTS)
        if self.has_logp:
            logp = self._rows(output[Columns.ACTION_LOGP], 0)
        elif self.logp_from_dist and not self.nested:
            logp = self._rows(self.sampler.logp(self._dist_inputs(output), acts, dist_cls=self.dist_cls), 0)
        else:
            logp = None
        if logp is not None:
            bufs.column(Columns.ACTION_LOGP, logp)[t] = logp
        if self.logits_tensor:
            logits = self._rows(dist_in, 1)
            bufs.column(Columns.ACTION_DIST_INPUTS, logits)[t] = logits
        return acts


def _nested_row(tree: Any, index: int) -> Any:
    """Row ``index`` of every leaf of a nested action structure (numpy leaves)."""
    if isinstance(tree, Mapping):
        return {k: _nested_row(v, index) for k, v in tree.items()}
    if isinstance(tree, tuple | list):
        return tuple(_nested_row(v, index) for v in tree)
    if isinstance(tree, torch.Tensor):
        tree = tree.detach().cpu().numpy()
    return np.asarray(tree)[index]


def _squeeze_nested(tree: Any, stateful: bool) -> Any:
    if not stateful:
        return tree
    if isinstance(tree, Mapping):
        return {k: _squeeze_nested(v, stateful) for k, v in tree.items()}
    if isinstance(tree, tuple | list):
        return tuple(_squeeze_nested(v, stateful) for v in tree)
    return tree[:, 0] if getattr(tree, "ndim", 0) >= 2 and tree.shape[1] == 1 else tree
