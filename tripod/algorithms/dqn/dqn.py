"""DQN: config and algorithm (RLlib path ``tripod.algorithms.dqn.dqn``)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from tripod.algorithms.algorithm_config import NotProvided, schedule_value
from tripod.algorithms.dqn.default_dqn_rl_module import DefaultDQNTorchRLModule
from tripod.algorithms.dqn.dqn_learner import DQNLearner
from tripod.algorithms.off_policy import OffPolicyAlgorithm
from tripod.algorithms.off_policy_config import OffPolicyConfig, is_schedule


def _is_probability_schedule(value: Any) -> bool:
    if not is_schedule(value):
        return False
    return all(p[1] <= 1 for p in value) if isinstance(value, list | tuple) else value <= 1


@dataclasses.dataclass
class DQNConfig(OffPolicyConfig):
    """Deep Q-Network settings (discrete actions).

    Args (via ``.training(...)``, besides the off-policy and common ones):
        double_q: Pick the next action with the online network and evaluate it
            with the target network (van Hasselt et al. 2016).
        dueling: The default module's dueling heads ``Q = V + A - mean(A)``.
        epsilon: Exploration probability: a number or a schedule over env steps,
            ``[[0, 1.0], [10_000, 0.05]]`` (linear in between, then constant).
        td_error_loss_fn: ``"huber"`` (Huber loss, delta 1) or ``"mse"`` (½ squared error).

    Defaults otherwise follow RLlib: lr 5e-4, batch 32, buffer 50k, hard target
    updates (``tau=1``) every 500 env steps, learning after 1000 steps, and one
    update per 4 sampled steps (``training_intensity=0.25``).
    """

    double_q: bool = True
    dueling: bool = True
    epsilon: float | list = dataclasses.field(default_factory=lambda: [[0, 1.0], [10_000, 0.05]])
    td_error_loss_fn: str = "huber"
    lr: Any = 5e-4
    grad_clip: float | None = 10.0
    train_batch_size_per_learner: int = 32
    replay_buffer_capacity: int = 50_000
    target_network_update_freq: int = 500
    tau: float = 1.0
    training_intensity: float = 0.25

    _CHECKS: ClassVar[dict] = {
        "double_q": (lambda v: isinstance(v, bool), "True or False"),
        "dueling": (lambda v: isinstance(v, bool), "True or False"),
        "epsilon": (
            _is_probability_schedule,
            "a probability in [0, 1] or a schedule [[env_step, epsilon], ...]",
        ),
        "td_error_loss_fn": (lambda v: v in ("huber", "mse"), "'huber' or 'mse'"),
    }

    def training(
        self,
        *,
        double_q: Any = NotProvided,
        dueling: Any = NotProvided,
        epsilon: Any = NotProvided,
        td_error_loss_fn: Any = NotProvided,
        **common: Any,
    ) -> DQNConfig:
        """DQN's settings plus those of :meth:`OffPolicyConfig.training`."""
        super().training(**common)
        return self._set(
            double_q=double_q, dueling=dueling, epsilon=epsilon, td_error_loss_fn=td_error_loss_fn
        )


class DQN(OffPolicyAlgorithm):
    """DQN with double Q-learning, dueling heads, n-step returns and prioritized replay."""

    config_class = DQNConfig
    learner_class = DQNLearner
    default_module_class = DefaultDQNTorchRLModule

    def default_model_config(self, module_class: type | None) -> dict[str, Any]:
        config = super().default_model_config(module_class)
        if module_class is DefaultDQNTorchRLModule:
            config.setdefault("dueling", self.config.dueling)
        return config

    def current_epsilon(self) -> float:
        """The exploration probability at the current env step."""
        return schedule_value(self.config.epsilon, self.num_env_steps_sampled_lifetime)

    def before_sample(self) -> None:
        # The runner's module reads this attribute in _forward_exploration.
        module = getattr(self.env_runner, "module", None)
        if module is not None:
            module.epsilon = self.current_epsilon()

    def exploration_metrics(self) -> dict[str, float]:
        return {**super().exploration_metrics(), "epsilon": self.current_epsilon()}


DQNConfig.algo_class = DQN
