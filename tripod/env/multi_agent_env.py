"""The multi-agent env API (RLlib's ``MultiAgentEnv``) and ``make_multi_agent``.

A multi-agent env speaks in dicts keyed by agent id::

    obs, infos = env.reset(seed=0)                       # {agent_id: obs}, {agent_id: info}
    obs, rewards, terminateds, truncateds, infos = env.step({agent_id: action, ...})

The contract tripod's :class:`~tripod.env.multi_agent_env_runner.MultiAgentEnvRunner`
relies on:

* every agent that receives an observation acts in the next ``step`` (unless it
  is done); agents without an observation do not act, so turn-based games return
  only the observation of the agent whose turn it is;
* an agent's reward comes together with its next observation (accumulate rewards
  that arrive while the agent waits, as PettingZoo's AEC ``last()`` does); a
  reward for an agent without an observation is an error;
* ``terminateds[agent_id]`` / ``truncateds[agent_id]`` end that agent's episode
  (give it a last observation, needed to bootstrap a truncated agent), and the
  ``"__all__"`` entries end the episode of every agent;
* agents may join (first observation) and leave (done) during an episode.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["AgentID", "MultiAgentEnv", "make_multi_agent"]

AgentID = Hashable

_MULTI_AGENT_HINT = (
    "it has one space per agent (observation_spaces / action_spaces). Sample it with "
    "tripod.env.multi_agent_env_runner.MultiAgentEnvRunner, i.e. configure the algorithm with "
    ".multi_agent(policies=..., policy_mapping_fn=...)."
)


class MultiAgentEnv(gym.Env):
    """Base class of multi-agent environments (RLlib's ``MultiAgentEnv`` API).

    Subclasses set, in ``__init__``:

    Attributes:
        possible_agents: Every agent id that may ever appear.
        agents: The agent ids alive now (kept up to date by ``reset``/``step``).
        observation_spaces: ``{agent_id: gymnasium.Space}``.
        action_spaces: ``{agent_id: gymnasium.Space}``.

    and implement :meth:`reset` and :meth:`step` (see the module docstring for the
    contract). ``observation_space`` / ``action_space`` (single spaces) are not
    defined unless a subclass assigns them, so that handing a multi-agent env to
    the single-agent runner fails with an error saying what to do.
    """

    possible_agents: list[AgentID]
    agents: list[AgentID]
    observation_spaces: dict[AgentID, gym.Space]
    action_spaces: dict[AgentID, gym.Space]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[AgentID, Any], dict[AgentID, Any]]:
        """Start an episode; returns ``(obs, infos)`` dicts keyed by agent id.

        Args:
            seed: Seeds the env's RNG (call ``super().reset(seed=seed)`` to seed ``self.np_random``).
            options: Env-specific reset options.
        """
        super().reset(seed=seed)
        raise NotImplementedError(f"{type(self).__name__} must implement reset().")

    def step(self, action_dict: Mapping[AgentID, Any]) -> tuple[dict, dict, dict, dict, dict]:
        """Apply ``{agent_id: action}``; returns ``(obs, rewards, terminateds, truncateds, infos)``.

        Args:
            action_dict: An action for every agent that received an observation
                in the previous ``reset``/``step`` and is not done.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement step().")

    def get_observation_space(self, agent_id: AgentID) -> gym.Space:
        """The observation space of ``agent_id``."""
        return self.observation_spaces[agent_id]

    def get_action_space(self, agent_id: AgentID) -> gym.Space:
        """The action space of ``agent_id``."""
        return self.action_spaces[agent_id]

    def get_agent_ids(self) -> list[AgentID]:
        """All agent ids that may appear (``possible_agents``, else the keys of ``observation_spaces``)."""
        agents = getattr(self, "possible_agents", None)
        return list(agents) if agents else list(getattr(self, "observation_spaces", {}))

    @property
    def num_agents(self) -> int:
        """The number of agents alive now."""
        return len(self.agents)

    @property
    def max_num_agents(self) -> int:
        """The number of possible agents."""
        return len(self.get_agent_ids())

    # A single-agent tool asking for the single spaces gets told what to do instead.
    @property
    def observation_space(self) -> gym.Space:  # type: ignore[override]
        space = self.__dict__.get("_single_observation_space")
        if space is None:
            raise AttributeError(f"{type(self).__name__} is a multi-agent env: {_MULTI_AGENT_HINT}")
        return space

    @observation_space.setter
    def observation_space(self, space: gym.Space) -> None:
        self.__dict__["_single_observation_space"] = space

    @property
    def action_space(self) -> gym.Space:  # type: ignore[override]
        space = self.__dict__.get("_single_action_space")
        if space is None:
            raise AttributeError(f"{type(self).__name__} is a multi-agent env: {_MULTI_AGENT_HINT}")
        return space

    @action_space.setter
    def action_space(self, space: gym.Space) -> None:
        self.__dict__["_single_action_space"] = space


class _IndependentCopies(MultiAgentEnv):
    """``num_agents`` independent copies of one gymnasium env (see :func:`make_multi_agent`)."""

    @staticmethod
    def _make_one(config: dict) -> gym.Env:  # set by make_multi_agent()
        raise NotImplementedError

    def __init__(self, config: dict | None = None) -> None:
        config = dict(config or {})
        num_agents = int(config.pop("num_agents", 1))
        self.envs = [self._make_one(config) for _ in range(num_agents)]
        self.possible_agents = list(range(num_agents))
        self.agents = []
        self.observation_spaces = {i: env.observation_space for i, env in enumerate(self.envs)}
        self.action_spaces = {i: env.action_space for i, env in enumerate(self.envs)}
        self._terminated: set[int] = set()
        self._truncated: set[int] = set()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self._terminated.clear()
        self._truncated.clear()
        self.agents = list(self.possible_agents)
        obs, infos = {}, {}
        # Distinct seeds for every copy, also across runner env copies seeded seed, seed + 1, ...
        seeds = [None] * len(self.envs)
        if seed is not None:
            seeds = np.random.SeedSequence(seed).generate_state(len(self.envs)).tolist()
        for i, env in enumerate(self.envs):
            obs[i], infos[i] = env.reset(seed=seeds[i], options=options)
        return obs, infos

    def step(self, action_dict):
        obs, rewards, terminateds, truncateds, infos = {}, {}, {}, {}, {}
        envs, ended = self.envs, False
        for i, action in action_dict.items():
            obs[i], rewards[i], terminateds[i], truncateds[i], infos[i] = envs[i].step(action)
            if terminateds[i]:
                self._terminated.add(i)
                ended = True
            elif truncateds[i]:
                self._truncated.add(i)
                ended = True
        if ended:
            self.agents = [i for i in self.agents if i not in self._terminated and i not in self._truncated]
        all_done = not self.agents
        terminateds["__all__"] = all_done and len(self._terminated) == len(envs)
        truncateds["__all__"] = all_done and not terminateds["__all__"]
        return obs, rewards, terminateds, truncateds, infos

    def render(self):
        return self.envs[0].render()

    def close(self):
        for env in self.envs:
            env.close()


def make_multi_agent(env_name_or_creator: str | Callable[[dict], gym.Env]) -> type[MultiAgentEnv]:
    """A :class:`MultiAgentEnv` class running ``num_agents`` independent copies of a gymnasium env.

    Agent ``i`` (an int id, as in RLlib) plays copy ``i``; it leaves when its copy's
    episode ends, and the episode ends for all when every copy has ended. The
    class takes ``config`` (a dict): ``num_agents`` (default 1); the rest goes to
    ``gymnasium.make`` (or to the creator).

    For checkpoints that store the env as an import path, subclass the result at
    module level: ``class MultiAgentCartPole(make_multi_agent("CartPole-v1")): pass``.

    Args:
        env_name_or_creator: A gymnasium id, or a creator ``fn(config) -> gymnasium.Env``.
    """

    def make_one(config: dict) -> gym.Env:
        if isinstance(env_name_or_creator, str):
            return gym.make(env_name_or_creator, **config)
        return env_name_or_creator(config)

    name = env_name_or_creator if isinstance(env_name_or_creator, str) else env_name_or_creator.__name__
    qualname = f"MultiAgent[{name}]"
    attrs = {"_make_one": staticmethod(make_one), "__qualname__": qualname, "__module__": __name__}
    return type(qualname, (_IndependentCopies,), attrs)
