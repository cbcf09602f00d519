"""PPO: config and algorithm (RLlib path ``tripod.algorithms.ppo.ppo``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from tripod.algorithms.algorithm import Algorithm
from tripod.algorithms.algorithm_config import AlgorithmConfig, NotProvided
from tripod.algorithms.config_checks import BOOL, number, optional, schedule, setting
from tripod.algorithms.ppo.ppo_learner import PPOLearner
from tripod.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule


def _training(default: Any, check: Any, doc: str) -> Any:
    return setting(default, check=check, doc=doc, method="training")


@dataclasses.dataclass
class PPOConfig(AlgorithmConfig):
    """Proximal Policy Optimization settings (each declaration below says what it does).

    PPO changes two common defaults: ``num_epochs=10`` and ``grad_clip=0.5``.
    """

    lambda_: float = _training(0.95, number(0, 1), "GAE λ: 1 is Monte-Carlo returns, 0 one-step TD")
    use_critic: bool = _training(
        True,
        BOOL,
        "learn a value function and use GAE; needs a module with `ValueFunctionAPI`. `False`: advantages are "
        "plain discounted returns",
    )
    clip_param: float = _training(
        0.2, number(0, low_open=True), "the clip range ε of the probability ratio in the surrogate objective"
    )
    vf_clip_param: float | None = _training(
        None,
        optional(number(0, low_open=True)),
        "clamp each squared value error at this value (`None`: no clamp)",
    )
    vf_loss_coeff: float = _training(0.5, number(0), "weight of the value loss")
    entropy_coeff: float | list = _training(
        0.0,
        schedule(0.0),
        "weight of the entropy bonus: a number, or a schedule `[[env_step, value], ...]` like `lr`'s "
        "([Learning-rate schedules](#learning-rate-schedules)); reported as `curr_entropy_coeff`",
    )
    use_kl_loss: bool = _training(False, BOOL, "add `kl_coeff * KL(old ‖ new)` to the loss")
    kl_coeff: float = _training(
        0.2,
        number(0),
        "initial KL coefficient; adapted after each update (×1.5 when the KL exceeds 2 × `kl_target`, ×0.5 when "
        "it is below ½ × `kl_target`)",
    )
    kl_target: float = _training(0.01, number(0, low_open=True), "the KL the adaptation aims at")
    normalize_advantages: bool = _training(True, BOOL, "standardise advantages over each sampled batch")
    num_epochs: int = 10
    grad_clip: float | None = 0.5

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
        return self._fluent("training", locals())


class PPO(Algorithm):
    """Proximal Policy Optimization (clipped surrogate objective, GAE)."""

    config_class = PPOConfig
    learner_class = PPOLearner
    default_module_class = DefaultPPOTorchRLModule


PPOConfig.algo_class = PPO
