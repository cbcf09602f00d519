"""Reading an env runner's settings from an algorithm config (RLlib's ``EnvRunner(config=cfg)``).

The env layer sits below ``tripod.algorithms``, so the config is read by its
attribute names (an :class:`~tripod.algorithms.algorithm_config.AlgorithmConfig`
or anything with the same fields), never imported. The module spec is completed
the way the algorithm does it: the config's ``rl_module_spec`` (or its
``policies`` for multi-agent), with the module class left ``None`` filled in from
``config.algo_class.default_module_class`` and ``model_config`` from the
algorithm's ``default_model_config``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from tripod.core.rl_module.multi_rl_module import MultiRLModuleSpec
from tripod.core.rl_module.rl_module import DEFAULT_MODULE_ID, RLModuleSpec

__all__ = [
    "CONNECTOR_SETTINGS",
    "RLLIB_RUNNER_KWARGS",
    "connector_settings",
    "merge_settings",
    "multi_agent_settings",
    "single_agent_settings",
]

#: Keyword arguments RLlib passes to an env runner besides ``config`` that tripod accepts and ignores.
RLLIB_RUNNER_KWARGS = frozenset({"num_workers", "tune_trial_id", "spaces"})


#: The config's connector settings a single-agent runner reads (tripod.algorithms.connector_config).
CONNECTOR_SETTINGS = (
    "env_to_module_connector", "module_to_env_connector", "normalize_actions", "clip_actions", "clip_rewards"
)


def connector_settings(config: Any) -> dict[str, Any]:
    """The connector settings of ``config`` (those it lacks are left out)."""
    return {name: getattr(config, name) for name in CONNECTOR_SETTINGS if hasattr(config, name)}


def _fragment(config: Any) -> int | None:
    fragment = getattr(config, "rollout_fragment_length", None)
    if fragment == "auto":  # as the algorithm: one fragment per runner fills a training batch
        return max(1, int(config.train_batch_size_per_learner) // int(config.num_envs_per_env_runner))
    return fragment


def _default_model_config(config: Any, module_class: type | None) -> dict[str, Any]:
    """``algo_class.default_model_config(config, module_class)`` (the config's model_config without an algorithm)."""
    algo_class = getattr(config, "algo_class", None)
    if algo_class is None or not hasattr(algo_class, "default_model_config"):
        return dict(getattr(config, "model_config", None) or {})
    return algo_class.default_model_config(config, module_class)


def _with_defaults(config: Any, spec: RLModuleSpec | None) -> RLModuleSpec:
    spec = dataclasses.replace(spec) if spec is not None else RLModuleSpec()
    if spec.module_class is None:
        spec.module_class = getattr(getattr(config, "algo_class", None), "default_module_class", None)
    if spec.model_config is None:
        spec.model_config = _default_model_config(config, spec.module_class)
    return spec


def _policy_ids(config: Any) -> list[str]:
    policies = getattr(config, "policies", None)
    if isinstance(policies, Mapping):
        return list(policies)
    if policies:
        return sorted(policies) if isinstance(policies, set | frozenset) else list(policies)
    spec = getattr(config, "rl_module_spec", None)
    if isinstance(spec, MultiRLModuleSpec) and spec.rl_module_specs:
        return list(spec.rl_module_specs)
    return [DEFAULT_MODULE_ID]


def _multi_module_spec(config: Any) -> MultiRLModuleSpec:
    """Per module the user's spec (``rl_module_spec`` or ``policies``) with the defaults filled in."""
    user = getattr(config, "rl_module_spec", None)
    policies = getattr(config, "policies", None)
    per_id = dict(policies) if isinstance(policies, Mapping) else {}
    template = user if isinstance(user, RLModuleSpec) else None
    subs = {}
    for module_id in _policy_ids(config):
        if isinstance(user, MultiRLModuleSpec) and module_id in user.rl_module_specs:
            spec = user.rl_module_specs[module_id]
        else:
            spec = per_id.get(module_id) or template
        subs[module_id] = _with_defaults(config, spec)
    if isinstance(user, MultiRLModuleSpec):
        return dataclasses.replace(user, rl_module_specs=subs)
    return MultiRLModuleSpec(rl_module_specs=subs)


def single_agent_settings(config: Any) -> dict[str, Any]:
    """The :class:`~tripod.env.single_agent_env_runner.SingleAgentEnvRunner` arguments ``config`` gives."""
    return {
        "env": config.env,
        "env_config": config.env_config,
        "module_spec": _with_defaults(config, getattr(config, "rl_module_spec", None)),
        "num_envs": config.num_envs_per_env_runner,
        "vectorize_mode": config.vectorize_mode,
        "rollout_fragment_length": _fragment(config),
        "seed": config.seed,
        "restart_failed_sub_environments": config.restart_failed_sub_environments,
        **connector_settings(config),
    }


def multi_agent_settings(config: Any) -> dict[str, Any]:
    """The :class:`~tripod.env.multi_agent_env_runner.MultiAgentEnvRunner` arguments ``config`` gives."""
    return {
        "env": config.env,
        "env_config": config.env_config,
        "module_spec": _multi_module_spec(config),
        "policy_mapping_fn": getattr(config, "policy_mapping_fn", None),
        "num_envs": config.num_envs_per_env_runner,
        "rollout_fragment_length": _fragment(config),
        "seed": config.seed,
        **connector_settings(config),
    }


def merge_settings(
    runner: str, config: Any, given: dict[str, Any], extra: Mapping[str, Any], defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """The runner's arguments: ``given`` (those not ``None``) over ``config``'s over ``defaults``.

    Args:
        runner: The runner class name (for errors).
        config: An algorithm config, or ``None`` (keyword construction).
        given: The arguments passed to the constructor (``None``: not given).
        extra: Other keyword arguments: only RLlib's :data:`RLLIB_RUNNER_KWARGS`, with ``config``.
        defaults: Values for arguments neither given nor in the config.

    Raises:
        TypeError: No env and no config, or an unknown keyword argument.
    """
    unknown = sorted(set(extra) - (RLLIB_RUNNER_KWARGS if config is not None else set()))
    if unknown:
        raise TypeError(f"{runner}() got unexpected keyword arguments {unknown}.")
    settings = dict(defaults)
    if config is not None:
        from_config = single_agent_settings if runner == "SingleAgentEnvRunner" else multi_agent_settings
        if given.get("module") is not None:  # a built module replaces the config's spec
            settings.update({k: v for k, v in from_config(config).items() if k != "module_spec"})
        else:
            settings.update(from_config(config))
    settings.update({k: v for k, v in given.items() if v is not None})
    if settings.get("env") is None:
        raise TypeError(f"{runner}() needs an env (the first argument) or config= (an AlgorithmConfig).")
    return settings
