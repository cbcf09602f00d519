"""PPO's learner: GAE postprocessing and the clipped-surrogate loss."""

from __future__ import annotations

from typing import Any

import torch

from tripod.core.columns import Columns
from tripod.core.rl_module.apis import ValueFunctionAPI
from tripod.core.rl_module.rl_module import ModuleID
from tripod.core.rl_module.validation import check_values
from tripod.data.sequences import SEQ_LENS
from tripod.learner.advantages import masked_mean, on_policy_training_batch, train_action_dist
from tripod.learner.learner import ENTROPY, POLICY_LOSS, TOTAL_LOSS, VF_LOSS, Learner


class PPOLearner(Learner):
    """Clipped surrogate + value loss + entropy bonus (+ optional adaptive KL penalty)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kl_coeffs = {mid: float(self.config.kl_coeff) for mid in self.module_ids_to_train}

    def check_module(self, module_id: ModuleID, module: Any) -> None:
        if self.config.use_critic and not isinstance(module, ValueFunctionAPI):
            raise TypeError(
                f"{type(module).__name__} (module '{module_id}') has no value function, but PPO's use_critic=True "
                "needs one. Add tripod.core.apis.ValueFunctionAPI to the module and implement "
                "compute_values(batch, embeddings=None), or set .training(use_critic=False)."
            )

    def postprocess(self, module_id: ModuleID, batch: dict[str, Any]) -> dict[str, Any]:
        c = self.config
        if Columns.ACTION_LOGP not in batch:
            raise KeyError(
                f"PPO: the sampled batch for module '{module_id}' has no action_logp. PPO needs the "
                "log-probability of each sampled action: return action_dist_inputs (logits or a torch "
                "Distribution) from forward_exploration, not only actions."
            )
        return on_policy_training_batch(
            self.module[module_id],
            batch,
            use_critic=c.use_critic,
            gamma=c.gamma,
            lambda_=c.lambda_,
            normalize=c.normalize_advantages,
            device=self.device,
        )

    # ------------------------------------------------------------------ loss
    def compute_loss_for_module(
        self, *, module_id: ModuleID, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any]
    ) -> torch.Tensor:
        module = self.module[module_id]
        mask = batch.get(Columns.LOSS_MASK)
        dist = train_action_dist(module, fwd_out)
        logp = dist.logp(batch[Columns.ACTIONS])
        log_ratio = logp - batch[Columns.ACTION_LOGP]
        if SEQ_LENS in batch:  # zero on the padding of recurrent sequences, so exp() stays finite there
            log_ratio = log_ratio * mask
        ratio = torch.exp(log_ratio)
        adv = batch[Columns.ADVANTAGES]
        surrogate = torch.min(adv * ratio, adv * ratio.clamp(1 - config.clip_param, 1 + config.clip_param))
        policy_loss = -masked_mean(surrogate, mask)
        entropy = masked_mean(dist.entropy(), mask)
        kl = masked_mean((ratio - 1) - log_ratio, mask)  # non-negative estimate of KL(old || new)
        entropy_coeff = self.scheduled(config.entropy_coeff)
        total = policy_loss - entropy_coeff * entropy
        if config.use_kl_loss:
            total = total + self.kl_coeffs[module_id] * kl
        vf_loss = torch.zeros(())
        if config.use_critic:
            values = module.compute_values(batch, embeddings=fwd_out.get(Columns.EMBEDDINGS))
            check_values(module, values, tuple(batch[Columns.VALUE_TARGETS].shape))
            vf_err = (values - batch[Columns.VALUE_TARGETS]).pow(2)
            if config.vf_clip_param is not None:
                vf_err = vf_err.clamp(max=config.vf_clip_param)
            vf_loss = masked_mean(vf_err, mask)
            total = total + config.vf_loss_coeff * vf_loss
        clip_frac = masked_mean(((ratio - 1).abs() > config.clip_param).float(), mask)
        self.log(
            module_id,
            **{POLICY_LOSS: policy_loss, VF_LOSS: vf_loss, ENTROPY: entropy, TOTAL_LOSS: total},
            mean_kl_loss=kl,
            clip_fraction=clip_frac,
            curr_entropy_coeff=entropy_coeff,
        )
        return total

    def after_update(self, results: dict[ModuleID, dict[str, float]]) -> None:
        c = self.config
        for mid, stats in results.items():
            if c.use_kl_loss:
                kl = stats["mean_kl_loss"]
                if kl > 2.0 * c.kl_target:
                    self.kl_coeffs[mid] *= 1.5
                elif kl < 0.5 * c.kl_target:
                    self.kl_coeffs[mid] *= 0.5
            stats["curr_kl_coeff"] = self.kl_coeffs.get(mid, 0.0)

    def get_extra_state(self) -> dict[str, Any]:
        return {"kl_coeffs": dict(self.kl_coeffs)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.kl_coeffs.update({k: float(v) for k, v in state.get("kl_coeffs", {}).items()})
