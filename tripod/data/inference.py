"""Actions from a module alone: :func:`compute_actions` (numpy in, numpy out).

For using a trained policy outside the env runners: in a gymnasium loop of your own,
a web service, a test. One observation (shaped like ``module.observation_space``) or
a batch of them (a leading batch dimension) goes in; numpy actions come out, greedy
by default (``forward_inference`` and the mode of the action distribution, as in
tripod's evaluation). Dict/Tuple observations go in as dicts/tuples of arrays; an
action mask in the observation is respected as far as the module's forward respects
it (tripod's default PPO module does). Recurrent (stateful) modules get a time axis
of length 1 and their state threaded through: pass the returned state back in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from tripod.core.columns import Columns
from tripod.core.distribution.action_dist import make_action_dist
from tripod.data.batch import to_torch, tree_map
from tripod.data.space_leaves import describe_space, join_leaves, split_leaves

__all__ = ["compute_actions"]

_ARRAY_SPACES = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)


def compute_actions(
    module: Any,
    obs: Any,
    *,
    explore: bool = False,
    state: Any = None,
    episode_start: Any = None,
    clip_actions: bool = True,
) -> Any:
    """The module's actions for one observation or a batch of observations.

    Args:
        module: A single-agent RLModule (for a MultiRLModule pass ``module[module_id]``).
        obs: One observation shaped like ``module.observation_space`` (no batch dimension),
            or a batch ``[B, ...]``; for Dict/Tuple spaces a dict/tuple of such arrays.
        explore: False (default): ``forward_inference`` and the distribution's deterministic
            action (argmax, mean). True: ``forward_exploration`` and a sampled action.
        state: Stateful modules only: the recurrent state returned by the previous call (one
            sequence's state for a single observation, ``[B, ...]`` leaves for a batch). None:
            ``module.get_initial_state()`` for every row.
        episode_start: Stateful modules only: a bool (single observation) or bools ``[B]``;
            rows where it is True start from the initial state instead of ``state``.
        clip_actions: Clip actions into a ``Box`` action space's bounds (default True).

    Returns:
        The actions as numpy (a scalar or ``action_space.shape`` for a single observation,
        ``[B, ...]`` for a batch); for a stateful module ``(actions, state_out)``, where
        ``state_out`` has the batch shape of ``obs`` as well.

    Raises:
        ValueError: If ``obs`` does not fit the observation space (naming the expected and
            the given shapes), or ``state``/``episode_start`` do not fit the batch.
        TypeError: If ``module`` is a MultiRLModule.
    """
    if not hasattr(module, "observation_space") or isinstance(module, Mapping):
        raise TypeError(
            f"compute_actions() takes a single-agent RLModule, got {type(module).__name__}; for a "
            "MultiRLModule pass module[module_id]."
        )
    node, arrays, single = _batch_obs(module.observation_space, obs)
    batch_obs = obs if node is None else join_leaves(node, arrays)
    size = int(arrays[0].shape[0]) if arrays else int(_numpy(obs).shape[0])
    stateful = module.is_stateful()
    batch: dict[str, Any] = {Columns.OBS: batch_obs}
    if stateful:
        batch[Columns.OBS] = tree_map(lambda x: x[:, None], batch_obs)
        batch[Columns.STATE_IN] = _state_in(module, state, episode_start, size, single)
    device = _device(module)
    with torch.no_grad():
        batch = to_torch(batch, device)
        out = (module.forward_exploration if explore else module.forward_inference)(batch)
        actions = _actions(module, out, explore)
    space = module.action_space
    ndim = len(space.shape) if isinstance(space, _ARRAY_SPACES) else None
    actions = tree_map(lambda x: _squeeze_time(_numpy(x), stateful, ndim), actions)
    if clip_actions and isinstance(space, gym.spaces.Box):
        actions = np.clip(actions, space.low, space.high).astype(space.dtype, copy=False)
    if single:
        actions = tree_map(lambda x: x[0], actions)
    return (actions, _state_out(module, out, single)) if stateful else actions


def _state_out(module: Any, out: Mapping[str, Any], single: bool) -> Any:
    if Columns.STATE_OUT not in out:
        raise ValueError(
            f"{type(module).__name__} is stateful (get_initial_state() is not empty) but its "
            "forward returned no Columns.STATE_OUT."
        )
    return tree_map(lambda x: _numpy(x)[0] if single else _numpy(x), out[Columns.STATE_OUT])


def _batch_obs(space: gym.Space, obs: Any) -> tuple[Any, list[np.ndarray], bool]:
    """``(structure, leaves, single)``: the observation's leaves as ``[B, ...]`` arrays, and
    whether ``obs`` was one observation; ``(None, [], False)`` for spaces tripod cannot take apart
    (``obs`` is then passed on as a batch)."""
    leaves: list[tuple[tuple[int, ...], np.dtype]] = []
    try:
        node = describe_space(space, leaves)
    except TypeError:
        return None, [], False
    arrays = split_leaves(node, obs, "obs")
    singles = []
    for i, (arr, (shape, _)) in enumerate(zip(arrays, leaves, strict=True)):
        if arr.shape == shape:
            singles.append(True)
        elif arr.ndim == len(shape) + 1 and arr.shape[1:] == shape:
            singles.append(False)
        else:
            where = "" if node[0] == "leaf" else f" (leaf {i} of {space})"
            raise ValueError(
                f"observation has shape {arr.shape}{where}; expected {shape} (one observation) or "
                f"({', '.join(['B', *map(str, shape)])}{',' if not shape else ''}) (a batch) for "
                f"observation space {space}."
            )
    if len(set(singles)) > 1 or len({a.shape[0] for a, s in zip(arrays, singles, strict=True) if not s}) > 1:
        raise ValueError(
            f"the observation's parts disagree on the batch size: shapes {[a.shape for a in arrays]} "
            f"for observation space {space}."
        )
    single = singles[0]
    arrays = [np.asarray(a, dtype=dt)[None] if single else np.asarray(a, dtype=dt)
              for a, (_, dt) in zip(arrays, leaves, strict=True)]  # fmt: skip
    return node, arrays, single


def _state_in(module: Any, state: Any, episode_start: Any, size: int, single: bool) -> Any:
    """The ``[B, ...]`` recurrent state of this call: ``state`` or the initial state, reset where
    ``episode_start`` says."""
    initial = tree_map(_numpy, module.get_initial_state())
    if state is None:
        return tree_map(lambda x: np.repeat(x[None], size, axis=0), initial)
    state = tree_map(lambda x: _numpy(x)[None] if single else np.array(_numpy(x)), state)
    for leaf in _leaves(state):
        if leaf.shape[:1] != (size,):
            raise ValueError(
                f"state leaf has shape {leaf.shape[1:] if single else leaf.shape}; expected a leading "
                f"batch dimension of {size} (one row per observation)"
                + (" and no batch dimension for a single observation." if single else ".")
            )
    if episode_start is None:
        return state
    reset = np.asarray(episode_start, dtype=bool).reshape(-1)
    if reset.shape != (size,):
        raise ValueError(f"episode_start has {reset.size} entries; expected {size} (one per observation).")

    def reset_rows(x: np.ndarray, init: np.ndarray) -> np.ndarray:
        x[reset] = init
        return x

    return _zip_map(reset_rows, state, initial)


def _actions(module: Any, out: Mapping[str, Any], explore: bool) -> Any:
    """The module's ``actions`` output, else the mode (or a sample) of its action distribution."""
    actions = out.get(Columns.ACTIONS)
    if actions is not None:
        return actions
    if Columns.ACTION_DIST_INPUTS not in out:
        raise ValueError(
            f"{type(module).__name__}'s forward returned neither Columns.ACTIONS nor "
            f"Columns.ACTION_DIST_INPUTS (got keys {sorted(out)})."
        )
    dist_cls = module.get_exploration_action_dist_cls() if explore else module.get_inference_action_dist_cls()
    dist = make_action_dist(out[Columns.ACTION_DIST_INPUTS], module.action_space, dist_cls=dist_cls)
    return dist.sample() if explore else dist.to_deterministic().sample()


def _device(module: Any) -> torch.device:
    if isinstance(module, torch.nn.Module):
        param = next(module.parameters(), None)
        if param is not None:
            return param.device
    return torch.device("cpu")


def _numpy(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _squeeze_time(x: np.ndarray, stateful: bool, action_ndim: int | None) -> np.ndarray:
    """Drop the length-1 time axis of a stateful module's ``[B, 1, ...]`` actions."""
    if not stateful or x.ndim < 2 or x.shape[1] != 1:
        return x
    return x[:, 0] if action_ndim is None or x.ndim == action_ndim + 2 else x


def _leaves(tree: Any) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    tree_map(out.append, tree)
    return out


def _zip_map(fn: Any, a: Any, b: Any) -> Any:
    if isinstance(a, Mapping):
        return {k: _zip_map(fn, v, b[k]) for k, v in a.items()}
    if isinstance(a, tuple | list):
        return type(a)(_zip_map(fn, x, y) for x, y in zip(a, b, strict=True))
    return fn(a, b)
