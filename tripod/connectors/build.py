"""Building connector pipelines from a config setting: RLlib's factory functions, pieces, or data.

``env_to_module_connector`` / ``module_to_env_connector`` accept

* RLlib's factory, ``fn(env, spaces, device)`` (or the older ``fn(env)``) for env-to-module and
  ``fn(env, spaces)`` for module-to-env, returning a piece or a list of pieces;
* a piece, or a list of pieces (each env runner gets deep copies);
* data: ``{"type": "MeanStdFilter", "clip_by_value": 5}`` or a list of such dicts, naming
  tripod's built-in pieces only (what presets, ``--config`` files and checkpoints use).

Data never names code: a ``type`` outside :data:`BUILTIN_PIECES` is refused.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym

from tripod.connectors.common.flatten_observations import FlattenObservations
from tripod.connectors.common.frame_stacking import FrameStackingEnvToModule
from tripod.connectors.connector_v2 import ConnectorPipelineV2, ConnectorV2
from tripod.connectors.env_to_module import EnvToModulePipeline
from tripod.connectors.env_to_module.mean_std_filter import MeanStdFilter
from tripod.connectors.env_to_module.prev_actions_prev_rewards import PrevActionsPrevRewards
from tripod.connectors.env_to_module.rewards import ClipRewards, NormalizeRewards
from tripod.connectors.module_to_env import ModuleToEnvPipeline, NormalizeAndClipActions

__all__ = [
    "BUILTIN_PIECES",
    "build_env_to_module",
    "build_module_to_env",
    "check_setting",
    "setting_as_data",
]

#: The pieces a connector setting given as data may name.
BUILTIN_PIECES: dict[str, type[ConnectorV2]] = {
    cls.__name__: cls
    for cls in (
        MeanStdFilter, FlattenObservations, FrameStackingEnvToModule, PrevActionsPrevRewards,
        ClipRewards, NormalizeRewards, NormalizeAndClipActions,
    )
}  # fmt: skip
BUILTIN_PIECES["FrameStacking"] = FrameStackingEnvToModule


def piece_from_spec(spec: Mapping[str, Any]) -> ConnectorV2:
    """Build one built-in piece from ``{"type": name, **keywords}``."""
    kind = spec.get("type")
    cls = BUILTIN_PIECES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(
            f"Connector {dict(spec)!r}: 'type' must name one of tripod's pieces {sorted(BUILTIN_PIECES)}. "
            "For your own piece, pass the piece (or a factory function) in Python instead of data."
        )
    kwargs = {k: v for k, v in spec.items() if k != "type"}
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ValueError(f"Connector {dict(spec)!r}: {err}") from err


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def check_setting(value: Any) -> str | None:
    """Why ``value`` cannot be a connector setting, or None when it can (data is built once to check it)."""
    if value is None or (callable(value) and not isinstance(value, ConnectorV2 | type)):
        return None
    for item in _items(value):
        if isinstance(item, ConnectorV2):
            continue
        if not isinstance(item, Mapping):
            return (
                f"got {type(item).__name__} {item!r}; use a factory fn(env, spaces, device), a tripod "
                "connector piece, a {'type': ...} dict, or a list of pieces or dicts"
            )
        try:
            piece_from_spec(item)
        except (ValueError, NotImplementedError) as err:
            return str(err)
    return None


def setting_as_data(value: Any) -> Any:
    """The setting as JSON-able data where it can be (built-in pieces); else ``value`` itself."""
    if value is None or (callable(value) and not isinstance(value, ConnectorV2)):
        return value
    items = _items(value)
    specs = [item if isinstance(item, Mapping) else item.to_spec() for item in items]
    if any(spec is None for spec in specs):
        return value
    return [dict(spec) for spec in specs]


def _call_factory(factory: Callable, args: tuple, what: str) -> Any:
    """``factory(*args)``, or with only as many leading arguments as it takes (RLlib's older signatures)."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return factory(*args)
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return factory(*args)
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if not positional:
        raise TypeError(f"{what}: the factory {factory!r} takes no arguments; write fn(env, spaces, ...).")
    return factory(*args[: len(positional)])


def _pieces(setting: Any, factory_args: tuple, what: str) -> list[ConnectorV2]:
    if setting is None:
        return []
    if callable(setting) and not isinstance(setting, ConnectorV2 | type):
        setting = _call_factory(setting, factory_args, what)
        if setting is None:
            return []
    pieces: list[ConnectorV2] = []
    for item in _items(setting):
        if isinstance(item, ConnectorPipelineV2):
            pieces.extend(copy.deepcopy(item.connectors))
        elif isinstance(item, ConnectorV2):
            pieces.append(copy.deepcopy(item))
        elif isinstance(item, Mapping):
            pieces.append(piece_from_spec(item))
        else:
            raise TypeError(
                f"{what} gave {type(item).__name__} {item!r}; expected tripod connector pieces "
                "(tripod.connectors.env_to_module / module_to_env) or {'type': ...} dicts."
            )
    return pieces


def _spaces(obs: gym.Space, act: gym.Space) -> dict[str, tuple[gym.Space, gym.Space]]:
    return {"__env__": (obs, act), "default_policy": (obs, act)}


def build_env_to_module(
    setting: Any,
    env: Any,
    observation_space: gym.Space,
    action_space: gym.Space,
    num_envs: int,
    extra: list[ConnectorV2] | None = None,
) -> EnvToModulePipeline | None:
    """The env-to-module pipeline for one runner (None when there are no pieces).

    Args:
        setting: The config's ``env_to_module_connector``.
        env: The runner's env (handed to a factory), or None where there is none.
        observation_space: The env's single observation space.
        action_space: The env's single action space.
        num_envs: Sub-envs whose per-episode memory the pieces keep.
        extra: Pieces appended after the setting's (``lstm_use_prev_action``'s).
    """
    pieces = _pieces(
        setting, (env, _spaces(observation_space, action_space), None), "env_to_module_connector"
    )
    pieces += list(extra or [])
    if not pieces:
        return None
    pipeline = EnvToModulePipeline(observation_space, action_space, connectors=pieces)
    pipeline.reset(num_envs)
    return pipeline


def build_module_to_env(
    setting: Any,
    env: Any,
    observation_space: gym.Space,
    action_space: gym.Space,
    *,
    normalize_actions: bool,
    clip_actions: bool,
) -> ModuleToEnvPipeline:
    """The module-to-env pipeline: the setting's pieces, then :class:`NormalizeAndClipActions`."""
    pieces = _pieces(setting, (env, _spaces(observation_space, action_space)), "module_to_env_connector")
    pieces.append(NormalizeAndClipActions(normalize_actions=normalize_actions, clip_actions=clip_actions))
    return ModuleToEnvPipeline(observation_space, action_space, connectors=pieces)
