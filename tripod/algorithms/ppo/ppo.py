"""PPO: config and algorithm (RLlib path ``tripod.algorithms.ppo.ppo``)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from tripod.algorithms.algorithm import Algorithm
from tripod.algorithms.algorithm_config import AlgorithmConfig, NotProvided, _is_number
from tripod.algorithms.ppo.default_ppo_rl_module import DefaultPPOTorchRLModule
from tripod.algorithms.ppo.ppo_learner import PPOLearner


@dataclasses.dataclass
class PPOConfig(AlgorithmConfig):
    """Proximal Policy Optimization settings.

    Args (via ``.training(...)``, besides the common ones):
        lambda_: GAE lambda.
        use_critic: Learn a value function (needs ``ValueFunctionAPI``); False uses
            plain discounted returns as advantages.
        clip_param: PPO clip range of the probability ratio.
        vf_clip_param: Clamp of the squared value error (None: no clamp).
        vf_loss_coeff, entropy_coeff: Loss weights.
        use_kl_loss, kl_coeff, kl_target: Adaptive KL penalty.
        normalize_advantages: Standardise advantages per batch.
    """

    lambda_: float = 0.95
    use_critic: bool = True
    clip_param: float = 0.2
    vf_clip_param: float | None = None
    vf_loss_coeff: float = 0.5
    entropy_coeff: float = 0.0
    use_kl_loss: bool = False
    kl_coeff: float = 0.2
    kl_target: float = 0.01
    normalize_advantages: bool = True
    num_epochs: int = 10
    grad_clip: float | None = 0.5

    _CHECKS: ClassVar[dict] = {
        "lambda_": (lambda v: _is_number(v) and 0.0 <= v <= 1.0, "a number in [0, 1]"),
        "use_critic": (lambda v: isinstance(v, bool), "True or False"),
        "clip_param": (lambda v: _is_number(v) and v > 0, "a number > 0"),
        "vf_clip_param": (lambda v: v is None or (_is_number(v) and v > 0), "None or a number > 0"),
        "vf_loss_coeff": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
        "entropy_coeff": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
        "use_kl_loss": (lambda v: isinstance(v, bool), "True or False"),
        "kl_coeff": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
        "kl_target": (lambda v: _is_number(v) and v > 0, "a number > 0"),
        "normalize_advantages": (lambda v: isinstance(v, bool), "True or False"),
    }

    def training(
        self,
        *,
        lambda_: Any = NotProvided,
        use_critic: Any = NotProvided,
        clip_param: Any = NotProvided,
        vf_clip_param: Any = NotProvided,
        vf_loss_coeff: Any = NotProvided,
        entropy_coeff: Any = NotProvided,
        use_kl_loss: Any = NotProvided,
        kl_coeff: Any = NotProvided,
        kl_target: Any = NotProvided,
        normalize_advantages: Any = NotProvided,
        **common: Any,
    ) -> PPOConfig:
        """PPO's settings plus the common ones of :meth:`AlgorithmConfig.training`."""
        super().training(**common)
        return self._set(
            lambda_=lambda_,
            use_critic=use_critic,
            clip_param=clip_param,
            vf_clip_param=vf_clip_param,
            vf_loss_coeff=vf_loss_coeff,
            entropy_coeff=entropy_coeff,
            use_kl_loss=use_kl_loss,
            kl_coeff=kl_coeff,
            kl_target=kl_target,
            normalize_advantages=normalize_advantages,
        )


class PPO(Algorithm):
    """Proximal Policy Optimization (clipped surrogate objective, GAE)."""

    config_class = PPOConfig
    learner_class = PPOLearner
    default_module_class = DefaultPPOTorchRLModule


PPOConfig.algo_class = PPO
