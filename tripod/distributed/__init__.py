"""tripod on Ray: remote env runners, remote learners, Tune.

The only package of tripod that imports ``ray`` (``pip install 'tripod-rl[ray]'``).
Algorithms reach it through :mod:`tripod.algorithms.scale_out` when a config asks for
``num_env_runners > 0``, ``evaluation_num_env_runners > 0`` or ``num_learners > 0``;
user code does not import it (except for Tune). See ``docs/scaling.md``.
"""

from tripod.distributed.cluster import ensure_ray, start_local_ray
from tripod.distributed.env_runner_group import RemoteEnvRunnerGroup

__all__ = ["RemoteEnvRunnerGroup", "ensure_ray", "start_local_ray"]
