"""Setting up a multi-agent runner: which module each agent uses, module spaces, and input checks."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from tripod.core.rl_module.multi_rl_module import MultiRLModule, MultiRLModuleSpec
from tripod.core.rl_module.rl_module import DEFAULT_MODULE_ID
from tripod.env.multi_agent_env import AgentID, MultiAgentEnv
from tripod.env.multi_agent_episode import MultiAgentEpisode
from tripod.env.runner_helpers import spaces_compatible

__all__ = [
    "check_agent_obs",
    "check_multi_agent_env",
    "nobody_to_act_error",
    "nonfinite_error",
    "reward_without_obs_error",
    "default_policy_mapping_fn",
    "make_default_mapping_fn",
    "resolve_module_spec",
    "unknown_module_error",
]


def default_policy_mapping_fn(agent_id: AgentID, episode: Any, **kwargs: Any) -> str:
    """RLlib's default: every agent uses the module ``"default_policy"`` (shared parameters)."""
    return DEFAULT_MODULE_ID


def make_default_mapping_fn(module_ids: list[str]) -> Callable[..., str]:
    """The mapping used when none is configured.

    One module: every agent uses it. Several: an agent uses the module named like
    itself (``str(agent_id)``), so ``policies={"agent_0", "agent_1"}`` needs no function.
    """
    if len(module_ids) == 1:
        only = module_ids[0]
        return lambda agent_id, episode, **kwargs: only
    return lambda agent_id, episode, **kwargs: str(agent_id)


def unknown_module_error(agent_id: AgentID, module_id: Any, module_ids: list[str]) -> ValueError:
    """The error for a mapping function that names a module nobody built."""
    return ValueError(
        f"policy_mapping_fn mapped agent {agent_id!r} to module {module_id!r}, which does not exist; the "
        f"modules are {module_ids}. Return one of those ids from policy_mapping_fn(agent_id, episode, "
        f"**kwargs), or add {module_id!r} to .multi_agent(policies=...)."
    )


def _agents_by_module(
    env: MultiAgentEnv, mapping_fn: Callable[..., Any], module_ids: list[str], worker_index: int
) -> dict[str, list[AgentID]]:
    """Ask the mapping function about every possible agent (in one probe episode)."""
    probe = MultiAgentEpisode(env_index=0, worker_index=worker_index)
    out: dict[str, list[AgentID]] = {mid: [] for mid in module_ids}
    for agent_id in env.get_agent_ids():
        module_id = probe.module_for(agent_id, mapping_fn)
        if module_id not in out:
            raise unknown_module_error(agent_id, module_id, module_ids)
        out[module_id].append(agent_id)
    return out


def resolve_module_spec(
    spec: MultiRLModuleSpec | None,
    module: MultiRLModule | None,
    env: MultiAgentEnv,
    mapping_fn: Callable[..., Any] | None,
    worker_index: int = 0,
) -> tuple[MultiRLModuleSpec | None, Callable[..., Any]]:
    """Fill the spaces a spec leaves ``None`` from the agents mapped to each module, and check the rest.

    Args:
        spec: The MultiRLModuleSpec to complete (or None when ``module`` is given).
        module: An already built MultiRLModule (its spaces are only checked).
        env: One env copy (for ``possible_agents`` and the agents' spaces).
        mapping_fn: ``policy_mapping_fn``; None: :func:`make_default_mapping_fn`.
        worker_index: Used in the probe episode's id.

    Returns:
        ``(completed spec or None, the mapping function)``.

    Raises:
        ValueError: the mapping names an unknown module, agents mapped to one module
            have different spaces, an agent's space does not fit its module's, or a
            module without agents has no spaces.
    """
    if (spec is None) == (module is None):
        raise ValueError(
            "MultiAgentEnvRunner needs exactly one of module_spec= (a MultiRLModuleSpec) or module=."
        )
    if spec is not None and not isinstance(spec, MultiRLModuleSpec):
        raise TypeError(f"module_spec must be a MultiRLModuleSpec, got {type(spec).__name__}.")
    module_ids = list(spec.rl_module_specs if spec is not None else module.keys())
    if not module_ids:
        raise ValueError("The MultiRLModule(Spec) holds no modules: give at least one module spec.")
    mapping_fn = mapping_fn or make_default_mapping_fn(module_ids)
    agents = _agents_by_module(env, mapping_fn, module_ids, worker_index)
    subs = {}
    for module_id in module_ids:
        sub = dataclasses.replace(spec.rl_module_specs[module_id]) if spec is not None else module[module_id]
        for what in ("observation", "action"):
            attr = f"{what}_space"
            getter = env.get_observation_space if what == "observation" else env.get_action_space
            env_spaces = {agent_id: getter(agent_id) for agent_id in agents[module_id]}
            own = getattr(sub, attr)
            if own is None and spec is not None:
                own = _common_space(module_id, what, env_spaces)
                setattr(sub, attr, own)
            for agent_id, space in env_spaces.items():
                if own is not None and not spaces_compatible(own, space):
                    raise ValueError(
                        f"Agent {agent_id!r} has the {what} space {space}, which does not fit module "
                        f"'{module_id}' (built for {own}). Map the agent to a module built for its space "
                        f"(policy_mapping_fn), or leave RLModuleSpec.{attr} as None to take it from the env."
                    )
        subs[module_id] = sub
    if spec is None:
        return None, mapping_fn
    return dataclasses.replace(spec, rl_module_specs=subs), mapping_fn


def _common_space(module_id: str, what: str, env_spaces: Mapping[AgentID, gym.Space]) -> gym.Space:
    if not env_spaces:
        raise ValueError(
            f"Module '{module_id}': no possible agent maps to it (policy_mapping_fn), so its {what} space "
            f"cannot be taken from the env. Give it in the module's spec: RLModuleSpec({what}_space=...)."
        )
    (first_agent, first), *rest = env_spaces.items()
    for agent_id, space in rest:
        if not spaces_compatible(first, space):
            raise ValueError(
                f"Agents {first_agent!r} and {agent_id!r} both map to module '{module_id}' but have different "
                f"{what} spaces ({first} and {space}). One module needs one space: map them to different "
                "modules, or pad/wrap the env so that they share a space."
            )
    return first


def check_agent_obs(env_name: str, agent_id: AgentID, module_id: str, space: gym.Space, obs: Any) -> None:
    """Raise ValueError if ``obs`` (of ``agent_id``) cannot be stored for a module with ``space``."""
    if _fits(space, obs):
        return
    shape = getattr(np.asarray(obs) if not isinstance(obs, Mapping | tuple) else None, "shape", None)
    got = f"{type(obs).__name__} of shape {shape}" if shape is not None else repr(obs)[:200]
    raise ValueError(
        f"Env '{env_name}' returned an observation for agent {agent_id!r} that does not fit the observation "
        f"space {space} of its module '{module_id}': got {got}. Return observations from the agent's "
        "observation_spaces entry, or map the agent to a module built for what it observes."
    )


def _fits(space: gym.Space, obs: Any) -> bool:
    if isinstance(space, gym.spaces.Dict):
        return isinstance(obs, Mapping) and all(
            k in obs and _fits(s, obs[k]) for k, s in space.spaces.items()
        )
    if isinstance(space, gym.spaces.Tuple):
        return isinstance(obs, tuple | list) and len(obs) == len(space.spaces) and all(map(_fits, space, obs))
    if isinstance(obs, Mapping | tuple | list) and not isinstance(
        space, gym.spaces.Box | gym.spaces.MultiDiscrete
    ):
        return False
    try:
        arr = np.asarray(obs)
    except (TypeError, ValueError):
        return False
    if space.shape is not None and arr.shape != tuple(space.shape):
        return False
    return arr.dtype.kind in "biuf"


# ---------------------------------------------------------------------- errors
def check_multi_agent_env(env_name: str, env: Any) -> MultiAgentEnv:
    """``env`` if it is a MultiAgentEnv, else a TypeError saying what to do."""
    if not isinstance(env, MultiAgentEnv):
        raise TypeError(
            f"Env '{env_name}' created a {type(env).__name__}, not a tripod MultiAgentEnv (or a PettingZoo env). "
            "The multi-agent runner needs per-agent dicts; for a single-agent gymnasium env, drop .multi_agent() "
            "from the config."
        )
    return env


def reward_without_obs_error(env_name: str, env_index: int, rewards: Mapping, obs: Mapping) -> Exception:
    """The error for rewards paid to agents that got no observation."""
    from tripod.env.runner_helpers import EnvError

    missing = [agent_id for agent_id in rewards if agent_id not in obs]
    return EnvError(
        f"Env '{env_name}' (copy {env_index}) returned rewards for agents {missing} but no observation for them "
        f"(observations came for {list(obs)}). An agent's reward must come together with its next "
        "observation: accumulate the reward until the agent observes again (or ends its episode)."
    )


def nobody_to_act_error(env_name: str, env_index: int) -> Exception:
    """The error for a step after which no agent can act although the episode goes on."""
    from tripod.env.runner_helpers import EnvError

    return EnvError(
        f"Env '{env_name}' (copy {env_index}) returned no observation for any agent that is not done, but did "
        "not end the episode. Set terminateds['__all__'] (or truncateds['__all__']) to True when the episode "
        "is over."
    )


def nonfinite_error(env_name: str, rows: Any, row: int, sampler: Any) -> Exception:
    """The error for a NaN/inf observation or reward in ``row`` of a module's log."""
    from tripod.data.batch import tree_map
    from tripod.env.runner_helpers import EnvError

    env_index, agent_id = sampler.stream_owner(int(rows.stream[row]))
    reward = rows.rewards[row]
    value = reward if not np.isfinite(reward) else tree_map(lambda x: x[row], rows.obs)
    return EnvError(
        f"Env '{env_name}' (copy {env_index}) returned a NaN or inf observation or reward for agent "
        f"{agent_id!r} (module '{sampler.module_id}'): {value!r}. Check the env's step()/reset() for divisions "
        "by zero or overflows, or wrap the env to clean its outputs."
    )
