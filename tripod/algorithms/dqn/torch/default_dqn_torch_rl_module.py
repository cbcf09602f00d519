"""The default DQN module in torch (RLlib path:
``ray.rllib.algorithms.dqn.torch.default_dqn_torch_rl_module``)."""

from __future__ import annotations

from typing import Any

import torch

from tripod.algorithms.dqn.default_dqn_rl_module import QF_PREDS, DefaultDQNRLModule
from tripod.core.columns import Columns
from tripod.core.rl_module.torch.torch_rl_module import TorchRLModule

__all__ = ["DefaultDQNTorchRLModule"]


class DefaultDQNTorchRLModule(TorchRLModule, DefaultDQNRLModule):
    """DQN's default module; see :class:`DefaultDQNRLModule` for what it builds.

    - ``forward_inference``: greedy actions ``argmax_a Q(s, a)``.
    - ``forward_exploration``: epsilon-greedy with the module's ``epsilon``
      attribute. DQN computes epsilon from its schedule at the global step and
      sends it with the weights (``EnvRunnerGroup.sync_weights``); each runner
      sets it on its own module.
    - ``compute_q_values(batch)`` -> ``{"qf_preds": [B, n_actions]}``;
      ``forward_target(batch)`` the same from the target network.
    """

    def _forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        with torch.no_grad():
            return {Columns.ACTIONS: self.qf(batch[Columns.OBS]).argmax(dim=-1)}

    def _forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        with torch.no_grad():
            greedy = self.qf(batch[Columns.OBS]).argmax(dim=-1)
            if self.epsilon <= 0.0:
                return {Columns.ACTIONS: greedy}
            n = greedy.shape[0]
            explore = torch.rand(n) < self.epsilon
            random = torch.randint(self.num_actions, (n,))
            return {Columns.ACTIONS: torch.where(explore, random, greedy)}

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self.compute_q_values(batch)

    def compute_q_values(self, batch: dict[str, Any]) -> dict[str, Any]:
        """``{"qf_preds": Q(s, ·)}`` of shape ``[B, n_actions]``."""
        return {QF_PREDS: self.qf(batch[Columns.OBS])}

    def forward_target(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """``{"qf_preds": Q_target(s, ·)}`` of shape ``[B, n_actions]``."""
        return {QF_PREDS: self.qf_target(batch[Columns.OBS])}
