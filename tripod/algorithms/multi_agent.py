"""Multi-agent training on the common Algorithm: config rules, module specs, runners and metrics.

An algorithm runs multi-agent when its config calls ``.multi_agent(...)``, holds a
``MultiRLModuleSpec``, or names a multi-agent env (a :class:`MultiAgentEnv`
subclass or ``"pettingzoo:<module>"``). It then samples with the
:class:`~tripod.env.multi_agent_env_runner.MultiAgentEnvRunner`, trains every
module in ``policies_to_train`` with the algorithm's own learner (losses of all
modules summed per minibatch), and reports per-agent and per-module returns.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from tripod.core.rl_module.multi_rl_module import MultiRLModuleSpec
from tripod.core.rl_module.rl_module import DEFAULT_MODULE_ID, RLModuleSpec

__all__ = [
    "AgentReturnWindows",
    "env_is_multi_agent",
    "is_multi_agent",
    "make_env_runner",
    "module_spec",
    "normalize_policies",
    "policy_ids",
    "resolve_spec",
    "validate_multi_agent",
]


def normalize_policies(policies: Any) -> dict[str, RLModuleSpec | None] | None:
    """``{module_id: spec or None}`` from a set/list of ids or a dict (None stays None)."""
    if policies is None:
        return None
    if isinstance(policies, Mapping):
        return dict(policies)
    return {mid: None for mid in (sorted(policies) if isinstance(policies, set | frozenset) else policies)}


def policies_ok(value: Any) -> bool:
    """The ``_CHECKS`` rule of ``policies``."""
    if value is None:
        return True
    if isinstance(value, str) or not isinstance(value, Mapping | list | tuple | set | frozenset):
        return False
    specs = value.values() if isinstance(value, Mapping) else []
    return all(isinstance(mid, str) and mid for mid in value) and all(
        s is None or isinstance(s, RLModuleSpec) for s in specs
    )


def env_is_multi_agent(env: Any) -> bool:
    """Whether an env specifier names a multi-agent env without creating it."""
    from tripod.env.env_creation import PETTINGZOO_PREFIX
    from tripod.env.multi_agent_env import MultiAgentEnv

    if isinstance(env, str):
        return env.startswith(PETTINGZOO_PREFIX)
    return isinstance(env, type) and issubclass(env, MultiAgentEnv)


def is_multi_agent(config: Any) -> bool:
    """``.multi_agent()`` was called, the module spec is a MultiRLModuleSpec, or the env is multi-agent."""
    return (
        config.policies is not None
        or isinstance(config.rl_module_spec, MultiRLModuleSpec)
        or env_is_multi_agent(config.env)
    )


def policy_ids(config: Any) -> list[str]:
    """The module ids: ``policies``, else the MultiRLModuleSpec's, else ``["default_policy"]``."""
    policies = normalize_policies(config.policies)
    if policies:
        return list(policies)
    if isinstance(config.rl_module_spec, MultiRLModuleSpec) and config.rl_module_spec.rl_module_specs:
        return list(config.rl_module_spec.rl_module_specs)
    return [DEFAULT_MODULE_ID]


def validate_multi_agent(config: Any) -> None:
    """The multi-agent rules between fields; raises ``ConfigError`` naming the fix."""
    from tripod.algorithms.algorithm_config import ConfigError

    name = type(config).__name__
    policies = normalize_policies(config.policies)
    if policies is not None and not policies:
        raise ConfigError(f"{name}: policies is empty; name at least one module id.")
    ids = policy_ids(config)
    spec = config.rl_module_spec
    if isinstance(spec, MultiRLModuleSpec) and policies:
        extra = [mid for mid in spec.rl_module_specs if mid not in policies]
        if extra:
            raise ConfigError(
                f"{name}: rl_module_spec holds modules {extra} that are not in policies {ids}. Add them to "
                ".multi_agent(policies=...) or drop them from the MultiRLModuleSpec."
            )
    if config.restart_failed_sub_environments:
        raise ConfigError(
            f"{name}: restart_failed_sub_environments is not supported for multi-agent envs yet; set it to False."
        )
    unknown = [mid for mid in (config.policies_to_train or ()) if mid not in ids]
    if unknown:
        raise ConfigError(
            f"{name}: policies_to_train names {unknown}, which are not modules; the modules are {ids}."
        )


def module_spec(algo: Any) -> MultiRLModuleSpec:
    """The MultiRLModuleSpec to build: per module the user's spec (from ``rl_module_spec``
    or ``policies``) with the algorithm's default class and model_config filled in.
    Spaces may still be None (the runner fills them from the env)."""
    config = algo.config
    user = config.rl_module_spec
    policies = normalize_policies(config.policies) or {}
    template = user if isinstance(user, RLModuleSpec) else None
    subs = {}
    for module_id in policy_ids(config):
        if isinstance(user, MultiRLModuleSpec) and module_id in user.rl_module_specs:
            spec = user.rl_module_specs[module_id]
        else:
            spec = policies.get(module_id) or template or RLModuleSpec()
        spec = dataclasses.replace(spec)
        if spec.module_class is None:
            spec.module_class = algo.default_module_class
        if spec.model_config is None:
            spec.model_config = algo.default_model_config(spec.module_class)
        subs[module_id] = spec
    if isinstance(user, MultiRLModuleSpec):
        return dataclasses.replace(user, rl_module_specs=subs)
    return MultiRLModuleSpec(rl_module_specs=subs)


def make_env_runner(algo: Any, *, seed: int | None, worker_index: int = 0, global_rng: Any = None) -> Any:
    """A MultiAgentEnvRunner for ``algo``'s config."""
    from tripod.env.multi_agent_env_runner import MultiAgentEnvRunner

    c = algo.config
    fragment = c.rollout_fragment_length
    if fragment == "auto":
        fragment = max(1, c.train_batch_size_per_learner // c.num_envs_per_env_runner)
    spec = getattr(algo, "module_spec", None) or module_spec(algo)
    return MultiAgentEnvRunner(
        c.env,
        env_config=c.env_config,
        module_spec=spec,
        policy_mapping_fn=c.policy_mapping_fn,
        num_envs=c.num_envs_per_env_runner,
        rollout_fragment_length=fragment,
        seed=seed,
        worker_index=worker_index,
        global_rng=global_rng,
    )


def resolve_spec(algo: Any) -> MultiRLModuleSpec:
    """The learner's spec: the runner's completed spec (spaces from the env), not inference-only."""
    spec = algo.env_runner.module_spec
    subs = {mid: dataclasses.replace(s, inference_only=False) for mid, s in spec.rl_module_specs.items()}
    return dataclasses.replace(spec, inference_only=False, rl_module_specs=subs)


def check_supported(algo: Any) -> None:
    """Algorithms with their own training loop (replay-based ones) do not run multi-agent yet."""
    from tripod.algorithms.algorithm import Algorithm

    cls = type(algo)
    if cls.training_step is not Algorithm.training_step and not getattr(cls, "supports_multi_agent", False):
        raise NotImplementedError(
            f"{cls.__name__} does not train multi-agent configs yet (.multi_agent(), a MultiRLModuleSpec or a "
            "multi-agent env); PPO and PG do."
        )


class AgentReturnWindows:
    """Per-agent and per-module returns over the last ``window`` episodes (each), for results.

    Args:
        window: Episodes each mean is taken over (``metrics_num_episodes_for_smoothing``).
    """

    def __init__(self, window: int) -> None:
        self.window = window
        self.agents: dict[str, deque] = {}
        self.modules: dict[str, deque] = {}

    def record(self, runner_metrics: Mapping[str, Any]) -> None:
        """Add the finished episodes of one ``get_metrics()`` result."""
        for store, key in ((self.agents, "agent_episode_returns"), (self.modules, "module_episode_returns")):
            for name, returns in runner_metrics.get(key, {}).items():
                store.setdefault(name, deque(maxlen=self.window)).extend(float(r) for r in returns)

    def results(self, runner_metrics: Mapping[str, Any]) -> dict[str, Any]:
        """The ``env_runners`` entries: ``agent_episode_returns_mean``, ``module_episode_returns_mean``, step counts."""
        return {
            "agent_episode_returns_mean": {k: float(np.mean(v)) for k, v in self.agents.items() if v},
            "module_episode_returns_mean": {k: float(np.mean(v)) for k, v in self.modules.items() if v},
            "num_agent_steps_sampled": runner_metrics.get("num_agent_steps_sampled", 0),
            "num_module_steps_sampled": dict(runner_metrics.get("num_module_steps_sampled", {})),
        }

    def get_state(self) -> dict[str, Any]:
        """The windows, for checkpoints."""
        return {
            "agents": {k: list(v) for k, v in self.agents.items()},
            "modules": {k: list(v) for k, v in self.modules.items()},
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`get_state`."""
        self.agents = {k: deque(v, maxlen=self.window) for k, v in state.get("agents", {}).items()}
        self.modules = {k: deque(v, maxlen=self.window) for k, v in state.get("modules", {}).items()}


def evaluation_results(out: Mapping[str, Any]) -> dict[str, Any]:
    """Per-agent and per-module means of ``sample(num_episodes=...)``'s output."""
    return {
        "agent_episode_returns_mean": {k: float(np.mean(v)) for k, v in out["agent_episode_returns"].items()},
        "module_episode_returns_mean": {
            k: float(np.mean(v)) for k, v in out["module_episode_returns"].items()
        },
    }
