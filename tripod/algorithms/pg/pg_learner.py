"""Policy gradient (REINFORCE) learner, with an optional learned baseline."""

from __future__ import annotations

from typing import Any

import torch

from tripod.core.columns import Columns
from tripod.core.rl_module.apis import ValueFunctionAPI
from tripod.core.rl_module.rl_module import ModuleID
from tripod.core.rl_module.validation import check_values
from tripod.learner.advantages import masked_mean, on_policy_training_batch, train_action_dist
from tripod.learner.learner import ENTROPY, POLICY_LOSS, TOTAL_LOSS, VF_LOSS, Learner


class PGLearner(Learner):
    """loss = −E[log π(a|s) · (G_t − b(s))] − c_H · H[π] (+ c_V · (V(s) − G_t)² with a baseline)."""

    def uses_baseline(self, module_id: ModuleID) -> bool:
        """Whether module ``module_id`` trains and subtracts a value baseline."""
        wanted = self.config.use_baseline
        has_vf = isinstance(self.module[module_id], ValueFunctionAPI)
        return has_vf if wanted is None else wanted

    def check_module(self, module_id: ModuleID, module: Any) -> None:
        if self.config.use_baseline and not isinstance(module, ValueFunctionAPI):
            raise TypeError(
                f"{type(module).__name__} (module '{module_id}') has no value function, but PG's "
                "use_baseline=True needs one. Add tripod.core.apis.ValueFunctionAPI to the module, or set "
                ".training(use_baseline=False) (None picks a baseline only when the module has one)."
            )

    def postprocess(self, module_id: ModuleID, batch: dict[str, Any]) -> dict[str, Any]:
        c = self.config
        return on_policy_training_batch(
            self.module[module_id],
            batch,
            use_critic=self.uses_baseline(module_id),
            gamma=c.gamma,
            lambda_=1.0,
            normalize=c.normalize_advantages,
            device=self.device,
        )

    def compute_loss_for_module(
        self, *, module_id: ModuleID, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any]
    ) -> torch.Tensor:
        module = self.module[module_id]
        mask = batch.get(Columns.LOSS_MASK)
        dist = train_action_dist(module, fwd_out)
        logp = dist.logp(batch[Columns.ACTIONS])
        policy_loss = -masked_mean(logp * batch[Columns.ADVANTAGES], mask)
        entropy = masked_mean(dist.entropy(), mask)
        entropy_coeff = self.scheduled(config.entropy_coeff)
        total = policy_loss - entropy_coeff * entropy
        vf_loss = torch.zeros(())
        if self.uses_baseline(module_id):
            values = module.compute_values(batch, embeddings=fwd_out.get(Columns.EMBEDDINGS))
            check_values(module, values, tuple(batch[Columns.VALUE_TARGETS].shape))
            vf_loss = masked_mean((values - batch[Columns.VALUE_TARGETS]).pow(2), mask)
            total = total + config.vf_loss_coeff * vf_loss
        self.log(
            module_id,
            **{POLICY_LOSS: policy_loss, VF_LOSS: vf_loss, ENTROPY: entropy, TOTAL_LOSS: total},
            curr_entropy_coeff=entropy_coeff,
        )
        return total
