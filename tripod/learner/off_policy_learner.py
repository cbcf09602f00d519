"""The learner of replay-based algorithms: one gradient step per replay batch, target networks.

:class:`OffPolicyLearner` keeps :class:`~tripod.learner.learner.Learner`'s plumbing
(optimizers, grad clipping, logging, state) and replaces the epochs × minibatches
loop with :meth:`OffPolicyLearner.update_from_replay`: one optimizer step on one
sampled batch, then a target-network update when it is due. Subclasses write
:meth:`~tripod.learner.learner.Learner.compute_loss_for_module` (the maths) and
:meth:`OffPolicyLearner.forward_for_loss` (what the module computes with gradients).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from tripod.core.columns import Columns
from tripod.core.rl_module.apis import TargetNetworkAPI
from tripod.core.rl_module.rl_module import ModuleID
from tripod.data.batch import tree_map
from tripod.learner.learner import Learner
from tripod.learner.optimizer_group import OptimizerGroup
from tripod.learner.schedules import schedule_value

__all__ = ["OffPolicyLearner", "TDTargetError"]

TD_ERROR = "td_error"


class TDTargetError(FloatingPointError):
    """A TD target was NaN or inf; the update was not applied."""


def _target_tensor_lists(module: Any) -> tuple[list, list, list, list]:
    """``(float targets, float mains, other targets, other mains)`` over the module's target pairs."""
    floats_t, floats_m, others_t, others_m = [], [], [], []
    for main, target in module.get_target_network_pairs():
        mains = [*main.parameters(), *main.buffers()]
        targets = [*target.parameters(), *target.buffers()]
        if len(mains) != len(targets):
            raise ValueError(
                f"{type(module).__name__}: a target network has {len(targets)} tensors, its main network "
                f"{len(mains)}; make_target_networks() must build exact copies."
            )
        for t, m in zip(targets, mains):
            (floats_t if t.is_floating_point() else others_t).append(t)
            (floats_m if t.is_floating_point() else others_m).append(m)
    return floats_t, floats_m, others_t, others_m


class OffPolicyLearner(Learner):
    """Learner for DQN, SAC and other algorithms that learn from a replay buffer.

    Args:
        config: An :class:`~tripod.algorithms.off_policy_config.OffPolicyConfig`.
        module: The MultiRLModule to train; every trained module needs
            :class:`~tripod.core.rl_module.apis.TargetNetworkAPI` (the learner calls
            ``make_target_networks()`` on it).
        module_ids_to_train: As for :class:`~tripod.learner.learner.Learner`.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._last_target_update = dict.fromkeys(self.module_ids_to_train, 0)
        self._env_steps = 0
        self._updates_since_collect = 0
        self._td_errors: dict[ModuleID, torch.Tensor] = {}
        self._target_tensors: dict[ModuleID, tuple[list, list, list, list]] = {}

    # ------------------------------------------------------------------ hooks
    def check_module(self, module_id: ModuleID, module: Any) -> None:
        """Require a stateless module with TargetNetworkAPI; build the target networks (before optimizers exist)."""
        if module.is_stateful():
            raise NotImplementedError(
                f"{type(module).__name__} (module '{module_id}') is recurrent (get_initial_state() is not "
                f"empty), but {type(self).__name__} trains stateless modules only: its replay buffer stores "
                "single transitions, not sequences with their recurrent state. Train recurrent modules with "
                "PPO or PG, or give this algorithm a stateless module (model_config use_lstm=False)."
            )
        if not isinstance(module, TargetNetworkAPI):
            raise TypeError(
                f"{type(module).__name__} (module '{module_id}') has no target networks, which "
                f"{type(self).__name__} needs. Add tripod.core.apis.TargetNetworkAPI to the module and "
                "implement make_target_networks(), get_target_network_pairs() and forward_target(batch)."
            )
        module.make_target_networks()

    def learning_rates(self, module_id: ModuleID) -> dict[str, Any]:
        """``{optimizer name: lr or schedule}``; a plain optimizer is named ``"default"``."""
        return {"default": self.config.lr}

    def forward_for_loss(self, module_id: ModuleID, batch: dict[str, Any]) -> dict[str, Any]:
        """The module's outputs (with gradients) that :meth:`compute_loss_for_module` reads."""
        return self.module[module_id].forward_train(batch)

    # ---------------------------------------------------------------- update
    def update_from_replay(
        self,
        batch: Mapping[ModuleID, Mapping[str, Any]],
        *,
        num_env_steps_sampled_lifetime: int = 0,
        return_td_errors: bool = False,
    ) -> dict[ModuleID, np.ndarray]:
        """One gradient step per module on a replay batch, then due target-network updates.

        Args:
            batch: ``{module_id: replay sample}`` with numpy (or torch) entries as
                returned by ``ReplayBuffer.sample`` (``weights`` when prioritized).
            num_env_steps_sampled_lifetime: The env step count (for schedules and
                target-update timing).
            return_td_errors: Return ``{module_id: TD errors [B]}`` (for priorities).

        Statistics accumulate until :meth:`collect_results`.

        Runs in the learner's own global-RNG scope (:attr:`global_rng`; entering it costs tens
        of microseconds, and nothing when the caller already entered it).

        Raises:
            TDTargetError: If a TD target is NaN or inf (nothing is updated then).
        """
        with self.global_rng:
            return self._update_from_replay(batch, num_env_steps_sampled_lifetime, return_td_errors)

    def _update_from_replay(
        self, batch: Mapping[ModuleID, Mapping[str, Any]], num_env_steps_sampled_lifetime: int,
        return_td_errors: bool,
    ) -> dict[ModuleID, np.ndarray]:  # fmt: skip
        self._env_steps = num_env_steps_sampled_lifetime
        out = {}
        for mid, sample in batch.items():
            if mid not in self.optimizers:
                continue
            data = self.to_device(sample)
            module = self.module[mid]
            if not module.training:
                module.train(True)
            loss = self.compute_loss_for_module(
                module_id=mid, config=self.config, batch=data, fwd_out=self.forward_for_loss(mid, data)
            )
            opt = self.optimizers[mid]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = self._clip_gradients(self._params[mid])
            if grad_norm is not None:
                self.log(mid, gradients_global_norm=grad_norm)
            opt.step()
            self._maybe_update_targets(mid)
            if return_td_errors:
                out[mid] = self._recorded_td_errors(mid)
            self.num_env_steps_trained += int(data[Columns.REWARDS].shape[0])
        self.num_updates += 1
        self._updates_since_collect += 1
        return out

    def update(
        self, batch: Mapping[ModuleID, Mapping[str, Any]], *, num_env_steps_sampled_lifetime: int = 0
    ) -> dict[ModuleID, dict[str, float]]:
        """One gradient step per module on ``batch`` (replay samples); returns the statistics."""
        self.set_learning_rates(num_env_steps_sampled_lifetime)
        self.update_from_replay(batch, num_env_steps_sampled_lifetime=num_env_steps_sampled_lifetime)
        return self.collect_results()

    def to_device(self, sample: Mapping[str, Any]) -> dict[str, Any]:
        """Numpy entries as torch tensors on the learner's device (zero-copy on the CPU)."""

        def convert(x: Any) -> Any:
            if isinstance(x, np.ndarray):
                x = torch.from_numpy(x)
            return x if self.device.type == "cpu" else x.to(self.device, non_blocking=True)

        return {k: tree_map(convert, v) for k, v in sample.items()}

    def set_learning_rates(self, num_env_steps: int) -> None:
        """Set every optimizer's learning rate from its (possibly scheduled) setting."""
        for mid, opt in self.optimizers.items():
            rates = self.learning_rates(mid)
            members = opt.items() if isinstance(opt, OptimizerGroup) else [("default", opt)]
            for name, member in members:
                lr = schedule_value(rates[name], num_env_steps)
                for group in member.param_groups:
                    group["lr"] = lr

    def collect_results(self) -> dict[ModuleID, dict[str, float]]:
        """Means of the statistics logged since the last call, plus learning rates and update counts."""
        results = self._collect_stats()
        for mid in self.module_ids_to_train:
            stats = results.setdefault(mid, {})
            for name, rate in self.learning_rates(mid).items():
                key = "lr" if name == "default" else f"{name}_lr"
                stats[key] = schedule_value(rate, self._env_steps)
            stats["num_gradient_updates"] = self._updates_since_collect
            stats["num_gradient_updates_lifetime"] = self.num_updates
        self._updates_since_collect = 0
        return results

    # --------------------------------------------------------------- helpers
    def check_td_targets(self, module_id: ModuleID, targets: torch.Tensor) -> None:
        """Raise :class:`TDTargetError` if ``targets`` hold NaN or inf (before anything is trained)."""
        if not bool(torch.isfinite(targets).all()):
            bad = int((~torch.isfinite(targets)).sum())
            raise TDTargetError(
                f"{type(self).__name__}: {bad} of {targets.numel()} TD targets of module '{module_id}' are "
                f"NaN or inf at gradient update {self.num_updates + 1} (env step {self._env_steps}); the "
                "update was not applied. The target network diverged or the module returned NaN: lower "
                "the learning rate, clip gradients (grad_clip), scale the rewards, or check the module's "
                "forward_target()."
            )

    def record_td_errors(self, module_id: ModuleID, td_errors: torch.Tensor) -> None:
        """Keep this update's TD errors (``[B]``) for prioritized replay."""
        self._td_errors[module_id] = td_errors

    def _recorded_td_errors(self, module_id: ModuleID) -> np.ndarray:
        errors = self._td_errors.pop(module_id, None)
        if errors is None:
            raise RuntimeError(
                f"{type(self).__name__}.compute_loss_for_module() recorded no TD errors for module "
                f"'{module_id}', which prioritized replay needs: call self.record_td_errors(module_id, td) there."
            )
        return errors.detach().cpu().numpy()

    def _maybe_update_targets(self, module_id: ModuleID) -> None:
        freq = self.config.target_network_update_freq
        if freq and self._env_steps - self._last_target_update[module_id] < freq:
            return
        self._last_target_update[module_id] = self._env_steps
        module = self.module[module_id]
        if type(module).update_target_networks is not TargetNetworkAPI.update_target_networks:
            module.update_target_networks(self.config.tau)  # the module's own rule
            return
        # TargetNetworkAPI's rule, as one multi-tensor kernel over cached tensor lists.
        pairs = self._target_tensors.get(module_id)
        if pairs is None:
            pairs = self._target_tensors[module_id] = _target_tensor_lists(module)
        floats_t, floats_m, others_t, others_m = pairs
        tau = self.config.tau
        with torch.no_grad():
            if floats_t:
                if tau == 1.0:
                    torch._foreach_copy_(floats_t, floats_m)
                else:
                    torch._foreach_lerp_(floats_t, floats_m, tau)
            for t, m in zip(others_t, others_m):
                t.copy_(m)

    # ----------------------------------------------------------------- state
    def get_extra_state(self) -> dict[str, Any]:
        return {"last_target_update": dict(self._last_target_update)}

    def set_extra_state(self, state: Mapping[str, Any]) -> None:
        for mid, step in state.get("last_target_update", {}).items():
            self._last_target_update[mid] = int(step)
