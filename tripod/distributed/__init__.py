"""tripod on Ray: remote env runners, remote learners, Tune.

The only package of tripod that imports ``ray`` (``pip install 'tripod-rl[ray]'``).
Algorithms reach it through :mod:`tripod.algorithms.scale_out` when a config asks for
``num_env_runners > 0``, ``evaluation_num_env_runners > 0`` or ``num_learners > 0``;
user code does not import it (except for Tune). See ``docs/scaling.md``.
"""

from tripod.distributed.cluster import ensure_ray, start_local_ray
from tripod.distributed.env_runner_group import RemoteEnvRunnerGroup
from tripod.distributed.learner_group import LearnerFailedError, RemoteLearnerGroup

_TUNE_NAMES = (
    "TripodTrainable",
    "config_from_tune_params",
    "placement_group_factory",
    "register_tune_trainables",
    "trainable",
    "tune_param_space",
)
__all__ = [
    "LearnerFailedError",
    "RemoteEnvRunnerGroup",
    "RemoteLearnerGroup",
    "ensure_ray",
    "start_local_ray",
    *_TUNE_NAMES,
]


def __getattr__(name: str):
    """Tune's names, imported when first asked for (importing ``ray.tune`` costs ~0.6 s and registers
    ``"tripod/PPO"`` and the other trainables)."""
    if name in _TUNE_NAMES:
        from tripod.distributed import tune

        return getattr(tune, name)
    raise AttributeError(f"module 'tripod.distributed' has no attribute '{name}'")
