"""SAC's learner: twin soft Q-learning, the reparameterised actor loss and automatic entropy tuning."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from tripod.algorithms.sac.default_sac_rl_module import QF_PREDS, QF_TWIN_PREDS, check_sac_action_space
from tripod.core.columns import Columns
from tripod.core.distribution.torch.torch_distribution import TorchSquashedGaussian
from tripod.core.rl_module.apis import QNetAPI
from tripod.core.rl_module.rl_module import ModuleID
from tripod.learner.off_policy_learner import OffPolicyLearner
from tripod.learner.optim import Adam
from tripod.learner.optimizer_group import OptimizerGroup

DISCOUNTS = "discounts"
WEIGHTS = "weights"
NEXT_ACTION_DIST_INPUTS = "next_action_dist_inputs"


def q_preds(output: Any, module: Any, method: str) -> list[torch.Tensor]:
    """``[Q1]`` or ``[Q1, Q2]`` (each ``[B]``) from ``{"qf_preds", "qf_twin_preds"}`` or a plain tensor."""
    if isinstance(output, torch.Tensor):
        return [output]
    if not isinstance(output, dict) or QF_PREDS not in output:
        raise ValueError(
            f"{type(module).__name__}.{method}() must return {{'qf_preds': Q1 [B], 'qf_twin_preds': Q2 [B]}} "
            f"(the twin optional), got {type(output).__name__}."
        )
    twin = output.get(QF_TWIN_PREDS)
    return [output[QF_PREDS]] if twin is None else [output[QF_PREDS], twin]


@contextlib.contextmanager
def frozen(params: list[torch.Tensor]) -> Iterator[None]:
    """No gradients flow into ``params`` inside the block (the critics inside the actor loss)."""
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


class SACLearner(OffPolicyLearner):
    """Soft actor-critic losses (Haarnoja et al. 2018), all from one batch and one backward pass.

    - critics: ``½ Σᵢ E[w (Qᵢ(s, a) − y)²]``, ``y = R + γᵏ (1 − d) (min Q_target(s', a') − α log π(a'|s'))``
      with ``a' ~ π(·|s')``;
    - actor: ``E[α log π(ã|s) − min Q(s, ã)]`` with ``ã ~ π(·|s)`` reparameterised (critics frozen);
    - temperature: ``−E[log α · (log π(ã|s) + H_target)]`` (``log α`` is a learner parameter).

    The critic parameters are those of the main networks in the module's
    ``get_target_network_pairs()``; every other trained parameter belongs to the actor.
    Each part has its own Adam (``actor_lr``, ``critic_lr``, ``alpha_lr``) in an
    :class:`~tripod.learner.optimizer_group.OptimizerGroup`.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.log_alpha: dict[ModuleID, torch.Tensor] = {}
        self.critic_params: dict[ModuleID, list[torch.Tensor]] = {}
        super().__init__(**kwargs)
        self.target_entropy = {
            mid: self._target_entropy(self.module[mid]) for mid in self.module_ids_to_train
        }
        # log|d action / d unit action| of the rescaling to the Box bounds: adding it measures
        # log-probabilities in the [-1, 1] box, as SB3 and RLlib do, so that a target entropy of
        # -|A| means the same whatever the bounds.
        self.log_scale = {
            mid: float(
                np.log((self.module[mid].action_space.high - self.module[mid].action_space.low) / 2).sum()
            )
            for mid in self.module_ids_to_train
        }

    def _target_entropy(self, module: Any) -> float:
        target = self.config.target_entropy
        return -float(np.prod(module.action_space.shape)) if target == "auto" else float(target)

    # ------------------------------------------------------------------ set-up
    def check_module(self, module_id: ModuleID, module: Any) -> None:
        check_sac_action_space(module.action_space)
        if not isinstance(module, QNetAPI):
            raise TypeError(
                f"{type(module).__name__} (module '{module_id}') has no Q functions. SAC needs "
                "tripod.core.apis.QNetAPI: compute_q_values({obs, actions}) -> {'qf_preds': [B], "
                "'qf_twin_preds': [B]}, plus TargetNetworkAPI for the target critics."
            )
        dist_cls = module.get_train_action_dist_cls()
        if not issubclass(getattr(dist_cls, "dist_cls", dist_cls), TorchSquashedGaussian):
            raise TypeError(
                f"{type(module).__name__} (module '{module_id}') uses {dist_cls!r} for actions, but SAC needs "
                "a tanh-squashed Gaussian. In setup() set self.action_dist_cls = "
                "tripod.core.distribution.action_dist.get_action_dist_cls(self.action_space, squashed=True)."
            )
        super().check_module(module_id, module)

    def configure_optimizer(self, module_id: ModuleID, module: Any) -> OptimizerGroup:
        c = self.config
        critic = [
            p for main, _ in module.get_target_network_pairs() for p in main.parameters() if p.requires_grad
        ]
        critic_ids = {id(p) for p in critic}
        actor = [p for p in self._params[module_id] if id(p) not in critic_ids]
        if not actor or not critic:
            raise TypeError(
                f"{type(module).__name__} (module '{module_id}'): SAC found {len(actor)} actor and {len(critic)} "
                "critic parameters. The critics are the main networks of get_target_network_pairs(); every "
                "other trained parameter is the policy's."
            )
        self.critic_params[module_id] = critic
        log_alpha = torch.tensor(math.log(c.initial_alpha), device=self.device, requires_grad=True)
        self.log_alpha[module_id] = log_alpha
        return OptimizerGroup(
            {
                "actor": Adam(actor, lr=self._lr0(c.actor_lr), eps=1e-7),
                "critic": Adam(critic, lr=self._lr0(c.critic_lr), eps=1e-7),
                "alpha": Adam([log_alpha], lr=self._lr0(c.alpha_lr), eps=1e-7),
            }
        )

    @staticmethod
    def _lr0(rate: Any) -> float:
        return float(rate if not isinstance(rate, list | tuple) else rate[0][1])

    def learning_rates(self, module_id: ModuleID) -> dict[str, Any]:
        c = self.config
        return {"actor": c.actor_lr, "critic": c.critic_lr, "alpha": c.alpha_lr}

    # -------------------------------------------------------------------- loss
    def forward_for_loss(self, module_id: ModuleID, batch: dict[str, Any]) -> dict[str, Any]:
        """Policy logits for ``s`` (with gradients) and for ``s'`` (without: only the targets use them)."""
        module = self.module[module_id]
        out = module.forward_train({Columns.OBS: batch[Columns.OBS]})
        with torch.no_grad():
            out_next = module.forward_train({Columns.OBS: batch[Columns.NEXT_OBS]})
        return {
            Columns.ACTION_DIST_INPUTS: out[Columns.ACTION_DIST_INPUTS],
            NEXT_ACTION_DIST_INPUTS: out_next[Columns.ACTION_DIST_INPUTS],
        }

    def compute_loss_for_module(
        self, *, module_id: ModuleID, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any]
    ) -> torch.Tensor:
        losses = self.sac_losses(module_id, batch, fwd_out)
        return losses["critic"] + losses["actor"] + losses["alpha"]

    def sac_losses(
        self, module_id: ModuleID, batch: dict[str, Any], fwd_out: dict[str, Any]
    ) -> dict[str, torch.Tensor]:
        """``{"critic", "actor", "alpha"}`` losses; each reaches only its own parameters' gradients.

        Log-probabilities are measured in the [-1, 1] action box (``log_scale`` added), as in
        SB3 and RLlib, so that ``target_entropy="auto"`` (``-|A|``) means the same for any bounds.
        """
        module = self.module[module_id]
        dist_cls, log_scale = module.get_train_action_dist_cls(), self.log_scale[module_id]
        action_pi, logp_pi = dist_cls.from_logits(fwd_out[Columns.ACTION_DIST_INPUTS]).rsample_and_logp()
        logp_pi = logp_pi + log_scale
        log_alpha = self.log_alpha[module_id]
        alpha = log_alpha.detach().exp()

        with torch.no_grad():
            next_dist = dist_cls.from_logits(fwd_out[NEXT_ACTION_DIST_INPUTS])
            action_next, logp_next = next_dist.sample_and_logp()
            logp_next = logp_next + log_scale
            next_batch = {Columns.OBS: batch[Columns.NEXT_OBS], Columns.ACTIONS: action_next}
            q_next = torch.min(
                torch.stack(q_preds(module.forward_target(next_batch), module, "forward_target")), 0
            )[0]
            not_done = (~batch[Columns.TERMINATEDS]).to(q_next.dtype)
            target = batch[Columns.REWARDS] + batch[DISCOUNTS] * not_done * (q_next - alpha * logp_next)
        self.check_td_targets(module_id, target)

        q = q_preds(module.compute_q_values(batch), module, "compute_q_values")
        td_errors = torch.stack(q) - target  # [critics, B]
        weights = batch.get(WEIGHTS)
        sq = td_errors.pow(2) if weights is None else weights * td_errors.pow(2)
        critic_loss = 0.5 * sq.mean(dim=1).sum()

        with frozen(self.critic_params[module_id]):
            q_pi = q_preds(
                module.compute_q_values({**batch, Columns.ACTIONS: action_pi}), module, "compute_q_values"
            )
        actor_loss = (alpha * logp_pi - torch.min(torch.stack(q_pi), 0)[0]).mean()
        alpha_loss = -(log_alpha * (logp_pi.detach() + self.target_entropy[module_id])).mean()

        self.record_td_errors(module_id, td_errors.detach().abs().mean(0))
        self.log(
            module_id,
            qf_loss=critic_loss.detach(),
            policy_loss=actor_loss.detach(),
            alpha_loss=alpha_loss.detach(),
            alpha=alpha,
            entropy=-logp_pi.detach().mean(),
            qf_mean=q[0].detach().mean(),
        )
        return {"critic": critic_loss, "actor": actor_loss, "alpha": alpha_loss}

    # ------------------------------------------------------------------- state
    def get_extra_state(self) -> dict[str, Any]:
        state = super().get_extra_state()
        state["log_alpha"] = {mid: float(v.detach()) for mid, v in self.log_alpha.items()}
        return state

    def set_extra_state(self, state: dict[str, Any]) -> None:
        super().set_extra_state(state)
        with torch.no_grad():
            for mid, value in state.get("log_alpha", {}).items():
                if mid in self.log_alpha:
                    self.log_alpha[mid].fill_(float(value))
