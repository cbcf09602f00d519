"""Multi-agent settings of a config: which modules, whether it runs multi-agent, the rules between fields.

Read by :class:`~tripod.algorithms.algorithm_config.AlgorithmConfig` (which is
why this module imports neither the config nor the algorithm) and by
:mod:`tripod.algorithms.multi_agent`, which builds module specs and runners from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tripod.core.rl_module.multi_rl_module import MultiRLModuleSpec
from tripod.core.rl_module.rl_module import DEFAULT_MODULE_ID, RLModuleSpec

__all__ = [
    "env_is_multi_agent",
    "is_multi_agent",
    "normalize_policies",
    "policies_ok",
    "policy_ids",
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
    """Whether ``value`` is a valid ``policies`` setting (None, ids, or ``{id: RLModuleSpec or None}``)."""
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


def validate_multi_agent(config: Any, error: type[Exception] = ValueError) -> None:
    """The multi-agent rules between fields; raises ``error`` (the config's ``ConfigError``) naming the fix."""
    name = type(config).__name__
    policies = normalize_policies(config.policies)
    if policies is not None and not policies:
        raise error(f"{name}: policies is empty; name at least one module id.")
    ids = policy_ids(config)
    spec = config.rl_module_spec
    if isinstance(spec, MultiRLModuleSpec) and policies:
        extra = [mid for mid in spec.rl_module_specs if mid not in policies]
        if extra:
            raise error(
                f"{name}: rl_module_spec holds modules {extra} that are not in policies {ids}. Add them to "
                ".multi_agent(policies=...) or drop them from the MultiRLModuleSpec."
            )
    if config.restart_failed_sub_environments:
        raise error(
            f"{name}: restart_failed_sub_environments is not supported for multi-agent envs yet; set it to False."
        )
    to_train = config.policies_to_train
    unknown = [] if callable(to_train) else [mid for mid in (to_train or ()) if mid not in ids]
    if unknown:
        raise error(
            f"{name}: policies_to_train names {unknown}, which are not modules; the modules are {ids}."
        )
