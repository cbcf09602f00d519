"""PPO (RLlib path: ``tripod.algorithms.ppo``)."""

from tripod.algorithms.ppo.default_ppo_rl_module import DefaultPPOTorchRLModule
from tripod.algorithms.ppo.ppo import PPO, PPOConfig
from tripod.algorithms.ppo.ppo_learner import PPOLearner

__all__ = ["PPO", "PPOConfig", "PPOLearner", "DefaultPPOTorchRLModule"]
