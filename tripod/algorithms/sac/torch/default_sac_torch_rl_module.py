"""The default SAC module in torch (RLlib path:
``ray.rllib.algorithms.sac.torch.default_sac_torch_rl_module``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tripod.algorithms.off_policy_networks import run_sequential
from tripod.algorithms.sac.default_sac_rl_module import QF_PREDS, QF_TWIN_PREDS, DefaultSACRLModule
from tripod.core.columns import Columns
from tripod.core.rl_module.torch.torch_rl_module import TorchRLModule

__all__ = ["DefaultSACTorchRLModule"]


class DefaultSACTorchRLModule(TorchRLModule, DefaultSACRLModule):
    """SAC's default module; see :class:`DefaultSACRLModule` for what it builds.

    - The policy maps observations to ``concat(mean, log_std)`` of a Gaussian whose
      samples are squashed by ``tanh`` into the action bounds
      (:class:`~tripod.core.distribution.torch.torch_distribution.TorchSquashedGaussian`, the module's
      ``action_dist_cls``). ``forward_exploration`` samples, ``forward_inference``
      takes the squashed mean, ``forward_train`` returns the logits.
    - ``compute_q_values({obs, actions})`` -> ``{"qf_preds": [B], "qf_twin_preds": [B]}``
      (both critics in one batched pass; actions are rescaled to [-1, 1] first);
      ``forward_target`` the same from the target critics.
    - An ``inference_only`` copy (the env runner's) holds the policy only.
    """

    def get_non_inference_attributes(self) -> list[str]:
        """The critics and their target copies."""
        return DefaultSACRLModule.get_non_inference_attributes(self)

    # --------------------------------------------------------------- forwards
    def _obs(self, batch: dict[str, Any]) -> torch.Tensor:
        obs = batch[Columns.OBS]
        return obs if self.flatten is None else self.flatten(obs)

    def _dist(self, batch: dict[str, Any]) -> Any:
        return self.action_dist_cls.from_logits(run_sequential(self.pi, self._obs(batch)))

    def _forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        with torch.no_grad():
            return {Columns.ACTIONS: self._dist(batch).to_deterministic().sample()}

    def _forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        with torch.no_grad():
            return {Columns.ACTIONS: self._dist(batch).sample()}

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {Columns.ACTION_DIST_INPUTS: run_sequential(self.pi, self._obs(batch))}

    # ------------------------------------------------------------------- APIs
    def _q(self, net: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        actions = batch[Columns.ACTIONS].reshape(-1, self.action_dim)
        scaled = (actions - self.action_center) / self.action_half_range
        q = net(torch.cat([self._obs(batch), scaled], dim=-1)).squeeze(-1)
        return {QF_PREDS: q[0], QF_TWIN_PREDS: q[1]} if q.shape[0] == 2 else {QF_PREDS: q[0]}

    def compute_q_values(self, batch: dict[str, Any]) -> dict[str, Any]:
        """``{"qf_preds": Q1(s, a), "qf_twin_preds": Q2(s, a)}``, each ``[B]``, for ``obs`` and ``actions``."""
        return self._q(self.qf, batch)

    def forward_target(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """:meth:`compute_q_values` with the target critics."""
        return self._q(self.qf_target, batch)
