"""DQN (RLlib path: ``tripod.algorithms.dqn``)."""

from tripod.algorithms.dqn.dqn import DQN, DQNConfig
from tripod.algorithms.dqn.dqn_learner import DQNLearner
from tripod.algorithms.dqn.torch.default_dqn_torch_rl_module import DefaultDQNTorchRLModule

__all__ = ["DQN", "DQNConfig", "DQNLearner", "DefaultDQNTorchRLModule"]
