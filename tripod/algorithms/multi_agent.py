"""Where single- and multi-agent set-ups differ: module specs, env runners, per-agent metrics.

An algorithm runs multi-agent when its config calls ``.multi_agent(...)``, holds a
``MultiRLModuleSpec``, or names a multi-agent env (a :class:`MultiAgentEnv`
subclass or ``"pettingzoo:<module>"``); see :mod:`tripod.algorithms.multi_agent_spec`.
It then samples with the :class:`~tripod.env.multi_agent_env_runner.MultiAgentEnvRunner`,
trains every module in ``policies_to_train`` with the algorithm's own learner (losses
of all modules summed per minibatch), and reports per-agent and per-module returns.

The helpers here take the config and the values they need, never the algorithm, so
that :class:`~tripod.algorithms.algorithm.Algorithm` runs one code path for both.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from tripod.algorithms.multi_agent_spec import (
    env_is_multi_agent,
    is_multi_agent,
    normalize_policies,
    policies_ok,
    policy_ids,
    validate_multi_agent,
)
from tripod.callbacks.callbacks import make_callbacks
from tripod.core.rl_module.multi_rl_module import MultiRLModuleSpec
from tripod.core.rl_module.rl_module import RLModuleSpec
from tripod.env.env_runner import CUSTOM_METRICS
from tripod.env.runner_config import connector_settings
from tripod.utils.metrics.metrics_logger import MetricsLogger

__all__ = [
    "AgentReturnWindows",
    "check_supported",
    "default_module_spec",
    "env_is_multi_agent",
    "evaluation_results",
    "is_multi_agent",
    "learner_module_spec",
    "make_env_runner",
    "modules_to_train",
    "normalize_policies",
    "policies_ok",
    "policy_ids",
    "validate_multi_agent",
]


def _with_defaults(
    spec: RLModuleSpec, default_class: type | None, default_model_config: Callable[[type | None], dict]
) -> RLModuleSpec:
    spec = dataclasses.replace(spec)
    if spec.module_class is None:
        spec.module_class = default_class
    if spec.model_config is None:
        spec.model_config = default_model_config(spec.module_class)
    return spec


def default_module_spec(
    config: Any, default_class: type | None, default_model_config: Callable[[type | None], dict]
) -> RLModuleSpec | MultiRLModuleSpec:
    """The spec to build: the user's (``rl_module_spec``, ``policies``) with the algorithm's
    default module class and ``default_model_config(module_class)`` filled in.

    Multi-agent configs get a MultiRLModuleSpec with one spec per module id. Spaces may
    still be None (the runner fills them from the env).
    """
    user = config.rl_module_spec
    if not config.is_multi_agent:
        return _with_defaults(
            user if user is not None else RLModuleSpec(), default_class, default_model_config
        )
    policies = normalize_policies(config.policies) or {}
    template = user if isinstance(user, RLModuleSpec) else None
    subs = {}
    for module_id in policy_ids(config):
        if isinstance(user, MultiRLModuleSpec) and module_id in user.rl_module_specs:
            spec = user.rl_module_specs[module_id]
        else:
            spec = policies.get(module_id) or template or RLModuleSpec()
        subs[module_id] = _with_defaults(spec, default_class, default_model_config)
    if isinstance(user, MultiRLModuleSpec):
        return dataclasses.replace(user, rl_module_specs=subs)
    return MultiRLModuleSpec(rl_module_specs=subs)


def _filled(spec: RLModuleSpec, observation_space: Any, action_space: Any) -> RLModuleSpec:
    return dataclasses.replace(
        spec,
        observation_space=observation_space if spec.observation_space is None else spec.observation_space,
        action_space=action_space if spec.action_space is None else spec.action_space,
        inference_only=False,
    )


def learner_module_spec(
    spec: RLModuleSpec | MultiRLModuleSpec, observation_space: Any, action_space: Any
) -> RLModuleSpec | MultiRLModuleSpec:
    """The learner's spec: ``spec`` with the spaces it leaves None taken from the env runner's
    ``get_spaces()`` (``{module_id: space}`` each for a MultiRLModuleSpec), not inference-only."""
    if not isinstance(spec, MultiRLModuleSpec):
        return _filled(spec, observation_space, action_space)
    subs = {
        mid: _filled(s, observation_space[mid], action_space[mid]) for mid, s in spec.rl_module_specs.items()
    }
    return dataclasses.replace(spec, inference_only=False, rl_module_specs=subs)


def modules_to_train(config: Any) -> Any:
    """The learner's ``module_ids_to_train``: ``policies_to_train`` of a multi-agent config, else None (all)."""
    return config.modules_to_train(policy_ids(config)) if config.is_multi_agent else None


def _fragment(config: Any) -> int:
    fragment = config.rollout_fragment_length
    if fragment == "auto":
        fragment = max(1, config.train_batch_size_per_learner // config.num_envs_per_env_runner)
    return fragment


def make_env_runner(
    config: Any,
    module_spec: RLModuleSpec | MultiRLModuleSpec,
    worker_index: int = 0,
    *,
    seed: int | None,
    global_rng: Any = None,
    index_offset: int = 0,
) -> Any:
    """An env runner for ``config`` sampling with ``module_spec`` (an EnvRunnerGroup's factory).

    A MultiRLModuleSpec gets a :class:`~tripod.env.multi_agent_env_runner.MultiAgentEnvRunner`,
    an RLModuleSpec a :class:`~tripod.env.single_agent_env_runner.SingleAgentEnvRunner`.
    Use ``functools.partial(make_env_runner, config, spec, seed=...)`` as the group's
    ``make_runner``; ``index_offset`` shifts the worker index (the evaluation runners' seeds).
    """
    common = {
        "env_config": config.env_config,
        "module_spec": module_spec,
        "num_envs": config.num_envs_per_env_runner,
        "rollout_fragment_length": _fragment(config),
        "seed": seed,
        "worker_index": worker_index + index_offset,
        "global_rng": global_rng,
    }
    if isinstance(module_spec, MultiRLModuleSpec):
        from tripod.env.multi_agent_env_runner import MultiAgentEnvRunner

        runner = MultiAgentEnvRunner(
            config.env, policy_mapping_fn=config.policy_mapping_fn, **connector_settings(config), **common
        )
    else:
        from tripod.env.single_agent_env_runner import SingleAgentEnvRunner

        runner = SingleAgentEnvRunner(
            config.env,
            vectorize_mode=config.vectorize_mode,
            restart_failed_sub_environments=config.restart_failed_sub_environments,
            **connector_settings(config),
            **common,
        )
    callbacks = make_callbacks(config.callbacks_class)
    if callbacks is not None:
        try:
            runner.set_callbacks(callbacks)
        except BaseException:
            runner.stop()
            raise
    return runner


def check_supported(algo_name: str, supports_multi_agent: bool, config: Any) -> None:
    """Refuse a multi-agent config for an algorithm that does not train one (replay-based ones, so far)."""
    if config.is_multi_agent and not supports_multi_agent:
        raise NotImplementedError(
            f"{algo_name} does not train multi-agent configs yet (.multi_agent(), a MultiRLModuleSpec or a "
            "multi-agent env); PPO and PG do."
        )


class AgentReturnWindows:
    """Per-agent and per-module returns over the last ``window`` episodes (each), for results.

    Fed with every ``get_metrics()`` result; it reports per-agent entries only when the
    runners report them (multi-agent runners do, single-agent ones do not).

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
        """The ``env_runners`` entries ``agent_episode_returns_mean``, ``module_episode_returns_mean`` and
        the agent/module step counts; ``{}`` when the runners report no per-agent metrics."""
        if "num_agent_steps_sampled" not in runner_metrics:
            return {}
        return {
            "agent_episode_returns_mean": {k: float(np.mean(v)) for k, v in self.agents.items() if v},
            "module_episode_returns_mean": {k: float(np.mean(v)) for k, v in self.modules.items() if v},
            "num_agent_steps_sampled": runner_metrics.get("num_agent_steps_sampled", 0),
            "num_module_steps_sampled": dict(runner_metrics.get("num_module_steps_sampled", {})),
        }

    def get_state(self) -> dict[str, Any]:
        """The windows, for checkpoints (empty for single-agent runners)."""
        return {
            "agents": {k: list(v) for k, v in self.agents.items()},
            "modules": {k: list(v) for k, v in self.modules.items()},
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`get_state`."""
        self.agents = {k: deque(v, maxlen=self.window) for k, v in state.get("agents", {}).items()}
        self.modules = {k: deque(v, maxlen=self.window) for k, v in state.get("modules", {}).items()}


def evaluation_results(out: Mapping[str, Any]) -> dict[str, Any]:
    """``result["evaluation"]["env_runners"]`` from the evaluation runners' ``sample(num_episodes=...)`` output:
    return statistics, the callbacks' custom metrics, and per-agent and per-module means (multi-agent)."""
    returns, lens = np.asarray(out["episode_returns"]), np.asarray(out["episode_lens"])
    custom = MetricsLogger()  # what the evaluation runners' callbacks logged, reduced over this evaluation
    custom.merge_values(out.get(CUSTOM_METRICS, {}))
    per_agent = {}
    if "agent_episode_returns" in out:
        per_agent = {
            "agent_episode_returns_mean": {k: float(np.mean(v)) for k, v in out["agent_episode_returns"].items()},
            "module_episode_returns_mean": {k: float(np.mean(v)) for k, v in out["module_episode_returns"].items()},
        }
    return {
        **custom.reduce(),
        **per_agent,
        "episode_return_mean": float(returns.mean()),
        "episode_return_min": float(returns.min()),
        "episode_return_max": float(returns.max()),
        "episode_return_std": float(returns.std()),
        "episode_len_mean": float(lens.mean()),
        "num_episodes": len(returns),
    }
