"""SAC: config and algorithm (RLlib path ``tripod.algorithms.sac.sac``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from tripod.algorithms.algorithm_config import NotProvided
from tripod.algorithms.config_checks import BOOL, Check, is_number, number, optional, schedule, setting
from tripod.algorithms.off_policy import OffPolicyAlgorithm
from tripod.algorithms.off_policy_config import OffPolicyConfig
from tripod.algorithms.sac.sac_learner import SACLearner
from tripod.algorithms.sac.torch.default_sac_torch_rl_module import DefaultSACTorchRLModule

_LR = schedule(1e-12, text="a number > 0 or a schedule [[env_step, lr], ...]")


def _training(default: Any, check: Any, doc: str) -> Any:
    return setting(default, check=check, doc=doc, method="training")


@dataclasses.dataclass
class SACConfig(OffPolicyConfig):
    """Soft Actor-Critic settings (continuous Box actions; each declaration below says what it does).

    Until ``num_steps_sampled_before_learning_starts`` steps were sampled, actions
    are drawn uniformly from the action space. Targets are Polyak-averaged with
    ``tau`` after every update (``target_network_update_freq=0``).
    """

    twin_q: bool = _training(True, BOOL, "two critics, the smaller value used in targets and the actor loss")
    initial_alpha: float = _training(1.0, number(0, low_open=True), "starting entropy temperature α")
    target_entropy: str | float = _training(
        "auto",
        Check(lambda v: v == "auto" or is_number(v), "'auto' or a number"),
        '`"auto"` (`-prod(action_shape)`) or a number; α is tuned so that the policy\'s entropy approaches it',
    )
    actor_lr: Any = _training(3e-4, _LR, "learning rate of the policy (a number or a schedule)")
    critic_lr: Any = _training(3e-4, _LR, "learning rate of the critics (a number or a schedule)")
    alpha_lr: Any = _training(3e-4, _LR, "learning rate of log(α) (a number or a schedule)")
    lr: Any = _training(
        None,
        optional(schedule(0.0, text="a number >= 0 or a schedule [[env_step, lr], ...]")),
        "not used by SAC, which has `actor_lr`, `critic_lr` and `alpha_lr` (`None`, as in RLlib)",
    )
    replay_buffer_capacity: int = 1_000_000
    num_steps_sampled_before_learning_starts: int = 1500

    def training(
        self,
        *,
        twin_q: Any = NotProvided,
        initial_alpha: Any = NotProvided,
        target_entropy: Any = NotProvided,
        actor_lr: Any = NotProvided,
        critic_lr: Any = NotProvided,
        alpha_lr: Any = NotProvided,
        **common: Any,
    ) -> SACConfig:
        """SAC's settings plus those of :meth:`OffPolicyConfig.training`."""
        super().training(**common)
        return self._fluent("training", locals())


class SAC(OffPolicyAlgorithm):
    """Soft Actor-Critic with twin critics, Polyak targets and automatic entropy tuning."""

    config_class = SACConfig
    learner_class = SACLearner
    default_module_class = DefaultSACTorchRLModule

    @classmethod
    def default_model_config(cls, config: Any, module_class: type | None) -> dict[str, Any]:
        model_config = super().default_model_config(config, module_class)
        if module_class is DefaultSACTorchRLModule:
            model_config.setdefault("twin_q", config.twin_q)
        return model_config

    def sample_random_actions(self) -> bool:
        return self.num_env_steps_sampled_lifetime < self.config.num_steps_sampled_before_learning_starts


SACConfig.algo_class = SAC
