"""SAC: config and algorithm (RLlib path ``tripod.algorithms.sac.sac``)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from tripod.algorithms.algorithm_config import NotProvided, _is_number
from tripod.algorithms.off_policy import OffPolicyAlgorithm
from tripod.algorithms.off_policy_config import OffPolicyConfig, is_schedule
from tripod.algorithms.sac.default_sac_rl_module import DefaultSACTorchRLModule
from tripod.algorithms.sac.sac_learner import SACLearner

_LR_HELP = "a number > 0 or a schedule [[env_step, lr], ...]"


@dataclasses.dataclass
class SACConfig(OffPolicyConfig):
    """Soft Actor-Critic settings (continuous Box actions).

    Args (via ``.training(...)``, besides the off-policy and common ones):
        twin_q: Two critics, the smaller value used in targets and the actor loss.
        initial_alpha: Starting entropy temperature ``alpha``.
        target_entropy: ``"auto"`` (``-prod(action_shape)``) or a number; alpha is
            tuned so that the policy's entropy approaches it.
        actor_lr, critic_lr, alpha_lr: Learning rates (numbers or schedules) of the
            policy, the critics and ``log(alpha)``. ``lr`` is not used by SAC.

    Until ``num_steps_sampled_before_learning_starts`` steps were sampled, actions
    are drawn uniformly from the action space. Targets are Polyak-averaged with
    ``tau`` after every update (``target_network_update_freq=0``).
    """

    twin_q: bool = True
    initial_alpha: float = 1.0
    target_entropy: str | float = "auto"
    actor_lr: Any = 3e-4
    critic_lr: Any = 3e-4
    alpha_lr: Any = 3e-4
    lr: Any = None
    replay_buffer_capacity: int = 1_000_000
    num_steps_sampled_before_learning_starts: int = 1500

    _CHECKS: ClassVar[dict] = {
        "twin_q": (lambda v: isinstance(v, bool), "True or False"),
        "initial_alpha": (lambda v: _is_number(v) and v > 0, "a number > 0"),
        "target_entropy": (lambda v: v == "auto" or _is_number(v), "'auto' or a number"),
        "actor_lr": (lambda v: is_schedule(v, 1e-12), _LR_HELP),
        "critic_lr": (lambda v: is_schedule(v, 1e-12), _LR_HELP),
        "alpha_lr": (lambda v: is_schedule(v, 1e-12), _LR_HELP),
    }

    def _check_field(self, name: str) -> None:
        if name == "lr" and self.lr is None:  # SAC has per-network rates (RLlib sets lr=None too)
            return
        super()._check_field(name)

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
        return self._set(
            twin_q=twin_q,
            initial_alpha=initial_alpha,
            target_entropy=target_entropy,
            actor_lr=actor_lr,
            critic_lr=critic_lr,
            alpha_lr=alpha_lr,
        )


class SAC(OffPolicyAlgorithm):
    """Soft Actor-Critic with twin critics, Polyak targets and automatic entropy tuning."""

    config_class = SACConfig
    learner_class = SACLearner
    default_module_class = DefaultSACTorchRLModule

    def default_model_config(self, module_class: type | None) -> dict[str, Any]:
        config = super().default_model_config(module_class)
        if module_class is DefaultSACTorchRLModule:
            config.setdefault("twin_q", self.config.twin_q)
        return config

    def sample_random_actions(self) -> bool:
        return self.num_env_steps_sampled_lifetime < self.config.num_steps_sampled_before_learning_starts


SACConfig.algo_class = SAC
