"""Torch RL modules (RLlib path: ``ray.rllib.core.rl_module.torch``)."""

from tripod.core.rl_module.torch.torch_rl_module import TorchRLModule

__all__ = ["TorchRLModule"]
