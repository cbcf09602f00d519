"""FlattenObservations: any (nested) observation as one flat float32 vector (RLlib's name)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from tripod.connectors.connector_v2 import ConnectorV2, StepInfo

__all__ = ["FlattenObservations"]

_SUPPORTED = "Box, Discrete, MultiDiscrete, MultiBinary, and Dict/Tuple nesting them"


def _flat_size(space: gym.Space) -> int:
    if isinstance(space, gym.spaces.Box):
        return int(np.prod(space.shape))
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return int(np.sum(space.nvec))
    if isinstance(space, gym.spaces.MultiBinary):
        return int(np.prod(space.shape))
    if isinstance(space, gym.spaces.Dict):
        return sum(_flat_size(s) for s in space.spaces.values())
    if isinstance(space, gym.spaces.Tuple):
        return sum(_flat_size(s) for s in space.spaces)
    raise ValueError(f"FlattenObservations cannot flatten {space!r}; supported: {_SUPPORTED}.")


def _one_hot(values: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((len(values), n), dtype=np.float32)
    out[np.arange(len(values)), values] = 1.0
    return out


def _flatten(space: gym.Space, value: Any, parts: list[np.ndarray], rows: int) -> None:
    """Append the ``[rows, k]`` float32 pieces of batched ``value`` to ``parts``."""
    if isinstance(space, gym.spaces.Dict):
        for key, sub in space.spaces.items():
            _flatten(sub, value[key], parts, rows)
    elif isinstance(space, gym.spaces.Tuple):
        for sub, v in zip(space.spaces, value):
            _flatten(sub, v, parts, rows)
    elif isinstance(space, gym.spaces.Discrete):
        parts.append(
            _one_hot(np.asarray(value, dtype=np.int64).reshape(rows) - int(space.start), int(space.n))
        )
    elif isinstance(space, gym.spaces.MultiDiscrete):
        v = np.asarray(value, dtype=np.int64).reshape(rows, -1) - np.asarray(space.start).reshape(-1)
        for i, n in enumerate(np.asarray(space.nvec).reshape(-1)):
            parts.append(_one_hot(v[:, i], int(n)))
    else:
        parts.append(np.asarray(value, dtype=np.float32).reshape(rows, -1))


class FlattenObservations(ConnectorV2):
    """Observations of any supported space as flat float32 vectors ``[N, D]``.

    Box leaves are flattened, Discrete and MultiDiscrete leaves one-hot encoded,
    MultiBinary leaves cast; Dict (in the space's key order) and Tuple leaves are
    concatenated. Put it before :class:`~tripod.connectors.env_to_module.MeanStdFilter` for
    Dict observations.

    Args:
        multi_agent: RLlib's flag for multi-agent pipelines; accepted and not needed (the
            multi-agent env runner gives every module its own copy of the pipeline).
    """

    def __init__(
        self,
        input_observation_space: gym.Space | None = None,
        input_action_space: gym.Space | None = None,
        *,
        multi_agent: bool = False,
        **kwargs: Any,
    ) -> None:
        del multi_agent  # RLlib's flag: every module gets its own copy of the pipeline either way
        super().__init__(input_observation_space, input_action_space, **kwargs)

    def recompute_output_observation_space(
        self, input_observation_space: Any, input_action_space: Any
    ) -> Any:
        size = _flat_size(input_observation_space)
        return gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)

    def __call__(self, data: Any, info: StepInfo) -> np.ndarray:
        rows = len(info.starts)
        parts: list[np.ndarray] = []
        _flatten(self.input_observation_space, data, parts, rows)
        return np.concatenate(parts, axis=1)  # a new array, even for one part

    def to_spec(self) -> dict[str, Any]:
        return {"type": "FlattenObservations"}
