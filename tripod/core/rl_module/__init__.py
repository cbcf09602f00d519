"""RL modules (RLlib path: ``ray.rllib.core.rl_module``)."""

from tripod.core.rl_module.multi_rl_module import MultiRLModule, MultiRLModuleSpec
from tripod.core.rl_module.rl_module import RLModule, RLModuleSpec

__all__ = ["MultiRLModule", "MultiRLModuleSpec", "RLModule", "RLModuleSpec"]
