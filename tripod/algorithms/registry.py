"""Algorithm names (as typed on the command line) to config classes, imported lazily.

    >>> get_config_class("ppo")
    <class 'tripod.algorithms.ppo.ppo.PPOConfig'>

Adding an algorithm is one line in ``_ALGORITHMS``; nothing is imported until a
name is looked up, so ``tripod --help`` and name errors stay fast.
"""

from __future__ import annotations

import difflib
import importlib
import sys

# name -> "module:ConfigClass"
_ALGORITHMS: dict[str, str] = {
    "ppo": "tripod.algorithms.ppo:PPOConfig",
    "pg": "tripod.algorithms.pg:PGConfig",
    "dqn": "tripod.algorithms.dqn:DQNConfig",
    "sac": "tripod.algorithms.sac:SACConfig",
}


class UnknownAlgorithmError(ValueError):
    """An algorithm name that is not registered; the message lists the known ones."""


def known_algorithms() -> list[str]:
    """The registered algorithm names, sorted."""
    return sorted(_ALGORITHMS)


def normalize_name(name: str) -> str:
    """The registry key for ``name`` (case-insensitive: ``"PPO"`` -> ``"ppo"``).

    Raises:
        UnknownAlgorithmError: If no algorithm of that name is registered.
    """
    key = name.strip().lower()
    if key not in _ALGORITHMS:
        close = difflib.get_close_matches(key, known_algorithms(), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise UnknownAlgorithmError(
            f"unknown algorithm '{name}'.{hint} Known algorithms: {', '.join(known_algorithms())}."
        )
    return key


def get_config_class(name: str) -> type:
    """The config class registered as ``name`` (e.g. ``"ppo"`` -> ``PPOConfig``).

    Args:
        name: An algorithm name, case-insensitive.

    Raises:
        UnknownAlgorithmError: If ``name`` is not registered (the message lists the known names).
    """
    module_name, _, class_name = _ALGORITHMS[normalize_name(name)].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def algorithm_name(config_cls: type) -> str:
    """The registered name of ``config_cls`` (e.g. ``PPOConfig`` -> ``"ppo"``).

    Unregistered classes get their class name without ``Config``, lower-cased.
    Only modules that are already imported are consulted.
    """
    for name, target in _ALGORITHMS.items():
        module_name, _, class_name = target.partition(":")
        module = sys.modules.get(module_name)
        if module is not None and getattr(module, class_name, None) is config_cls:
            return name
    return config_cls.__name__.removesuffix("Config").lower()
