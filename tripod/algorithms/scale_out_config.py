"""The settings that scale an algorithm out on Ray: remote env runners, evaluation runners, learners.

:class:`ScaleOutSettings` is a base of :class:`~tripod.algorithms.algorithm_config.AlgorithmConfig`;
its settings are set with ``.env_runners()``, ``.evaluation()`` and ``.learners()`` as in RLlib.
All of them are inert while ``num_env_runners``, ``evaluation_num_env_runners`` and
``num_learners`` are 0: then everything runs in the training process and Ray is never imported.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tripod.algorithms.config_checks import BOOL, ConfigError, NotProvided, integer, number, setting

__all__ = ["ScaleOutSettings"]

_CPUS_DOC = (
    "CPUs Ray reserves for each remote env runner (fractions allowed: `0.5` puts two runners on one core); "
    "used when `num_env_runners > 0` or `evaluation_num_env_runners > 0`"
)


@dataclasses.dataclass
class ScaleOutSettings:
    """Remote env runners, fault tolerance, evaluation runners and remote learners (RLlib's names)."""

    num_cpus_per_env_runner: float = setting(
        1, check=number(0, low_open=True), doc=_CPUS_DOC, method="env_runners"
    )
    restart_failed_env_runners: bool = setting(
        True,
        check=BOOL,
        doc="replace a remote env runner that dies or stops answering; the iteration goes on with the "
        "others. `False`: the error stops training",
        method="env_runners",
    )
    max_num_env_runner_restarts: int = setting(
        1000,
        check=integer(0),
        doc="remote env runner replacements allowed over a run; one more failure stops training",
        method="env_runners",
    )
    sample_timeout_s: float = setting(
        60.0,
        check=number(0, low_open=True),
        doc="seconds a remote env runner may take for one `sample()` call before it counts as failed "
        "(killed, and replaced when `restart_failed_env_runners`)",
        method="env_runners",
    )
    async_sampling: bool = setting(
        False,
        check=BOOL,
        doc="PPO and PG with remote env runners: the runners sample the next batch while the learner "
        "updates, with weights one iteration old (`env_runners/weights_staleness` in the results)",
        method="env_runners",
    )
    evaluation_num_env_runners: int = setting(
        0,
        check=integer(0),
        doc="remote env runners for evaluation (Ray); 0: evaluation runs in the training process",
        method="evaluation",
    )
    evaluation_parallel_to_training: bool = setting(
        False,
        check=BOOL,
        doc="evaluate on the evaluation runners while the iteration trains (with the weights the "
        "iteration started with); needs `evaluation_num_env_runners >= 1`",
        method="evaluation",
    )
    num_learners: int = setting(
        0,
        check=integer(0),
        doc="learner actors on Ray training data-parallel (each batch split between them, gradients "
        "averaged with torch.distributed); 0: one learner in the training process",
        method="learners",
    )
    num_cpus_per_learner: float = setting(
        1, check=number(0, low_open=True), doc="CPUs Ray reserves for each remote learner", method="learners"
    )
    num_gpus_per_learner: float = setting(
        0,
        check=number(0),
        doc="GPUs for each remote learner (with `num_learners > 0`; the local learner uses `device`); "
        "learners with GPUs reduce gradients with NCCL, on CPUs with gloo",
        method="learners",
    )

    def learners(
        self,
        *,
        num_learners: Any = NotProvided,
        num_cpus_per_learner: Any = NotProvided,
        num_gpus_per_learner: Any = NotProvided,
        **unknown: Any,
    ) -> Any:
        """Set the learners: ``num_learners`` Ray actors (0: one learner in this process)."""
        return self._fluent("learners", locals())  # type: ignore[attr-defined]

    def fault_tolerance(
        self,
        *,
        restart_failed_env_runners: Any = NotProvided,
        max_num_env_runner_restarts: Any = NotProvided,
        restart_failed_sub_environments: Any = NotProvided,
        **unknown: Any,
    ) -> Any:
        """RLlib's ``.fault_tolerance()``: sets the same settings as ``.env_runners()`` does."""
        self._reject_unknown("fault_tolerance", unknown)  # type: ignore[attr-defined]
        return self.env_runners(  # type: ignore[attr-defined]
            restart_failed_env_runners=restart_failed_env_runners,
            max_num_env_runner_restarts=max_num_env_runner_restarts,
            restart_failed_sub_environments=restart_failed_sub_environments,
        )

    @property
    def uses_ray(self) -> bool:
        """Whether this config runs anything on Ray (remote env runners, evaluation runners or learners)."""
        return bool(self.num_env_runners or self.evaluation_num_env_runners or self.num_learners)  # type: ignore[attr-defined]

    @property
    def ray_cpus_needed(self) -> float:
        """CPUs the config asks Ray to reserve: runners, evaluation runners and learners together."""
        runners = self.num_env_runners + self.evaluation_num_env_runners  # type: ignore[attr-defined]
        return runners * self.num_cpus_per_env_runner + self.num_learners * self.num_cpus_per_learner

    def _validate_scale_out(self) -> None:
        """The rules between the scale-out settings (called by ``validate``)."""
        name = type(self).__name__
        if self.evaluation_parallel_to_training and self.evaluation_num_env_runners == 0:
            raise ConfigError(
                f"{name}: evaluation_parallel_to_training=True needs evaluation runners of its own to run "
                "beside training. Set .evaluation(evaluation_num_env_runners=1) (Ray), or drop "
                "evaluation_parallel_to_training."
            )
        device = self.device  # type: ignore[attr-defined]
        if self.num_learners > 0 and device != "cpu":
            raise ConfigError(
                f"{name}: device={device!r} sets the device of the learner in this process, but "
                f"num_learners={self.num_learners} trains on remote learners. Use "
                ".learners(num_gpus_per_learner=1) for GPUs on the remote learners and keep device='cpu', "
                "or set num_learners=0 to train on this process's device."
            )
        if self.num_learners == 0 and self.num_gpus_per_learner > 0:
            raise ConfigError(
                f"{name}: num_gpus_per_learner={self.num_gpus_per_learner} is for remote learners, but "
                "num_learners=0 trains in this process. Set .resources(device='cuda') for the local "
                "learner, or .learners(num_learners=1, num_gpus_per_learner=1)."
            )
        gpus = self.num_gpus_per_learner
        if self.num_learners > 1 and 0 < gpus < 1:
            raise ConfigError(
                f"{name}: num_gpus_per_learner={gpus:g} with num_learners={self.num_learners} puts several "
                "learners on one GPU, and NCCL cannot reduce gradients between learners that share a GPU. "
                "Give each learner a whole GPU (num_gpus_per_learner=1), use one learner (num_learners=1), "
                "or train on CPUs (num_gpus_per_learner=0)."
            )
        if self.async_sampling and self.num_env_runners == 0:
            raise ConfigError(
                f"{name}: async_sampling=True lets remote env runners sample while the learner updates; "
                "with num_env_runners=0 there are none. Set .env_runners(num_env_runners=1) or more, or "
                "async_sampling=False."
            )
