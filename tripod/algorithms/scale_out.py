"""Where an algorithm gets its env runner and learner groups: in this process, or on Ray.

With ``num_env_runners == 0`` (and ``evaluation_num_env_runners == 0``, ``num_learners == 0``)
the groups are tripod's local ones and Ray is never imported. Otherwise the remote groups of
:mod:`tripod.distributed` are looked up here by name, on demand: the algorithms layer does
not import ``tripod.distributed`` (which sits above it and is the only package that imports
``ray``), so ``import tripod`` stays free of Ray.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from tripod.algorithms.config_checks import ConfigError
from tripod.env.env_runner_group import EnvRunnerGroup
from tripod.learner.learner_group import LearnerGroup

__all__ = ["DISTRIBUTED_PACKAGE", "distributed", "env_runner_group", "learner_group"]

#: The package holding the Ray-backed groups (``RemoteEnvRunnerGroup``, ``RemoteLearnerGroup``).
DISTRIBUTED_PACKAGE = "tripod.distributed"


def distributed(what: str) -> Any:
    """The :mod:`tripod.distributed` package, imported now; a ConfigError naming the fix when Ray is missing.

    Args:
        what: The settings that need Ray, for the message (``"num_env_runners=2"``).
    """
    try:
        return importlib.import_module(DISTRIBUTED_PACKAGE)
    except ImportError as err:
        if (err.name or "").split(".")[0] != "ray":
            raise
        raise ConfigError(
            f"{what} runs on Ray, which is not installed. Install it with pip install 'tripod-rl[ray]', or "
            "set num_env_runners=0, evaluation_num_env_runners=0 and num_learners=0 to run everything in "
            "this process."
        ) from None


def env_runner_group(
    config: Any,
    make_runner: Callable[[int], Any],
    *,
    num_env_runners: int,
    make_local_runner: Callable[[int], Any] | None = None,
    name: str = "num_env_runners",
) -> Any:
    """An env runner group: local (``num_env_runners == 0``, built with ``make_local_runner`` if
    given) or ``num_env_runners`` Ray actors, each built with ``make_runner(worker_index)``
    (indices 1..N; ``make_runner`` must be picklable)."""
    if num_env_runners == 0:
        return EnvRunnerGroup(make_local_runner or make_runner)
    remote = distributed(f"{name}={num_env_runners}")
    return remote.RemoteEnvRunnerGroup(make_runner, num_env_runners=num_env_runners, config=config)


def learner_group(learner_class: type, *, config: Any, module_spec: Any, **kwargs: Any) -> Any:
    """A learner group: one local learner (``num_learners == 0``) or ``num_learners`` Ray actors
    training data-parallel. ``kwargs`` go to the group (``module_ids_to_train``; ``global_rng``
    for the local one only)."""
    if config.num_learners == 0:
        return LearnerGroup(learner_class, config=config, module_spec=module_spec, **kwargs)
    remote = distributed(f"num_learners={config.num_learners}")
    kwargs.pop("global_rng", None)  # each remote learner owns its generators
    return remote.RemoteLearnerGroup(learner_class, config=config, module_spec=module_spec, **kwargs)
