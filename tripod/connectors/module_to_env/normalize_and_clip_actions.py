"""NormalizeAndClipActions: the module's actions mapped into the env's Box bounds (RLlib's name)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from tripod.connectors.connector_v2 import ConnectorV2, StepInfo

__all__ = ["NormalizeAndClipActions"]


class NormalizeAndClipActions(ConnectorV2):
    """Unsquash and/or clip Box actions before they go to the env (the batch keeps the module's).

    Every env runner ends its module-to-env pipeline with this piece, set by the config's
    ``normalize_actions`` and ``clip_actions`` (``.environment()``).

    Args:
        normalize_actions: Map actions from ``[-1, 1]`` to ``[low, high]`` (for modules
            whose outputs are normalised; bounded Box spaces only).
        clip_actions: Clip actions to ``[low, high]``.
    """

    def __init__(
        self,
        input_observation_space: gym.Space | None = None,
        input_action_space: gym.Space | None = None,
        *,
        normalize_actions: bool,
        clip_actions: bool,
        **kwargs: Any,
    ) -> None:
        self.normalize_actions, self.clip_actions = bool(normalize_actions), bool(clip_actions)
        super().__init__(input_observation_space, input_action_space, **kwargs)

    @property
    def active(self) -> bool:
        """Whether the piece changes anything for its action space (a bounded Box)."""
        space = self.input_action_space
        bounded = isinstance(space, gym.spaces.Box) and space.is_bounded("both")
        return bounded and (self.normalize_actions or self.clip_actions)

    @property
    def clips_only(self) -> bool:
        """Only clipping (the env runner then clips in place, with no extra array)."""
        return self.active and self.clip_actions and not self.normalize_actions

    def __call__(self, data: Any, info: StepInfo) -> Any:
        if not self.active:
            return data
        space = self.input_action_space
        out = np.asarray(data, dtype=space.dtype)
        if self.normalize_actions:
            out = space.low + (out + 1.0) * ((space.high - space.low) / 2.0)
        if self.clip_actions:
            out = np.clip(out, space.low, space.high)
        return out.astype(space.dtype, copy=False)

    def to_spec(self) -> dict[str, Any]:
        return {"type": "NormalizeAndClipActions", "normalize_actions": self.normalize_actions,
                "clip_actions": self.clip_actions}  # fmt: skip
