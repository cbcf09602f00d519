"""PrevActionsPrevRewards: the last actions and rewards of each sub-env next to its observation (RLlib's name)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from tripod.connectors.connector_v2 import ConnectorV2, StepInfo, grow_rows

__all__ = ["PrevActionsPrevRewards"]


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"PrevActionsPrevRewards({name}={value!r}): use an int >= 0.")
    return int(value)


class PrevActionsPrevRewards(ConnectorV2):
    """Observations become ``{"_orig_obs": obs, "prev_n_actions": ..., "prev_n_rewards": ...}``.

    ``prev_n_actions`` holds the last ``n_prev_actions`` actions, oldest first, flattened
    (Discrete actions one-hot, Box actions as they are) and ``prev_n_rewards`` the last
    ``n_prev_rewards`` rewards; both are zero before an episode's first steps. A count of
    0 leaves its key out. The default modules flatten the dict and feed it on, so a default
    LSTM sees its previous action and reward (``lstm_use_prev_action`` /
    ``lstm_use_prev_reward`` in ``model_config`` add this piece). In a multi-agent runner
    each agent (of each env copy) has its own history (``StepInfo.rows``).

    Args:
        multi_agent: RLlib's flag for multi-agent pipelines; accepted and not needed (the
            multi-agent env runner gives every module its own copy, with a history per agent).
        n_prev_actions: How many past actions to include.
        n_prev_rewards: How many past rewards to include.
    """

    ORIG_OBS_KEY = "_orig_obs"
    PREV_ACTIONS_KEY = "prev_n_actions"
    PREV_REWARDS_KEY = "prev_n_rewards"
    per_episode_memory = True
    memory_by_rows = True

    def __init__(
        self,
        input_observation_space: gym.Space | None = None,
        input_action_space: gym.Space | None = None,
        *,
        multi_agent: bool = False,
        n_prev_actions: int = 1,
        n_prev_rewards: int = 1,
        **kwargs: Any,
    ) -> None:
        del multi_agent  # RLlib's flag: every module gets its own copy of the pipeline either way
        self.n_prev_actions = _count("n_prev_actions", n_prev_actions)
        self.n_prev_rewards = _count("n_prev_rewards", n_prev_rewards)
        self._actions: np.ndarray | None = None
        self._rewards: np.ndarray | None = None
        super().__init__(input_observation_space, input_action_space, **kwargs)

    def recompute_output_observation_space(
        self, input_observation_space: Any, input_action_space: Any
    ) -> Any:
        space = input_action_space
        if isinstance(space, gym.spaces.Discrete):
            self._action_size, self._one_hot = int(space.n), True
        elif isinstance(space, gym.spaces.Box):
            self._action_size, self._one_hot = int(np.prod(space.shape)), False
        elif self.n_prev_actions:
            raise ValueError(
                f"PrevActionsPrevRewards handles Discrete and Box action spaces, got {space}; "
                "use n_prev_actions=0 to add rewards only."
            )
        else:
            self._action_size, self._one_hot = 0, False
        out: dict[str, gym.Space] = {self.ORIG_OBS_KEY: input_observation_space}
        if self.n_prev_actions:
            low = 0.0 if self._one_hot else -np.inf
            high = 1.0 if self._one_hot else np.inf
            out[self.PREV_ACTIONS_KEY] = gym.spaces.Box(
                low, high, (self.n_prev_actions * self._action_size,), np.float32
            )
        if self.n_prev_rewards:
            out[self.PREV_REWARDS_KEY] = gym.spaces.Box(-np.inf, np.inf, (self.n_prev_rewards,), np.float32)
        return gym.spaces.Dict(out)

    def reset(self, num_envs: int) -> None:
        self._actions = np.zeros((num_envs, self.n_prev_actions, self._action_size), dtype=np.float32)
        self._rewards = np.zeros((num_envs, self.n_prev_rewards), dtype=np.float32)

    def _encode(self, actions: Any, rows: int) -> np.ndarray:
        if self._one_hot:
            out = np.zeros((rows, self._action_size), dtype=np.float32)
            out[
                np.arange(rows),
                np.asarray(actions, dtype=np.int64).reshape(rows) - int(self.input_action_space.start),
            ] = 1.0
            return out
        return np.asarray(actions, dtype=np.float32).reshape(rows, self._action_size)

    def _advance(self, acts: np.ndarray, rews: np.ndarray, info: StepInfo) -> tuple[np.ndarray, np.ndarray]:
        """The histories after ``info``'s step (new arrays)."""
        rows = len(info.starts)
        if info.prev_actions is not None and self.n_prev_actions:
            acts = np.concatenate([acts[:, 1:], self._encode(info.prev_actions, rows)[:, None]], axis=1)
        if info.prev_rewards is not None and self.n_prev_rewards:
            rews = np.concatenate(
                [rews[:, 1:], np.asarray(info.prev_rewards, np.float32).reshape(rows, 1)], axis=1
            )
        acts, rews = acts.copy(), rews.copy()
        acts[info.starts], rews[info.starts] = 0.0, 0.0
        return acts, rews

    def _output(self, data: Any, acts: np.ndarray, rews: np.ndarray) -> dict[str, Any]:
        out = {self.ORIG_OBS_KEY: data}
        if self.n_prev_actions:
            out[self.PREV_ACTIONS_KEY] = acts.reshape(len(acts), -1).copy()
        if self.n_prev_rewards:
            out[self.PREV_REWARDS_KEY] = rews.copy()
        return {key: out[key] for key in self.observation_space.spaces}  # the Dict space's key order

    def __call__(self, data: Any, info: StepInfo) -> dict[str, Any]:
        if info.rows is not None:  # multi-agent: memory rows are agent streams
            rows = info.rows
            self._grow(int(rows.max()) + 1 if len(rows) else 0)
            acts, rews = self._advance(self._actions[rows], self._rewards[rows], info)
            self._actions[rows], self._rewards[rows] = acts, rews
            return self._output(data, acts, rews)
        rows = len(info.starts)
        if self._actions is None or len(self._actions) != rows:
            self.reset(rows)
        self._actions, self._rewards = self._advance(self._actions, self._rewards, info)
        return self._output(data, self._actions, self._rewards)

    def _grow(self, rows: int) -> None:
        """Memory for at least ``rows`` rows (new rows start at zero)."""
        self._actions = grow_rows(self._actions, rows, (self.n_prev_actions, self._action_size), np.float32)
        self._rewards = grow_rows(self._rewards, rows, (self.n_prev_rewards,), np.float32)

    def peek(self, data: Any, index: int, info: StepInfo) -> dict[str, Any]:
        if self._actions is None or (info.rows is not None and index >= len(self._actions)):
            self._grow(index + 1)
        acts, rews = self._advance(self._actions[index : index + 1], self._rewards[index : index + 1], info)
        return self._output(data, acts, rews)

    def to_spec(self) -> dict[str, Any]:
        return {"type": "PrevActionsPrevRewards", "n_prev_actions": self.n_prev_actions,
                "n_prev_rewards": self.n_prev_rewards}  # fmt: skip
