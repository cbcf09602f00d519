"""DQN (RLlib path: ``tripod.algorithms.dqn``)."""

from tripod.algorithms.dqn.default_dqn_rl_module import DefaultDQNTorchRLModule
from tripod.algorithms.dqn.dqn import DQN, DQNConfig
from tripod.algorithms.dqn.dqn_learner import DQNLearner

__all__ = ["DQN", "DQNConfig", "DQNLearner", "DefaultDQNTorchRLModule"]
