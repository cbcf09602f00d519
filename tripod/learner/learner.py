"""The Learner: optimizers, the epochs × minibatches update loop, grad clipping, metrics.

An algorithm's learner subclasses :class:`Learner` and implements
:meth:`Learner.compute_loss_for_module` (the maths) and, where needed,
:meth:`Learner.postprocess` (advantages, returns). Everything else — devices,
optimizer steps, clipping, schedules, logging, state — lives here.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from tripod.core.columns import Columns
from tripod.core.rl_module.multi_rl_module import MultiRLModule
from tripod.core.rl_module.rl_module import ModuleID
from tripod.core.rl_module.torch.torch_rl_module import TorchRLModule
from tripod.core.rl_module.validation import OutputValidator
from tripod.data.batch import batch_size, index_batch, to_torch
from tripod.data.sequences import SEQ_LENS
from tripod.io.seeding import LEARNER_STREAM, GlobalRNGScope, torch_generator
from tripod.learner.optim import Adam
from tripod.learner.schedules import schedule_value

POLICY_LOSS = "policy_loss"
VF_LOSS = "vf_loss"
ENTROPY = "entropy"
TOTAL_LOSS = "total_loss"


class Learner:
    """Trains the modules of a :class:`MultiRLModule`.

    Args:
        config: The algorithm config (lr, grad_clip, num_epochs, minibatch_size ...).
        module: The MultiRLModule to train (single-agent modules sit under
            ``DEFAULT_MODULE_ID``).
        module_ids_to_train: Which modules get optimizers (default: every torch
            module with parameters).
        global_rng: The :class:`~tripod.io.seeding.GlobalRNGScope` to run in
            (an algorithm passes the one it shares with its local env runner);
            default: the learner's own, seeded from ``config.seed``.

    Data-parallel training (``num_learners > 0``, :mod:`tripod.distributed`) runs a copy of
    the learner per shard of each batch and sets :attr:`data_parallel`; the hooks
    :meth:`num_minibatches`, :meth:`reduce_gradients` and :meth:`sum_across_learners` are
    where the copies agree (all three do nothing special on a single learner).

    Attributes:
        global_rng: The :class:`~tripod.io.seeding.GlobalRNGScope` that
            :meth:`update` runs in (seeded from ``config.seed``), so draws in the
            module's ``forward_train`` (dropout, ``rsample``) come from the learner's
            own stream.
        shuffle_generator: The ``torch.Generator`` that shuffles minibatches.
    """

    def __init__(
        self,
        *,
        config: Any,
        module: MultiRLModule,
        module_ids_to_train: Iterable[ModuleID] | None = None,
        global_rng: GlobalRNGScope | None = None,
    ) -> None:
        self.config = config
        self.device = torch.device(config.device)
        self.module = module.to(self.device)
        ids = list(module.keys()) if module_ids_to_train is None else list(module_ids_to_train)
        self.module_ids_to_train = [
            mid
            for mid in ids
            if isinstance(module[mid], nn.Module) and any(True for _ in module[mid].parameters())
        ]
        for mid in self.module_ids_to_train:
            self.check_module(mid, module[mid])
        self._params = {
            mid: [p for p in module[mid].parameters() if p.requires_grad] for mid in self.module_ids_to_train
        }
        self.optimizers = {
            mid: self.configure_optimizer(mid, module[mid]) for mid in self.module_ids_to_train
        }
        self._validators = {mid: OutputValidator(module[mid]) for mid in self.module_ids_to_train}
        self._stats: dict[ModuleID, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        self.num_updates = 0
        self.num_env_steps_trained = 0
        self.num_env_steps_sampled_lifetime = 0  # of the update in progress; schedules are evaluated at it
        self._weight_sources: tuple[tuple, dict] | None = None  # see _inference_weight_sources()
        seed = getattr(config, "seed", None)
        self.global_rng = global_rng or GlobalRNGScope(seed, LEARNER_STREAM, device=self.device)
        self.shuffle_generator = torch_generator(seed, LEARNER_STREAM, 1, device=self.device)

    # ------------------------------------------------------------------ hooks
    def check_module(self, module_id: ModuleID, module: Any) -> None:
        """Raise a clear error if ``module`` lacks an API this algorithm needs."""

    def configure_optimizer(self, module_id: ModuleID, module: nn.Module) -> Any:
        """The optimizer for one module: tripod's Adam (same maths as torch's, instant start-up).

        Override to use any ``torch.optim`` optimizer instead.
        """
        return Adam(self._params[module_id], lr=schedule_value(self.config.lr, 0), eps=1e-7)

    def postprocess(self, module_id: ModuleID, batch: Mapping[str, Any]) -> dict[str, Any]:
        """Turn a sampled batch into flat training tensors (override to add advantages etc.)."""
        return to_torch(dict(batch), self.device)

    def compute_loss_for_module(
        self, *, module_id: ModuleID, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any]
    ) -> torch.Tensor:
        """The scalar loss of one module on one minibatch."""
        raise NotImplementedError(f"{type(self).__name__} must implement compute_loss_for_module().")

    def after_update(self, results: dict[ModuleID, dict[str, float]]) -> None:
        """Called after each :meth:`update` (e.g. adapt a KL coefficient)."""

    # ------------------------------------------------------ data-parallel hooks
    #: True on a data-parallel learner (one of several, each training on a shard of every batch
    #: and averaging gradients with the others): every learner then takes every optimizer step,
    #: also on a minibatch with no rows of its own, so that the learners' collectives stay in step.
    data_parallel: bool = False

    def num_minibatches(self, sizes: Mapping[ModuleID, int]) -> int:
        """How many minibatches each epoch of :meth:`update` splits into, for ``{module_id: rows}``.

        ``ceil(rows / minibatch_size)`` of the largest module (1 without ``minibatch_size``).
        Data-parallel learners take the largest count over all learners.
        """
        mb = self.config.minibatch_size or max(sizes.values())
        return max(1, max(math.ceil(n / mb) for n in sizes.values()))

    def reduce_gradients(self, minibatch: Mapping[ModuleID, Mapping[str, Any]]) -> None:
        """Called between ``backward()`` and gradient clipping and the optimizer steps.

        Nothing to do on a single learner; a data-parallel learner replaces every trained
        parameter's ``grad`` here by the gradient of the loss over all learners' minibatches.
        """

    def sum_across_learners(self, value: torch.Tensor) -> torch.Tensor:
        """``value`` summed over all data-parallel learners (``value`` itself on a single learner).

        For batch-wide statistics that must not depend on how a batch is split (e.g. the mean
        and standard deviation that normalise advantages): sum the parts, then divide. Every
        learner must make the same calls in the same order.
        """
        return value

    # --------------------------------------------------------------- logging
    def log(self, module_id: ModuleID, **values: Any) -> None:
        """Record per-minibatch statistics; :meth:`update` returns their means."""
        stats = self._stats[module_id]
        for name, value in values.items():
            stats[name].append(value.detach() if isinstance(value, torch.Tensor) else value)

    def _collect_stats(self) -> dict[ModuleID, dict[str, float]]:
        out = {}
        for mid, stats in self._stats.items():
            out[mid] = {name: float(np.mean([float(v) for v in vals])) for name, vals in stats.items()}
        self._stats.clear()
        return out

    # ---------------------------------------------------------------- update
    def current_lr(self, num_env_steps: int) -> float:
        """The learning rate at ``num_env_steps`` (constant or scheduled)."""
        return schedule_value(self.config.lr, num_env_steps)

    def scheduled(self, value: float | list) -> float:
        """A constant or ``[[env_step, value], ...]`` setting at the current update's env step."""
        return schedule_value(value, self.num_env_steps_sampled_lifetime)

    def update(
        self, batch: Mapping[ModuleID, Mapping[str, Any]], *, num_env_steps_sampled_lifetime: int = 0
    ) -> dict[ModuleID, dict[str, float]]:
        """Run ``num_epochs`` passes of minibatch SGD over ``batch`` ({module_id: batch}).

        Returns per-module means of the logged statistics.
        """
        with self.global_rng:  # once per update, not per minibatch
            return self._update(batch, num_env_steps_sampled_lifetime)

    def _update(
        self, batch: Mapping[ModuleID, Mapping[str, Any]], num_env_steps_sampled_lifetime: int
    ) -> dict[ModuleID, dict[str, float]]:
        self.num_env_steps_sampled_lifetime = num_env_steps_sampled_lifetime
        lr = self.current_lr(num_env_steps_sampled_lifetime)
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = lr
        data = {mid: self.postprocess(mid, b) for mid, b in batch.items() if mid in self.optimizers}
        if not data:
            return {}
        sizes = {mid: batch_size(d, Columns.OBS) for mid, d in data.items()}
        # minibatch_size counts timesteps: a recurrent module's rows are sequences of several.
        steps = {mid: _timesteps(d, sizes[mid]) for mid, d in data.items()}
        num_minibatches = self.num_minibatches(steps)
        for _ in range(self.config.num_epochs):
            perms = {
                mid: torch.randperm(n, generator=self.shuffle_generator, device=self.device)
                for mid, n in sizes.items()
            }
            chunks = {mid: torch.tensor_split(p, num_minibatches) for mid, p in perms.items()}
            for i in range(num_minibatches):
                minibatch = {mid: index_batch(data[mid], chunks[mid][i]) for mid in data}
                self._update_minibatch(minibatch)
        self.num_updates += 1
        self.num_env_steps_trained += sum(steps.values())
        results = self._collect_stats()
        for mid in results:
            results[mid]["lr"] = lr
            results[mid]["num_module_steps_trained"] = steps[mid] * self.config.num_epochs
        self.after_update(results)
        return results

    def _update_minibatch(self, minibatch: dict[ModuleID, dict[str, Any]]) -> None:
        total = self._minibatch_loss(minibatch)
        if total is None and not self.data_parallel:
            return
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)
        if total is not None:
            total.backward()
        self.reduce_gradients(minibatch)
        for mid, opt in self.optimizers.items():
            grad_norm = self._clip_gradients(self._params[mid])
            if grad_norm is not None:
                self.log(mid, gradients_global_norm=grad_norm)
            opt.step()

    def _minibatch_loss(self, minibatch: dict[ModuleID, dict[str, Any]]) -> torch.Tensor | None:
        """The summed loss of the modules with rows in ``minibatch`` (None: no module has any)."""
        total = None
        for mid, mb in minibatch.items():
            if batch_size(mb, Columns.OBS) == 0:
                continue
            module = self.module[mid]
            fwd_out = module.forward_train(mb)
            checked = _first_steps(fwd_out) if SEQ_LENS in mb else fwd_out
            self._validators[mid].check(
                "forward_train", checked, batch_size(mb, Columns.OBS), require_action=False
            )
            loss = self.compute_loss_for_module(module_id=mid, config=self.config, batch=mb, fwd_out=fwd_out)
            loss_ok = torch.isfinite(loss.detach())
            if not loss_ok:
                raise FloatingPointError(
                    f"{type(self).__name__}: the loss of module '{mid}' is {loss.item()} at update "
                    f"{self.num_updates}. Lower the learning rate, clip gradients (grad_clip=0.5) or check the "
                    "rewards and observations for huge values."
                )
            total = loss if total is None else total + loss
        return total

    def _clip_gradients(self, params: list[torch.Tensor]) -> torch.Tensor | None:
        """Clip by global norm (returned), per-tensor norm, or value, per ``grad_clip_by``."""
        clip, by = self.config.grad_clip, self.config.grad_clip_by
        grads = [p.grad for p in params if p.grad is not None]
        if clip is None or not grads:
            return None
        with torch.no_grad():
            if by == "value":
                torch._foreach_clamp_min_(grads, -clip)
                torch._foreach_clamp_max_(grads, clip)
                return None
            norms = torch._foreach_norm(grads)
            if by == "norm":
                torch._foreach_mul_(grads, [(clip / (n + 1e-6)).clamp(max=1.0) for n in norms])
                return None
            total = torch.linalg.vector_norm(torch.stack(norms))
            torch._foreach_mul_(grads, (clip / (total + 1e-6)).clamp(max=1.0))
            return total

    # ----------------------------------------------------------------- state
    def get_state(self) -> dict[str, Any]:
        """Module weights, optimizer states and counters."""
        return {
            "rl_module": self.module.get_state(),
            "optimizers": {mid: opt.state_dict() for mid, opt in self.optimizers.items()},
            "extra": self.get_extra_state(),
            "num_updates": self.num_updates,
            "num_env_steps_trained": self.num_env_steps_trained,
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`get_state` returned."""
        self.module.set_state(state["rl_module"])
        for mid, opt_state in state.get("optimizers", {}).items():
            if mid in self.optimizers:
                self.optimizers[mid].load_state_dict(opt_state)
        self.set_extra_state(state.get("extra", {}))
        self.num_updates = int(state.get("num_updates", 0))
        self.num_env_steps_trained = int(state.get("num_env_steps_trained", 0))

    def get_rng_state(self) -> dict[str, Any]:
        """``{"shuffle": torch generator state, "global": global_rng state}`` (checkpointable)."""
        return {"shuffle": self.shuffle_generator.get_state(), "global": self.global_rng.get_state()}

    def set_rng_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`get_rng_state` returned.

        Raises:
            ValueError: If ``state`` is incomplete or damaged.
        """
        if not isinstance(state, Mapping) or "shuffle" not in state or "global" not in state:
            raise ValueError(
                f"{type(self).__name__}.set_rng_state(): expected a dict with 'shuffle' and 'global' "
                f"entries (from get_rng_state()), got {type(state).__name__}."
            )
        try:
            shuffle = torch.as_tensor(state["shuffle"], dtype=torch.uint8).clone()
            probe = torch.Generator(device=self.shuffle_generator.device)
            probe.set_state(shuffle)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(
                f"{type(self).__name__}.set_rng_state(): the shuffle generator state is damaged ({err})."
            ) from err
        self.global_rng.set_state(state["global"])
        self.shuffle_generator.set_state(shuffle)

    def get_extra_state(self) -> dict[str, Any]:
        """Algorithm-specific learner state (e.g. an adaptive KL coefficient)."""
        return {}

    def set_extra_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`get_extra_state`."""

    def get_weights(self, inference_only: bool = True) -> dict[ModuleID, Any]:
        """Weights for env runners (inference-only parts by default), as numpy copies.

        Same result as ``module.get_state(inference_only=...)``; for torch modules that keep
        RLlib's ``get_state`` the parameter list is looked up once, so that sending weights
        after every update round costs microseconds.
        """
        if not inference_only:
            return self.module.get_state()
        sources = self._inference_weight_sources()
        return {
            mid: self.module[mid].get_state(inference_only=True)
            if named is None
            else {name: tensor.detach().cpu().numpy().copy() for name, tensor in named.items()}
            for mid, named in sources.items()
        }

    def _inference_weight_sources(self) -> dict[ModuleID, dict[str, torch.Tensor] | None]:
        """``{module_id: {name: tensor}}`` of the inference-only weights (None: ask the module each time)."""
        key = tuple((mid, id(self.module[mid])) for mid in self.module)
        if self._weight_sources is not None and self._weight_sources[0] == key:
            return self._weight_sources[1]
        sources: dict[ModuleID, dict[str, torch.Tensor] | None] = {}
        for mid in self.module:
            sub = self.module[mid]
            if type(sub).get_state is not TorchRLModule.get_state:
                sources[mid] = None
                continue
            tensors = sub.state_dict()
            sources[mid] = {name: tensors[name] for name in sub.get_state(inference_only=True)}
        self._weight_sources = (key, sources)
        return sources

    def set_module_weights(self, weights: Mapping[ModuleID, Any]) -> None:
        """Load ``{module_id: weights}`` into the trained modules (modules not named keep theirs)."""
        self.module.set_state(weights)

    def get_module(self, module_id: ModuleID | None = None) -> Any:
        """The module ``module_id`` this learner trains (None: the whole MultiRLModule)."""
        return self.module if module_id is None else self.module[module_id]


def _timesteps(data: Mapping[str, Any], rows: int) -> int:
    """Timesteps in a training batch of ``rows`` rows: ``rows``, or the real (unpadded) steps of
    ``[B, S]`` sequences, so that padding short episodes does not multiply the optimizer steps."""
    if SEQ_LENS not in data:
        return rows
    return int(data[SEQ_LENS].sum())


def _first_steps(fwd_out: Mapping[str, Any]) -> dict[str, Any]:
    """A recurrent module's ``[B, S, ...]`` action outputs cut to their first step, ``[B, ...]``, for
    the output checks (which expect one row per sequence); other outputs are left as they are."""
    out = dict(fwd_out)
    for key in (Columns.ACTIONS, Columns.ACTION_DIST_INPUTS):
        value = out.get(key)
        if isinstance(value, torch.Tensor) and value.dim() >= 2:
            out[key] = value[:, 0]
        elif value is not None and not isinstance(value, torch.Tensor):
            out.pop(key)  # a distribution over [B, S]: its logits are checked in the loss
    return out
