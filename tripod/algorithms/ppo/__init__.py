"""PPO (RLlib path: ``tripod.algorithms.ppo``)."""

from tripod.algorithms.ppo.ppo import PPO, PPOConfig
from tripod.algorithms.ppo.ppo_learner import PPOLearner
from tripod.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule

__all__ = ["PPO", "PPOConfig", "PPOLearner", "DefaultPPOTorchRLModule"]
