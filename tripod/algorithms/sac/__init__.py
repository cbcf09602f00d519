"""SAC (RLlib path: ``tripod.algorithms.sac``)."""

from tripod.algorithms.sac.sac import SAC, SACConfig
from tripod.algorithms.sac.sac_learner import SACLearner
from tripod.algorithms.sac.torch.default_sac_torch_rl_module import DefaultSACTorchRLModule

__all__ = ["SAC", "SACConfig", "SACLearner", "DefaultSACTorchRLModule"]
