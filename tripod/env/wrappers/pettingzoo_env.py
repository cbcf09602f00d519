"""PettingZoo environments as tripod :class:`~tripod.env.multi_agent_env.MultiAgentEnv` s.

RLlib's module path (``ray.rllib.env.wrappers.pettingzoo_env``) and class names:

    from mpe2 import simple_spread_v3
    env = ParallelPettingZooEnv(simple_spread_v3.parallel_env())   # simultaneous moves
    env = PettingZooEnv(tictactoe_v3.env())                         # turn-based (AEC)

The adapters only call the PettingZoo API, so this module does not import
``pettingzoo``; :func:`make_pettingzoo_env` (behind the ``"pettingzoo:"`` env id
prefix) does, with an error naming the ``[multiagent]`` extra when it is missing.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from tripod.env.env_errors import EnvCreationError
from tripod.env.multi_agent_env import AgentID, MultiAgentEnv

__all__ = [
    "ParallelPettingZooEnv",
    "PettingZooEnv",
    "is_pettingzoo_env",
    "make_pettingzoo_env",
    "wrap_pettingzoo",
]

PREFIX = "pettingzoo:"


def _spaces(env: Any) -> tuple[list, dict, dict]:
    agents = list(env.possible_agents)
    return agents, {a: env.observation_space(a) for a in agents}, {a: env.action_space(a) for a in agents}


def _all_flags(terminateds: dict, truncateds: dict, done: bool) -> None:
    """Set the ``"__all__"`` entries: the episode is over when no agent is left."""
    all_terminated = done and all(terminateds.values())
    terminateds["__all__"] = all_terminated
    truncateds["__all__"] = done and not all_terminated


class ParallelPettingZooEnv(MultiAgentEnv):
    """A PettingZoo ``ParallelEnv`` (all live agents act at once) as a MultiAgentEnv.

    Args:
        env: The PettingZoo parallel env, e.g. ``simple_spread_v3.parallel_env()``.
    """

    def __init__(self, env: Any) -> None:
        self.par_env = env
        self.possible_agents, self.observation_spaces, self.action_spaces = _spaces(env)
        self.agents = []
        self.metadata = dict(getattr(env, "metadata", {}) or {})
        self.render_mode = getattr(env, "render_mode", None)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, infos = self.par_env.reset(seed=seed, options=options)
        self.agents = list(self.par_env.agents)
        return obs, infos

    def step(self, action_dict: Mapping[AgentID, Any]):
        obs, rewards, terminateds, truncateds, infos = self.par_env.step(dict(action_dict))
        self.agents = list(self.par_env.agents)
        terminateds, truncateds = dict(terminateds), dict(truncateds)
        _all_flags(terminateds, truncateds, not self.agents)
        return obs, rewards, terminateds, truncateds, infos

    def render(self) -> Any:
        return self.par_env.render()

    def close(self) -> None:
        self.par_env.close()


class PettingZooEnv(MultiAgentEnv):
    """A PettingZoo ``AECEnv`` (agents take turns) as a MultiAgentEnv.

    Each ``reset``/``step`` returns the observation of the agent whose turn it is
    next, with the reward it collected since its last action (PettingZoo's
    ``last()``). Agents that are done get their last observation, reward and done
    flags as they leave (the adapter steps them with ``None``), so when the game
    ends every agent has received its final reward.

    Args:
        env: The PettingZoo AEC env, e.g. ``tictactoe_v3.env()``.
    """

    def __init__(self, env: Any) -> None:
        self.aec_env = env
        self.possible_agents, self.observation_spaces, self.action_spaces = _spaces(env)
        self.agents = []
        self.metadata = dict(getattr(env, "metadata", {}) or {})
        self.render_mode = getattr(env, "render_mode", None)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self.aec_env.reset(seed=seed, options=options)
        obs, _, _, _, infos = self._collect()
        return obs, infos

    def step(self, action_dict: Mapping[AgentID, Any]):
        agent = self.aec_env.agent_selection
        if agent not in action_dict:
            raise KeyError(
                f"PettingZooEnv.step(): it is agent {agent!r}'s turn, but the actions are for "
                f"{sorted(map(str, action_dict))}."
            )
        self.aec_env.step(action_dict[agent])
        return self._collect()

    def _collect(self):
        """Observations up to the next agent to act, stepping the done agents out with ``None``."""
        env = self.aec_env
        obs, rewards, terminateds, truncateds, infos = {}, {}, {}, {}, {}
        while env.agents:
            agent = env.agent_selection
            obs[agent], rewards[agent], terminateds[agent], truncateds[agent], infos[agent] = env.last()
            if not (terminateds[agent] or truncateds[agent]):
                break
            env.step(None)
        self.agents = list(env.agents)
        _all_flags(terminateds, truncateds, not self.agents)
        return obs, rewards, terminateds, truncateds, infos

    def render(self) -> Any:
        return self.aec_env.render()

    def close(self) -> None:
        self.aec_env.close()


def is_pettingzoo_env(env: Any) -> str | None:
    """``"aec"`` or ``"parallel"`` when ``env`` looks like a PettingZoo env, else None (duck-typed)."""
    if not (hasattr(env, "possible_agents") and callable(getattr(env, "observation_space", None))):
        return None
    if callable(getattr(env, "agent_iter", None)) and callable(getattr(env, "last", None)):
        return "aec"
    if hasattr(env, "step") and hasattr(env, "reset"):
        return "parallel"
    return None


def wrap_pettingzoo(env: Any) -> MultiAgentEnv:
    """Wrap a PettingZoo AEC or parallel env in the matching adapter."""
    kind = is_pettingzoo_env(env)
    if kind == "aec":
        return PettingZooEnv(env)
    if kind == "parallel":
        return ParallelPettingZooEnv(env)
    raise TypeError(f"{type(env).__name__} is not a PettingZoo AECEnv or ParallelEnv.")


def make_pettingzoo_env(name: str, env_config: Mapping[str, Any] | None = None) -> MultiAgentEnv:
    """Build the PettingZoo env module ``name`` (e.g. ``"mpe2.simple_spread_v3"``) with ``env_config``.

    The module's ``parallel_env(**env_config)`` is used when it has one, else its
    ``env(**env_config)`` (AEC, turn-based). A leading ``"pettingzoo:"`` is ignored.

    Args:
        name: The import path of a PettingZoo env module, e.g. ``"pettingzoo.classic.tictactoe_v3"``.
        env_config: Keyword arguments for the env function.
    """
    name = name.removeprefix(PREFIX)
    try:
        importlib.import_module("pettingzoo")
    except ImportError as err:
        raise EnvCreationError(
            f"Env '{PREFIX}{name}' needs PettingZoo: pip install 'tripod-rl[multiagent]' "
            "(installs pettingzoo and mpe2)."
        ) from err
    try:
        module = importlib.import_module(name)
    except ImportError as err:
        raise EnvCreationError(
            f"Env '{PREFIX}{name}': cannot import the PettingZoo env module '{name}' ({err}). Give its import "
            "path, e.g. 'pettingzoo:mpe2.simple_spread_v3' or 'pettingzoo:pettingzoo.classic.tictactoe_v3'."
        ) from err
    config = dict(env_config or {})
    if callable(getattr(module, "parallel_env", None)):
        return ParallelPettingZooEnv(module.parallel_env(**config))
    if callable(getattr(module, "env", None)):
        return PettingZooEnv(module.env(**config))
    raise EnvCreationError(
        f"Env '{PREFIX}{name}': module '{name}' has neither parallel_env() nor env(); is it a PettingZoo env?"
    )
