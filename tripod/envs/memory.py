"""Memory tasks for recurrent modules: a cue to remember, and CartPole without velocities."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["MemoryCueEnv", "StatelessCartPole"]


class MemoryCueEnv(gym.Env):
    """Remember a cue shown at the first step and name it ``delay`` steps later.

    Observations are ``Box(3)``: ``[cue == 0, cue == 1, query]``. The first step shows
    the cue (one of two, drawn uniformly at reset), the next ``delay`` steps show
    zeros, the last step shows only the query flag. The action at the query step
    earns +1 when it names the cue and -1 otherwise; every other step earns 0, so an
    episode lasts ``delay + 2`` steps and returns +1 or -1.

    A policy without memory sees the same query observation whatever the cue was:
    its expected return is 0 (chance). A recurrent policy can reach +1.

    Args:
        config: ``{"delay": steps between cue and query (default 5)}`` (RLlib's env_config).
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, config: dict | None = None) -> None:
        self.delay = int((config or {}).get("delay", 5))
        if self.delay < 0:
            raise ValueError(f"MemoryCueEnv: delay must be >= 0, got {self.delay}.")
        self.observation_space = gym.spaces.Box(0.0, 1.0, (3,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self._cue = 0
        self._t = 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(3, dtype=np.float32)
        if self._t == 0:
            obs[self._cue] = 1.0
        elif self._t == self.delay + 1:
            obs[2] = 1.0
        return obs

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._cue = int(self.np_random.integers(2))
        self._t = 0
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._t == self.delay + 1:
            reward = 1.0 if int(action) == self._cue else -1.0
            return np.zeros(3, dtype=np.float32), reward, True, False, {}
        self._t += 1
        return self._obs(), 0.0, False, False, {}


class StatelessCartPole(gym.ObservationWrapper):
    """``CartPole-v1`` that shows only the cart position and the pole angle (no velocities).

    A policy must infer the velocities from successive observations, so a memoryless
    MLP balances the pole far worse than a recurrent module (RLlib's
    ``StatelessCartPole`` example env).

    Args:
        config: Ignored (RLlib's env_config).
    """

    def __init__(self, config: dict | None = None) -> None:
        super().__init__(gym.make("CartPole-v1"))
        high = self.env.observation_space.high[[0, 2]].astype(np.float32)
        self.observation_space = gym.spaces.Box(-high, high, (2,), np.float32)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return np.asarray(observation[[0, 2]], dtype=np.float32)
