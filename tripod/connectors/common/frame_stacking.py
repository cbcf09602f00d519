"""Frame stacking: each observation with the ``num_frames - 1`` before it (RLlib's ``FrameStackingEnvToModule``)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from tripod.connectors.connector_v2 import ConnectorV2, StepInfo, grow_rows

__all__ = ["FrameStackingEnvToModule"]


class FrameStackingEnvToModule(ConnectorV2):
    """Stack the last ``num_frames`` observations of each sub-env along the last axis.

    A Box observation of shape ``(H, W, C)`` becomes ``(H, W, C * num_frames)`` (oldest
    frame first, as RLlib stacks), ``(H, W)`` becomes ``(H, W, num_frames)``, ``(D,)``
    becomes ``(D * num_frames,)``; the dtype is kept (uint8 frames stay uint8). At an
    episode's first observation the stack is filled with copies of it. In a multi-agent
    runner each agent (of each env copy) has its own stack (``StepInfo.rows``).

    Args:
        num_frames: How many observations make one stacked observation (>= 1).
        multi_agent: RLlib's flag for multi-agent pipelines; accepted and not needed (the
            multi-agent env runner gives every module its own copy, with a stack per agent).
    """

    per_episode_memory = True
    memory_by_rows = True

    def __init__(
        self,
        input_observation_space: gym.Space | None = None,
        input_action_space: gym.Space | None = None,
        *,
        num_frames: int = 1,
        multi_agent: bool = False,
        **kwargs: Any,
    ) -> None:
        del multi_agent  # RLlib's flag: every module gets its own copy of the pipeline either way
        if isinstance(num_frames, bool) or not isinstance(num_frames, int | np.integer) or num_frames < 1:
            raise ValueError(f"FrameStackingEnvToModule(num_frames={num_frames!r}): use an int >= 1.")
        self.num_frames = int(num_frames)
        self._stack: np.ndarray | None = None
        super().__init__(input_observation_space, input_action_space, **kwargs)

    def recompute_output_observation_space(
        self, input_observation_space: Any, input_action_space: Any
    ) -> Any:
        space = input_observation_space
        if not isinstance(space, gym.spaces.Box) or not space.shape:
            raise ValueError(
                f"FrameStackingEnvToModule stacks Box observations with at least one axis, got {space}."
            )
        self._add_axis = len(space.shape) == 2  # a grayscale image gets a channel axis
        low, high = (
            (space.low[..., None], space.high[..., None]) if self._add_axis else (space.low, space.high)
        )
        self._channels = low.shape[-1]
        k = self.num_frames
        return gym.spaces.Box(
            np.concatenate([low] * k, axis=-1), np.concatenate([high] * k, axis=-1), dtype=space.dtype
        )

    def reset(self, num_envs: int) -> None:
        shape = self.observation_space.shape
        self._stack = np.zeros((num_envs, *shape), dtype=self.observation_space.dtype)

    def _frames(self, data: np.ndarray) -> np.ndarray:
        return data[..., None] if self._add_axis else data

    def __call__(self, data: np.ndarray, info: StepInfo) -> np.ndarray:
        if info.rows is not None:
            return self._call_rows(self._frames(np.asarray(data)), info)
        frames, stack, c = self._frames(np.asarray(data)), self._stack, self._channels
        if stack is None or len(stack) != len(frames):
            self.reset(len(frames))
            stack = self._stack
            starts = np.ones(len(frames), dtype=bool)
        else:
            starts = info.starts
        if c * self.num_frames > c:
            stack[..., :-c] = stack[..., c:]
        stack[..., -c:] = frames
        if starts.any():
            stack[starts] = np.concatenate([frames[starts]] * self.num_frames, axis=-1)
        return stack.copy()

    def _call_rows(self, frames: np.ndarray, info: StepInfo) -> np.ndarray:
        """Data row ``i`` steps memory row ``info.rows[i]`` (agent streams; memory grows as needed)."""
        rows, c = info.rows, self._channels
        need = int(rows.max()) + 1 if len(rows) else 0
        space = self.observation_space
        self._stack = grow_rows(self._stack, need, space.shape, space.dtype)
        stack = self._stack[rows]  # a copy (fancy indexing)
        if c * self.num_frames > c:
            stack[..., :-c] = stack[..., c:]
        stack[..., -c:] = frames
        starts = info.starts
        if starts.any():
            stack[starts] = np.concatenate([frames[starts]] * self.num_frames, axis=-1)
        self._stack[rows] = stack
        return stack

    def peek(self, data: np.ndarray, index: int, info: StepInfo) -> np.ndarray:
        frames, c = self._frames(np.asarray(data)), self._channels
        if self._stack is None or info.starts[0]:
            return np.concatenate([frames] * self.num_frames, axis=-1)
        row = self._stack[index : index + 1]
        return np.concatenate([row[..., c:], frames.astype(row.dtype)], axis=-1)

    def to_spec(self) -> dict[str, Any]:
        return {"type": "FrameStackingEnvToModule", "num_frames": self.num_frames}
