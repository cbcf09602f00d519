"""Joining or starting the Ray cluster an algorithm's remote groups run on.

:func:`ensure_ray` is called by every remote group before it starts actors. It uses a
Ray that is already initialised (``ray.init(address=...)`` in your script), else joins the
cluster at ``RAY_ADDRESS``, else starts a local Ray sized to this machine. In every case
the CPUs the config asks for (:attr:`~tripod.algorithms.scale_out_config.ScaleOutSettings.ray_cpus_needed`)
are checked against the cluster's, so that an oversized config fails at once with the fix
instead of waiting forever for actors Ray cannot place.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import ray

from tripod.algorithms.config_checks import ConfigError

__all__ = ["ensure_ray", "start_local_ray"]

logger = logging.getLogger(__name__)


def start_local_ray(num_cpus: float | None = None) -> None:
    """Start a new local Ray for tripod: no dashboard, no usage stats, warnings only.

    It never joins a cluster that ``ray start`` runs on this machine (a plain ``ray.init()``
    would); to use one, set ``RAY_ADDRESS`` or call ``ray.init(address=...)`` first.

    Args:
        num_cpus: CPUs Ray may hand out (default: this machine's).
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(
        address="local",  # a new Ray of its own, even where `ray start` runs one on this machine
        num_cpus=int(num_cpus if num_cpus is not None else (os.cpu_count() or 1)),
        include_dashboard=False,
        logging_level=logging.WARNING,
        log_to_driver=True,
    )


def ensure_ray(config: Any) -> None:
    """Make sure Ray is initialised and can place what ``config`` asks for.

    Raises:
        ConfigError: The config asks for more CPUs (or GPUs) than the machine or cluster has,
            naming both numbers and the settings to lower.
    """
    needed = float(config.ray_cpus_needed)
    started = False
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        if address:
            logger.info("Joining the Ray cluster at RAY_ADDRESS=%s", address)
            ray.init(address=address, logging_level=logging.WARNING)
        else:
            available = os.cpu_count() or 1
            if needed > available:
                raise ConfigError(_too_many(config, needed, available, "this machine has"))
            start_local_ray(available)
            started = True
    resources = ray.cluster_resources()
    cpus = float(resources.get("CPU", 0.0))
    if not started and needed > cpus:
        raise ConfigError(_too_many(config, needed, cpus, "the Ray cluster has"))
    gpus = config.num_learners * config.num_gpus_per_learner
    if gpus > float(resources.get("GPU", 0.0)):
        raise ConfigError(
            f"{type(config).__name__}: num_learners={config.num_learners} x num_gpus_per_learner="
            f"{config.num_gpus_per_learner} asks for {gpus:g} GPUs; the Ray cluster has "
            f"{resources.get('GPU', 0):g}. Lower num_gpus_per_learner, or set it to 0 to train on CPUs."
        )


def _too_many(config: Any, needed: float, available: float, where: str) -> str:
    parts = [
        f"num_env_runners={config.num_env_runners}",
        f"evaluation_num_env_runners={config.evaluation_num_env_runners}",
        f"num_cpus_per_env_runner={config.num_cpus_per_env_runner}",
    ]
    if config.num_learners:
        parts += [f"num_learners={config.num_learners}", f"num_cpus_per_learner={config.num_cpus_per_learner}"]
    return (
        f"{type(config).__name__}: {', '.join(parts)} ask Ray for {needed:g} CPUs; {where} {available:g}. "
        "Give each runner a fraction of a CPU (e.g. .env_runners(num_cpus_per_env_runner=0.5)), use fewer "
        "runners, or join a bigger cluster (RAY_ADDRESS or ray.init(address=...))."
    )
