"""Training-reward pieces: clipping and scaling by the running std of the discounted return.

They change the rewards the learner trains on, never the returns that are reported
(``episode_return_mean`` and evaluation stay in the env's units).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tripod.connectors.connector_v2 import ConnectorV2
from tripod.connectors.running_stats import SyncedStats

__all__ = ["ClipRewards", "NormalizeRewards"]


class ClipRewards(ConnectorV2):
    """Training rewards clipped to ``[-limit, limit]``, or replaced by their sign (``sign=True``, Atari's habit).

    Args:
        limit: The clip bound (> 0); ignored with ``sign``.
        sign: Use ``sign(reward)`` (-1, 0 or 1).
    """

    def __init__(self, input_observation_space: Any = None, input_action_space: Any = None, *,
                 limit: float = 1.0, sign: bool = False, **kwargs: Any) -> None:  # fmt: skip
        if not sign and not (isinstance(limit, int | float) and not isinstance(limit, bool) and limit > 0):
            raise ValueError(f"ClipRewards(limit={limit!r}): use a positive number (or sign=True).")
        self.limit, self.sign = float(limit), bool(sign)
        super().__init__(input_observation_space, input_action_space, **kwargs)

    def process_rewards(
        self, rewards: np.ndarray, dones: np.ndarray, mask: np.ndarray, update: bool
    ) -> np.ndarray:
        if self.sign:
            return np.sign(rewards).astype(np.float32)
        return np.clip(rewards, -self.limit, self.limit).astype(np.float32)

    def to_spec(self) -> dict[str, Any]:
        return {"type": "ClipRewards", "limit": self.limit, "sign": self.sign}


class NormalizeRewards(ConnectorV2):
    """Training rewards divided by the running std of each sub-env's discounted return (SB3's ``VecNormalize``).

    The running return ``R = gamma * R + r`` restarts at every episode end; its variance is
    learnt from every sampled round (merged across env runners, saved in checkpoints) and
    the round's rewards are divided by ``sqrt(var + epsilon)`` and clipped.

    Args:
        gamma: Discount of the running return (use the algorithm's).
        clip_by_value: Clip the scaled rewards to ``[-v, v]`` (``None``: no clipping).
        update_stats: Learn the variance (``False``: keep the loaded one).
        epsilon: Added to the variance before the square root.
    """

    per_episode_memory = False  # the running return is per sub-env, but the observations are untouched

    def __init__(self, input_observation_space: Any = None, input_action_space: Any = None, *,
                 gamma: float = 0.99, clip_by_value: float | None = 10.0, update_stats: bool = True,
                 epsilon: float = 1e-8, **kwargs: Any) -> None:  # fmt: skip
        if not (isinstance(gamma, int | float) and 0.0 <= gamma <= 1.0):
            raise ValueError(f"NormalizeRewards(gamma={gamma!r}): use a number in [0, 1].")
        self.gamma = float(gamma)
        self.clip_by_value = None if clip_by_value is None else float(clip_by_value)
        self.update_stats, self.epsilon = bool(update_stats), float(epsilon)
        self._stats = SyncedStats((), "NormalizeRewards")
        self._returns: np.ndarray | None = None
        super().__init__(input_observation_space, input_action_space, **kwargs)

    def reset(self, num_envs: int) -> None:
        self._returns = np.zeros(num_envs)

    def process_rewards(
        self, rewards: np.ndarray, dones: np.ndarray, mask: np.ndarray, update: bool
    ) -> np.ndarray:
        T, N = rewards.shape
        if self._returns is None or len(self._returns) != N:
            self.reset(N)
        running = self._returns
        seen = np.zeros((T, N))
        for t in range(T):
            running = running * self.gamma + np.where(mask[t], rewards[t], 0.0)
            seen[t] = running
            running = np.where(dones[t], 0.0, running)
        self._returns = running
        if update and self.update_stats:
            self._stats.add(seen[mask])
        total = self._stats.total()
        scale = np.sqrt(total.var + self.epsilon) if total.count >= 2 else 1.0
        out = (rewards / scale).astype(np.float32)
        if self.clip_by_value is not None:
            np.clip(out, -self.clip_by_value, self.clip_by_value, out=out)
        return out

    @property
    def return_std(self) -> float:
        """The running std of the discounted return the rewards are divided by."""
        return float(np.sqrt(self._stats.total().var + self.epsilon))

    def get_state(self) -> dict[str, Any]:
        return self._stats.get_state()

    def set_state(self, state: Mapping[str, Any]) -> None:
        self._stats.set_state(state)

    def merge_states(self, states: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return self._stats.merge_states(list(states))

    def to_spec(self) -> dict[str, Any]:
        return {"type": "NormalizeRewards", "gamma": self.gamma, "clip_by_value": self.clip_by_value,
                "update_stats": self.update_stats, "epsilon": self.epsilon}  # fmt: skip
