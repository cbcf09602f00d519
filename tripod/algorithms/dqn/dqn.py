"""DQN: config and algorithm (RLlib path ``tripod.algorithms.dqn.dqn``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from tripod.algorithms.algorithm_config import NotProvided
from tripod.algorithms.config_checks import BOOL, one_of, schedule, setting
from tripod.algorithms.dqn.dqn_learner import DQNLearner
from tripod.algorithms.dqn.torch.default_dqn_torch_rl_module import DefaultDQNTorchRLModule
from tripod.algorithms.off_policy import OffPolicyAlgorithm
from tripod.algorithms.off_policy_config import OffPolicyConfig
from tripod.learner.schedules import schedule_value


def _training(default: Any, check: Any, doc: str) -> Any:
    return setting(default, check=check, doc=doc, method="training")


@dataclasses.dataclass
class DQNConfig(OffPolicyConfig):
    """Deep Q-Network settings (discrete actions; each declaration below says what it does).

    Defaults otherwise follow RLlib: lr 5e-4, batch 32, buffer 50k, hard target
    updates (``tau=1``) every 500 env steps, learning after 1000 steps, and one
    update per 4 sampled steps (``training_intensity=0.25``).
    """

    double_q: bool = _training(
        True,
        BOOL,
        "pick the next action with the online network and evaluate it with the target network (van Hasselt "
        "et al. 2016)",
    )
    dueling: bool = _training(True, BOOL, "the default module's dueling heads `Q = V + A - mean(A)`")
    epsilon: float | list = _training(
        [[0, 1.0], [10_000, 0.05]],
        schedule(0.0, maximum=1.0, text="a probability in [0, 1] or a schedule [[env_step, epsilon], ...]"),
        "exploration probability: a number or a schedule over env steps (linear in between, then constant)",
    )
    td_error_loss_fn: str = _training(
        "huber", one_of("huber", "mse"), '`"huber"` (Huber loss, delta 1) or `"mse"` (½ squared error)'
    )
    lr: Any = 5e-4
    grad_clip: float | None = 10.0
    train_batch_size_per_learner: int = 32
    replay_buffer_capacity: int = 50_000
    target_network_update_freq: int = 500
    tau: float = 1.0
    training_intensity: float = 0.25

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
        return self._fluent("training", locals())


class DQN(OffPolicyAlgorithm):
    """DQN with double Q-learning, dueling heads, n-step returns and prioritized replay."""

    config_class = DQNConfig
    learner_class = DQNLearner
    default_module_class = DefaultDQNTorchRLModule

    @classmethod
    def default_model_config(cls, config: Any, module_class: type | None) -> dict[str, Any]:
        model_config = super().default_model_config(config, module_class)
        if module_class is DefaultDQNTorchRLModule:
            model_config.setdefault("dueling", config.dueling)
        return model_config

    def current_epsilon(self) -> float:
        """The exploration probability at the current env step."""
        return schedule_value(self.config.epsilon, self.num_env_steps_sampled_lifetime)

    def exploration_values(self) -> dict[str, Any]:
        """``{"epsilon": current_epsilon()}``, sent to the env runners with the weights (their modules
        read ``epsilon`` in ``forward_exploration``)."""
        return {"epsilon": self.current_epsilon()}

    def exploration_metrics(self) -> dict[str, float]:
        return {**super().exploration_metrics(), "epsilon": self.current_epsilon()}


DQNConfig.algo_class = DQN
