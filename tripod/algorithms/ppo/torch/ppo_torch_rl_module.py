"""The older name of PPO's default torch module (RLlib path:
``ray.rllib.algorithms.ppo.torch.ppo_torch_rl_module``).

``PPOTorchRLModule`` is :class:`DefaultPPOTorchRLModule` itself (the same class, as in
RLlib 2.60, where this path is kept for code written against older versions).
"""

from __future__ import annotations

from tripod.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule

__all__ = ["PPOTorchRLModule"]

#: The same class as :class:`DefaultPPOTorchRLModule`.
PPOTorchRLModule = DefaultPPOTorchRLModule
