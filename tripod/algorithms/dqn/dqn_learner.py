"""DQN's learner: (double) Q-learning with n-step targets and a Huber or squared TD loss."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
import torch.nn.functional as F

from tripod.algorithms.dqn.default_dqn_rl_module import QF_PREDS
from tripod.algorithms.off_policy_networks import check_action_space
from tripod.core.columns import Columns
from tripod.core.rl_module.apis import QNetAPI
from tripod.core.rl_module.rl_module import ModuleID
from tripod.learner.off_policy_learner import OffPolicyLearner

DISCOUNTS = "discounts"
WEIGHTS = "weights"


def q_values(output: Any, method: str, module: Any, rows: int) -> torch.Tensor:
    """``output["qf_preds"]`` (or ``output`` itself, a tensor), checked to be ``[rows, n_actions]``."""
    q = output.get(QF_PREDS) if isinstance(output, dict) else output
    n = module.action_space.n
    if not isinstance(q, torch.Tensor) or tuple(q.shape) != (rows, n):
        got = tuple(q.shape) if isinstance(q, torch.Tensor) else type(q).__name__
        raise ValueError(
            f"{type(module).__name__}.{method}() must return {{'qf_preds': tensor of shape [batch, n_actions]}}"
            f" = ({rows}, {n}); got {got}. Return one Q value per action for every observation row."
        )
    return q


class DQNLearner(OffPolicyLearner):
    """TD loss ``L = E[w · ℓ(Q(s, a) − y)]`` with ``y = R + γᵏ (1 − d) Q_target(s', a*)``.

    ``R`` is the ``k``-step discounted reward sum from the buffer, ``a*`` is
    ``argmax_a Q(s', a)`` with double Q-learning (else ``argmax_a Q_target(s', a)``),
    ``ℓ`` is the Huber loss (or ``½ x²``) and ``w`` the importance weights of
    prioritized replay (1 otherwise).
    """

    def check_module(self, module_id: ModuleID, module: Any) -> None:
        check_action_space(
            "DQN", module.action_space, gym.spaces.Discrete, "Use SAC (or PPO) for continuous actions."
        )
        if not isinstance(module, QNetAPI):
            raise TypeError(
                f"{type(module).__name__} (module '{module_id}') has no Q network. DQN needs "
                "tripod.core.apis.QNetAPI: implement compute_q_values(batch) -> {'qf_preds': [B, n_actions]}, "
                "plus TargetNetworkAPI for the target network."
            )
        super().check_module(module_id, module)

    def forward_for_loss(self, module_id: ModuleID, batch: dict[str, Any]) -> dict[str, Any]:
        module = self.module[module_id]
        rows = batch[Columns.REWARDS].shape[0]
        return {QF_PREDS: q_values(module.compute_q_values(batch), "compute_q_values", module, rows)}

    def compute_loss_for_module(
        self, *, module_id: ModuleID, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any]
    ) -> torch.Tensor:
        module = self.module[module_id]
        q = fwd_out[QF_PREDS]
        q_taken = q.gather(1, batch[Columns.ACTIONS].long().unsqueeze(1)).squeeze(1)
        with torch.no_grad():
            next_batch = {Columns.OBS: batch[Columns.NEXT_OBS]}
            rows = q.shape[0]
            q_next_target = q_values(module.forward_target(next_batch), "forward_target", module, rows)
            if config.double_q:
                q_next_online = q_values(
                    module.compute_q_values(next_batch), "compute_q_values", module, rows
                )
                best = q_next_online.argmax(dim=1, keepdim=True)
            else:
                best = q_next_target.argmax(dim=1, keepdim=True)
            q_next = q_next_target.gather(1, best).squeeze(1)
            not_done = (~batch[Columns.TERMINATEDS]).to(q_next.dtype)
            target = batch[Columns.REWARDS] + batch[DISCOUNTS] * not_done * q_next
        self.check_td_targets(module_id, target)
        td_error = q_taken - target
        if config.td_error_loss_fn == "huber":
            per_row = F.huber_loss(q_taken, target, reduction="none", delta=1.0)
        else:
            per_row = 0.5 * td_error.pow(2)
        weights = batch.get(WEIGHTS)
        loss = (per_row * weights).mean() if weights is not None else per_row.mean()
        self.record_td_errors(module_id, td_error.detach())
        self.log(
            module_id,
            qf_loss=loss,
            qf_mean=q_taken.detach().mean(),
            td_error_mean=td_error.detach().abs().mean(),
        )
        return loss
