"""Policy gradient (REINFORCE): config and algorithm."""

from __future__ import annotations

import dataclasses
from typing import Any

from tripod.algorithms.algorithm import Algorithm
from tripod.algorithms.algorithm_config import AlgorithmConfig, NotProvided
from tripod.algorithms.config_checks import BOOL, number, optional, schedule, setting
from tripod.algorithms.pg.pg_learner import PGLearner
from tripod.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule


def _training(default: Any, check: Any, doc: str) -> Any:
    return setting(default, check=check, doc=doc, method="training")


@dataclasses.dataclass
class PGConfig(AlgorithmConfig):
    """REINFORCE settings (each declaration below says what it does).

    PG changes common defaults: ``lr=1e-3``, ``train_batch_size_per_learner=2000``,
    ``minibatch_size=None`` (one gradient step on the whole batch), ``num_epochs=1``.
    """

    use_baseline: bool | None = _training(
        None,
        optional(BOOL),
        "subtract a learned V(s) (needs `ValueFunctionAPI`); `None`: exactly when the module has a value "
        "function (the default module has one)",
    )
    entropy_coeff: float | list = _training(
        0.0,
        schedule(0.0),
        "weight of the entropy bonus: a number, or a schedule `[[env_step, value], ...]` like `lr`'s "
        "([Learning-rate schedules](#learning-rate-schedules)); reported as `curr_entropy_coeff`",
    )
    vf_loss_coeff: float = _training(0.5, number(0), "weight of the baseline's value loss")
    normalize_advantages: bool = _training(True, BOOL, "standardise returns (or advantages) over each batch")
    lr: Any = 1e-3
    minibatch_size: int | None = None
    num_epochs: int = 1
    train_batch_size_per_learner: int = 2000

    def training(
        self,
        *,
        use_baseline: Any = NotProvided,
        entropy_coeff: Any = NotProvided,
        vf_loss_coeff: Any = NotProvided,
        normalize_advantages: Any = NotProvided,
        **common: Any,
    ) -> PGConfig:
        """PG's settings plus the common ones of :meth:`AlgorithmConfig.training`."""
        super().training(**common)
        return self._fluent("training", locals())


class PG(Algorithm):
    """Vanilla policy gradient (REINFORCE), optionally with a value baseline."""

    config_class = PGConfig
    learner_class = PGLearner
    default_module_class = DefaultPPOTorchRLModule


PGConfig.algo_class = PG
