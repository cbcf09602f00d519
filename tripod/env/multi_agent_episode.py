"""The record of one running multi-agent episode: which module each agent uses, and the returns."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from tripod.env.multi_agent_env import AgentID

__all__ = ["MultiAgentEpisode", "episode_results"]

_IDS = itertools.count()


class MultiAgentEpisode:
    """One episode of one env copy, as the policy mapping function and the metrics see it.

    ``policy_mapping_fn(agent_id, episode, **kwargs)`` is called once per agent and
    episode, when the agent first appears; the answer holds for the rest of the
    episode (:meth:`module_for`).

    Args:
        env_index: Which env copy of the runner plays the episode.
        worker_index: The runner's index (part of ``id_``).

    Attributes:
        id_: A unique id, e.g. ``"0-1-17"`` (runner, env copy, counter).
        env_index: See above.
        agent_returns: ``{agent_id: sum of rewards so far}``.
        agent_to_module: ``{agent_id: module_id}`` of the agents seen so far.
        env_steps: ``step()`` calls so far.
    """

    __slots__ = (
        "id_", "env_index", "agent_returns", "agent_to_module", "env_steps", "custom_data", "is_terminated",
        "is_truncated", "_log",
    )  # fmt: skip

    def __init__(self, env_index: int = 0, worker_index: int = 0) -> None:
        self.id_ = f"{worker_index}-{env_index}-{next(_IDS)}"
        self.env_index = env_index
        self.agent_returns: dict[AgentID, float] = {}
        self.agent_to_module: dict[AgentID, str] = {}
        self.env_steps = 0
        #: Your own per-episode data (callbacks).
        self.custom_data: dict[str, Any] = {}
        self.is_terminated = self.is_truncated = False
        #: ``{"obs": [...], "actions": [...], "rewards": [...], "infos": [...]}`` of ``{agent_id: ...}``
        #: per env step (the reset's observation first); kept only for episode callbacks.
        self._log: dict[str, list[dict]] | None = None

    # ------------------------------------------------------------ callbacks' view (RLlib's reading API)
    def __len__(self) -> int:
        return self.env_steps

    @property
    def is_done(self) -> bool:
        """Whether the episode terminated or was truncated (``"__all__"``)."""
        return self.is_terminated or self.is_truncated

    def _entries(self, name: str, indices: Any) -> Any:
        if self._log is None:
            raise RuntimeError(
                "MultiAgentEpisode keeps observations, actions, rewards and infos only for episode callbacks."
            )
        values = self._log[name]
        if indices is None:
            return list(values)
        if isinstance(indices, list | tuple):
            return [values[i] for i in indices]
        return values[indices]

    def get_observations(self, indices: Any = None) -> Any:
        """``{agent_id: observation}`` per env step, the reset's first (``indices``: an int such as
        ``-1``, a slice, a list, or None for all)."""
        return self._entries("obs", indices)

    def get_actions(self, indices: Any = None) -> Any:
        """``{agent_id: action}`` per env step."""
        return self._entries("actions", indices)

    def get_rewards(self, indices: Any = None) -> Any:
        """``{agent_id: reward}`` per env step."""
        return self._entries("rewards", indices)

    def get_infos(self, indices: Any = None) -> Any:
        """``{agent_id: info}`` per env step, aligned with :meth:`get_observations`."""
        return self._entries("infos", indices)

    def log_step(self, obs: dict, infos: Any, actions: dict | None = None, rewards: dict | None = None) -> None:
        """Record one env step (or, without actions, the reset) for the callbacks."""
        if self._log is None:
            self._log = {"obs": [], "actions": [], "rewards": [], "infos": []}
        self._log["obs"].append(obs)
        self._log["infos"].append(dict(infos) if isinstance(infos, dict) else {})
        if actions is not None:
            self._log["actions"].append(actions)
            self._log["rewards"].append(dict(rewards or {}))

    def module_for(self, agent_id: AgentID, mapping_fn: Callable[..., Any], **kwargs: Any) -> Any:
        """The module id of ``agent_id`` in this episode (asks ``mapping_fn`` the first time)."""
        module_id = self.agent_to_module.get(agent_id)
        if module_id is None:
            module_id = self.agent_to_module[agent_id] = mapping_fn(agent_id, self, **kwargs)
        return module_id

    @property
    def agent_ids(self) -> list[AgentID]:
        """The agents that appeared so far."""
        return list(self.agent_to_module)

    def get_return(self) -> float:
        """The episode return: the sum over agents (as in RLlib)."""
        return float(sum(self.agent_returns.values()))

    def module_returns(self) -> dict[str, float]:
        """``{module_id: sum of the returns of the agents it played}``."""
        out: dict[str, float] = {}
        for agent_id, ret in self.agent_returns.items():
            module_id = self.agent_to_module.get(agent_id)
            if module_id is not None:
                out[module_id] = out.get(module_id, 0.0) + ret
        return out

    def __repr__(self) -> str:
        return f"MultiAgentEpisode(id_={self.id_!r}, agents={self.agent_ids}, env_steps={self.env_steps})"


def episode_results(episodes: list[MultiAgentEpisode]) -> dict[str, Any]:
    """Metrics of finished episodes: the single-agent runner's keys plus per-agent and per-module returns.

    ``episode_return_*`` sum the agents' returns per episode, ``episode_len_mean`` counts
    env steps; ``agent_episode_returns`` / ``module_episode_returns`` are ``{id: [returns]}``
    (ids as strings) with their ``*_mean`` versions.
    """
    from tripod.env.runner_helpers import episode_metrics

    agent_returns: dict[str, list[float]] = defaultdict(list)
    module_returns: dict[str, list[float]] = defaultdict(list)
    for episode in episodes:
        for agent_id, ret in episode.agent_returns.items():
            agent_returns[str(agent_id)].append(ret)
        for module_id, ret in episode.module_returns().items():
            module_returns[module_id].append(ret)
    out = episode_metrics([ep.get_return() for ep in episodes], [ep.env_steps for ep in episodes])
    out.update(
        agent_episode_returns=dict(agent_returns),
        module_episode_returns=dict(module_returns),
        agent_episode_returns_mean={k: float(np.mean(v)) for k, v in agent_returns.items()},
        module_episode_returns_mean={k: float(np.mean(v)) for k, v in module_returns.items()},
    )
    return out
