"""Preallocated time-major sample buffers and the array maths the env runner does after sampling.

Everything here works on nested structures of numpy arrays (dicts and tuples
mirroring Dict/Tuple spaces) whose leading dimensions are ``[T, N]``: ``T``
vector steps of ``N`` sub-envs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from tripod.data.batch import tree_map

__all__ = [
    "SampleBuffers",
    "alloc_for_space",
    "alloc_like",
    "finished_episodes",
    "first_nonfinite",
    "leaves",
    "tree_write",
]


def alloc_for_space(space: gym.Space, lead: tuple[int, ...]) -> Any:
    """Zeros of shape ``lead + space.shape`` and the space's dtype, nested like Dict/Tuple spaces."""
    if isinstance(space, gym.spaces.Dict):
        return {key: alloc_for_space(sub, lead) for key, sub in space.spaces.items()}
    if isinstance(space, gym.spaces.Tuple):
        return tuple(alloc_for_space(sub, lead) for sub in space.spaces)
    if space.shape is None or space.dtype is None:
        raise ValueError(
            f"Cannot store values of the space {space!r}: tripod supports Box, Discrete, MultiDiscrete, "
            "MultiBinary and Dict/Tuple spaces of these."
        )
    return np.zeros(lead + tuple(space.shape), dtype=space.dtype)


def alloc_like(value: Any, lead: tuple[int, ...]) -> Any:
    """Zeros of shape ``lead + leaf.shape`` for every leaf (numpy array or tensor) of ``value``."""

    def make(x: Any) -> np.ndarray:
        arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        return np.zeros(lead + arr.shape, dtype=arr.dtype)

    return tree_map(make, value)


def leaves(value: Any) -> list[Any]:
    """The leaves of a nested dict/tuple/list structure, in order."""
    if isinstance(value, Mapping):
        return [leaf for sub in value.values() for leaf in leaves(sub)]
    if isinstance(value, tuple | list):
        return [leaf for sub in value for leaf in leaves(sub)]
    return [value]


def tree_write(dst: Any, index: Any, src: Any) -> None:
    """``dst[index] = src`` leaf by leaf (``src`` leaves may be tensors)."""
    if isinstance(dst, np.ndarray):
        dst[index] = src.numpy() if isinstance(src, torch.Tensor) else src
    elif isinstance(dst, Mapping):
        for key, sub in dst.items():
            tree_write(sub, index, src[key])
    else:
        for sub, item in zip(dst, src, strict=True):
            tree_write(sub, index, item)


def _row_tensors(tree: Any, num_rows: int, time_axis: bool) -> list[Any]:
    """Per row ``t``, the tensors sharing memory with ``tree[t]`` (``[N, 1, ...]`` with ``time_axis``)."""
    if time_axis:
        return [tree_map(lambda x, t=t: torch.from_numpy(x[t][:, None]), tree) for t in range(num_rows)]
    return [tree_map(lambda x, t=t: torch.from_numpy(x[t]), tree) for t in range(num_rows)]


class SampleBuffers:
    """Arrays for ``T`` vector steps of ``N`` sub-envs, allocated once and reused.

    ``obs`` (and ``state``) have ``T + 1`` rows: row ``t + 1`` receives what the
    env (module) returns at step ``t``, so row ``T`` holds the observation after
    the last step. ``obs_rows[t]`` / ``state_rows[t]`` are torch views of row
    ``t`` that are fed to the module without copying. Module output columns
    (``action_logp``, ``vf_preds``, ...) are allocated on first use by
    :meth:`column`.

    Args:
        num_steps, num_envs: ``T`` and ``N``.
        observation_space, action_space: The single (per sub-env) spaces.
        initial_state: The module's unbatched initial state (``{}`` if stateless).
    """

    def __init__(
        self,
        num_steps: int,
        num_envs: int,
        observation_space: gym.Space,
        action_space: gym.Space,
        *,
        initial_state: Any = None,
    ) -> None:
        T, N = num_steps, num_envs
        self.num_steps, self.num_envs = T, N
        stateful = bool(initial_state)
        self.obs = alloc_for_space(observation_space, (T + 1, N))
        self.obs_rows = _row_tensors(self.obs, T + 1, time_axis=stateful)
        self.array_obs = isinstance(self.obs, np.ndarray)
        self.actions = alloc_for_space(action_space, (T, N))
        self.env_actions = alloc_for_space(action_space, (N,))
        self.rewards = np.zeros((T, N), dtype=np.float32)
        self.terminateds = np.zeros((T, N), dtype=bool)
        self.truncateds = np.zeros((T, N), dtype=bool)
        self.columns: dict[str, np.ndarray] = {}
        self.logp_from_logits = np.zeros(T, dtype=bool)
        self.initial_state = None
        self.state = None
        self.state_rows: list[Any] = []
        if stateful:
            self.initial_state = tree_map(
                lambda x: x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x),
                initial_state,
            )
            self.state = alloc_like(self.initial_state, (T + 1, N))
            self.state_rows = _row_tensors(self.state, T + 1, time_axis=False)
            self.reset_state(0, np.ones(N, dtype=bool))

    def obs_row(self, t: int) -> Any:
        """``obs_rows[t]`` for one forward; dict observations come in fresh containers, since a
        module may pop entries from its input (RLlib's action-masking example does)."""
        row = self.obs_rows[t]
        return tree_map(lambda x: x, row) if isinstance(row, Mapping) else row

    def column(self, name: str, value: np.ndarray) -> np.ndarray:
        """The ``[T, N, ...]`` array of column ``name``, allocated like ``value`` (``[N, ...]``) on first use."""
        arr = self.columns.get(name)
        if arr is None:
            arr = self.columns[name] = np.zeros((self.num_steps, *value.shape), dtype=value.dtype)
        return arr

    def start_round(self, obs: Any, state: Any = None) -> None:
        """Put the current observations (and recurrent state; ``None``: initial) into row 0."""
        self.new_round()
        tree_write(self.obs, 0, obs)
        if self.state is not None and state is not None:
            tree_write(self.state, 0, state)
        elif self.state is not None:
            self.reset_state(0, np.ones(self.num_envs, dtype=bool))

    def new_round(self) -> None:
        """Forget the per-round logp flags before the buffers are filled again."""
        self.logp_from_logits[:] = False

    def reset_state(self, row: int, mask: np.ndarray) -> None:
        """Set the recurrent state of the sub-envs in ``mask`` at ``row`` to the initial state."""
        if self.state is None:
            return
        _reset_leaves(self.state, self.initial_state, row, mask)


def _reset_leaves(buf: Any, init: Any, row: int, mask: np.ndarray) -> None:
    if isinstance(buf, np.ndarray):
        buf[row, mask] = init
    elif isinstance(buf, Mapping):
        for key, sub in buf.items():
            _reset_leaves(sub, init[key], row, mask)
    else:
        for sub, item in zip(buf, init, strict=True):
            _reset_leaves(sub, item, row, mask)


def finished_episodes(
    rewards: np.ndarray,
    dones: np.ndarray,
    steps: np.ndarray,
    counted: np.ndarray,
    carry_return: np.ndarray,
    carry_len: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Returns and lengths of the episodes that end in a ``[T, N]`` fragment.

    Args:
        rewards: ``[T, N]`` rewards.
        dones: ``[T, N]`` bool, an episode ends after row ``t``.
        steps: ``[T, N]`` bool, row ``t`` is a real env step (counts in the length).
        counted: ``[T, N]`` bool, read at done rows: whether that episode is reported
            (``False`` for episodes cut short by an env restart).
        carry_return, carry_len: ``[N]`` return and length of each sub-env's running
            episode before row 0; updated in place to the values after row ``T - 1``.

    Returns:
        ``(returns float64, lengths int64)`` of the reported episodes, in order of completion.
    """
    num_envs = rewards.shape[1]
    if not dones.any():  # the common case for short fragments
        carry_return += rewards.sum(axis=0, dtype=np.float64)
        carry_len += steps.sum(axis=0, dtype=np.int64)
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    cum_r = np.cumsum(rewards, axis=0, dtype=np.float64)
    cum_l = np.cumsum(steps, axis=0, dtype=np.int64)
    env_idx, t_idx = np.nonzero(dones.T)  # grouped by env, in time order within each env
    first = np.ones(env_idx.size, dtype=bool)
    first[1:] = env_idx[1:] != env_idx[:-1]
    prev_t = np.zeros_like(t_idx)
    prev_t[1:] = t_idx[:-1]
    returns = cum_r[t_idx, env_idx] - np.where(first, -carry_return[env_idx], cum_r[prev_t, env_idx])
    lengths = cum_l[t_idx, env_idx] - np.where(first, -carry_len[env_idx], cum_l[prev_t, env_idx])

    last = np.full(num_envs, -1, dtype=np.int64)
    np.maximum.at(last, env_idx, t_idx)
    cols = np.arange(num_envs)
    ended = last >= 0
    safe_last = np.maximum(last, 0)
    carry_return[:] = np.where(ended, cum_r[-1] - cum_r[safe_last, cols], carry_return + cum_r[-1])
    carry_len[:] = np.where(ended, cum_l[-1] - cum_l[safe_last, cols], carry_len + cum_l[-1])

    keep = counted[t_idx, env_idx]
    order = np.lexsort((env_idx[keep], t_idx[keep]))
    return returns[keep][order], lengths[keep][order]


def first_nonfinite(tree: Any) -> tuple[int, int] | None:
    """``(t, n)`` of the first entry (in time order) of ``[T, N, ...]`` float leaves that is NaN or inf."""
    found = None
    for leaf in leaves(tree):
        if not (isinstance(leaf, np.ndarray) and np.issubdtype(leaf.dtype, np.floating)):
            continue
        if np.isfinite(leaf).all():
            continue
        bad = ~np.isfinite(leaf.reshape(leaf.shape[0], leaf.shape[1], -1)).all(axis=-1)
        t, n = (int(i) for i in np.argwhere(bad)[0])
        if found is None or (t, n) < found:
            found = (t, n)
    return found
