"""Policy gradient (REINFORCE): config and algorithm."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from tripod.algorithms.algorithm import Algorithm
from tripod.algorithms.algorithm_config import AlgorithmConfig, NotProvided, _is_number
from tripod.algorithms.pg.pg_learner import PGLearner
from tripod.algorithms.ppo.default_ppo_rl_module import DefaultPPOTorchRLModule


@dataclasses.dataclass
class PGConfig(AlgorithmConfig):
    """REINFORCE settings.

    Args (via ``.training(...)``, besides the common ones):
        use_baseline: Subtract a learned V(s) (needs ``ValueFunctionAPI``). None:
            use one exactly when the module has a value function.
        entropy_coeff, vf_loss_coeff: Loss weights.
        normalize_advantages: Standardise returns/advantages per batch.
    """

    use_baseline: bool | None = None
    entropy_coeff: float = 0.0
    vf_loss_coeff: float = 0.5
    normalize_advantages: bool = True
    lr: Any = 1e-3
    minibatch_size: int | None = None
    num_epochs: int = 1
    train_batch_size_per_learner: int = 2000

    _CHECKS: ClassVar[dict] = {
        "use_baseline": (lambda v: v is None or isinstance(v, bool), "None, True or False"),
        "entropy_coeff": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
        "vf_loss_coeff": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
        "normalize_advantages": (lambda v: isinstance(v, bool), "True or False"),
    }

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
        return self._set(
            use_baseline=use_baseline,
            entropy_coeff=entropy_coeff,
            vf_loss_coeff=vf_loss_coeff,
            normalize_advantages=normalize_advantages,
        )


class PG(Algorithm):
    """Vanilla policy gradient (REINFORCE), optionally with a value baseline."""

    config_class = PGConfig
    learner_class = PGLearner
    default_module_class = DefaultPPOTorchRLModule


PGConfig.algo_class = PG
