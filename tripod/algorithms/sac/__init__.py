"""SAC (RLlib path: ``tripod.algorithms.sac``)."""

from tripod.algorithms.sac.default_sac_rl_module import DefaultSACTorchRLModule
from tripod.algorithms.sac.sac import SAC, SACConfig
from tripod.algorithms.sac.sac_learner import SACLearner

__all__ = ["SAC", "SACConfig", "SACLearner", "DefaultSACTorchRLModule"]
