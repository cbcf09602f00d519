"""Advantage estimation for on-policy learners (PPO, PG): the plumbing around GAE."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import torch

from tripod.core.columns import Columns
from tripod.core.rl_module.validation import check_values
from tripod.data.batch import flatten_time, to_torch
from tripod.data.postprocessing import build_next_values, compute_gae, compute_returns
from tripod.learner.recurrent import layout_for, recurrent_advantages, to_sequences

BOOTSTRAP_OBS = "bootstrap_obs"
BOOTSTRAP_INDEX = "bootstrap_index"


def estimate_advantages(
    module: Any,
    batch: dict[str, Any],
    *,
    use_critic: bool,
    gamma: float,
    lambda_: float,
    device: torch.device | str = "cpu",
    moved_columns: dict[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Advantages and value targets for a time-major [T, N] batch.

    With a critic: GAE(gamma, lambda_) with V from ``module.compute_values``,
    bootstrapping truncated episodes and the cut-off last row from the
    runner's ``bootstrap_obs``. Without: discounted returns-to-go.

    ``moved_columns``, if given, receives the flat ``[T * N]`` columns that
    ``compute_values`` replaced or added in the batch it was called on (see
    :func:`on_policy_training_batch`).
    """
    rewards = batch[Columns.REWARDS]
    terms, truncs = batch[Columns.TERMINATEDS], batch[Columns.TRUNCATEDS]
    if not use_critic:
        returns = compute_returns(rewards, terms, truncs, gamma=gamma)
        return {Columns.ADVANTAGES: returns, Columns.VALUE_TARGETS: returns}
    with torch.no_grad():
        obs = flatten_time({Columns.OBS: batch[Columns.OBS]}, rewards.size)[Columns.OBS]
        values_batch = {Columns.OBS: to_torch(obs, device)}
        seen = _obs_identity(values_batch)
        values = module.compute_values(values_batch)
        if moved_columns is not None:
            moved_columns.update(_moved(values_batch, seen))
        check_values(module, values, rewards.size)
        values = values.cpu().numpy().reshape(rewards.shape)
        boot_values = module.compute_values({Columns.OBS: to_torch(batch[BOOTSTRAP_OBS], device)})
        check_values(module, boot_values, len(batch[BOOTSTRAP_INDEX]))
        boot_values = boot_values.cpu().numpy()
    next_values = build_next_values(values, boot_values, batch[BOOTSTRAP_INDEX])
    adv, targets = compute_gae(rewards, values, next_values, terms, truncs, gamma=gamma, lambda_=lambda_)
    return {Columns.ADVANTAGES: adv, Columns.VALUE_TARGETS: targets, Columns.VF_PREDS: values}


def training_tensors(batch: dict[str, Any], *, normalize: bool, device: torch.device | str) -> dict[str, Any]:
    """Flatten a postprocessed [T, N] batch to rows, as tensors; optionally standardise advantages."""
    rows = batch[Columns.REWARDS].size
    keep = {k: v for k, v in batch.items() if k not in (BOOTSTRAP_OBS, BOOTSTRAP_INDEX)}
    out = to_torch(flatten_time(keep, rows), device)
    mask = out.get(Columns.LOSS_MASK)
    if mask is not None:
        out[Columns.LOSS_MASK] = mask = mask.to(torch.float32)
    adv = out[Columns.ADVANTAGES]
    summed = _BATCH_SUM.get()
    if normalize and summed is not None:
        out[Columns.ADVANTAGES] = _standardize_across_learners(adv, mask, summed)
    elif normalize and adv.numel() > 1:
        sel = adv if mask is None else adv[mask.bool()]
        out[Columns.ADVANTAGES] = (adv - sel.mean()) / (sel.std() + 1e-8)
    return out


#: While set (see :func:`batch_statistics_summed_with`), the function that sums a tensor over all
#: data-parallel learners; batch-wide statistics then cover the whole batch, not one shard.
_BATCH_SUM: contextvars.ContextVar[Callable[[torch.Tensor], torch.Tensor] | None] = contextvars.ContextVar(
    "tripod_batch_sum", default=None
)


@contextlib.contextmanager
def batch_statistics_summed_with(summed: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
    """Within the block, advantage normalisation uses the mean and standard deviation of the
    whole batch split between data-parallel learners: ``summed(tensor)`` must return the
    tensor's sum over all learners (as ``Learner.sum_across_learners`` does)."""
    token = _BATCH_SUM.set(summed)
    try:
        yield
    finally:
        _BATCH_SUM.reset(token)


def _standardize_across_learners(
    adv: torch.Tensor, mask: torch.Tensor | None, summed: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """``(adv - mean) / (std + 1e-8)`` with the mean and (unbiased) std of the real rows of every
    learner's shard, from two sums over the learners (in float64, so the order of the sums hardly matters)."""
    sel = (adv if mask is None else adv[mask.bool()]).double()
    totals = summed(torch.stack([sel.sum(), sel.new_tensor(float(sel.numel()))]))
    count = float(totals[1])
    if count <= 1:
        return adv
    mean = totals[0] / count
    var = summed((sel - mean).pow(2).sum()) / (count - 1)
    return (adv - mean.to(adv.dtype)) / (var.sqrt().to(adv.dtype) + 1e-8)


def masked_mean(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``x`` over the rows where ``mask`` is 1 (all rows without a mask)."""
    return x.mean() if mask is None else (x * mask).sum() / mask.sum().clamp(min=1)


def on_policy_training_batch(
    module: Any,
    batch: dict[str, Any],
    *,
    use_critic: bool,
    gamma: float,
    lambda_: float,
    normalize: bool,
    device: torch.device | str,
) -> dict[str, Any]:
    """A sampled [T, N] batch → flat training tensors with advantages and value targets.

    RLlib's learner calls ``compute_values`` on the train batch itself before
    ``forward_train``, so a module may rearrange columns there and find them so in
    ``forward_train`` and the loss (RLlib's action-masking example moves ``action_mask``
    out of the observation dict and beside the observations). tripod keeps that order:
    whatever ``compute_values`` changed in the batch it was given is carried into the
    training tensors. Modules that leave their input alone get exactly the same tensors.

    A stateful module's batch (with ``state_in``) becomes zero-padded ``[B, S, ...]``
    sequences of ``S = model_config["max_seq_len"]`` steps instead, with ``state_in``
    ``[B, ...]``, ``seq_lens`` ``[B]`` and ``loss_mask`` 0 on the padding (see
    :mod:`tripod.learner.recurrent`).
    """
    batch = dict(batch)
    if Columns.STATE_IN in batch and module.is_stateful():
        return _recurrent_training_batch(
            module,
            batch,
            use_critic=use_critic,
            gamma=gamma,
            lambda_=lambda_,
            normalize=normalize,
            device=device,
        )
    moved: dict[str, Any] = {}
    batch.update(
        estimate_advantages(
            module,
            batch,
            use_critic=use_critic,
            gamma=gamma,
            lambda_=lambda_,
            device=device,
            moved_columns=moved,
        )
    )
    out = training_tensors(batch, normalize=normalize, device=device)
    out.update(moved)
    return out


def _recurrent_training_batch(
    module: Any,
    batch: dict[str, Any],
    *,
    use_critic: bool,
    gamma: float,
    lambda_: float,
    normalize: bool,
    device: torch.device | str,
) -> dict[str, Any]:
    """A stateful module's ``[T, N]`` batch → ``[B, S, ...]`` sequences (see :mod:`tripod.learner.recurrent`)."""
    layout = layout_for(module, batch)
    batch.update(
        recurrent_advantages(
            module, batch, layout, use_critic=use_critic, gamma=gamma, lambda_=lambda_, device=device
        )
    )
    if Columns.LOSS_MASK not in batch:
        batch[Columns.LOSS_MASK] = np.ones(batch[Columns.REWARDS].shape, dtype=bool)
    return to_sequences(training_tensors(batch, normalize=normalize, device=device), layout, device)


def _obs_identity(values_batch: Mapping[str, Any]) -> tuple[Any, tuple | None]:
    obs = values_batch[Columns.OBS]
    return obs, tuple(obs) if isinstance(obs, Mapping) else None


def _moved(values_batch: Mapping[str, Any], seen: tuple[Any, tuple | None]) -> dict[str, Any]:
    """The columns ``compute_values`` replaced (``obs``, also when edited in place) or added."""
    moved = {k: v for k, v in values_batch.items() if k != Columns.OBS}
    obs, keys = _obs_identity(values_batch)
    if obs is not seen[0] or keys != seen[1]:
        moved[Columns.OBS] = values_batch[Columns.OBS]
    return moved


def train_action_dist(module: Any, fwd_out: dict[str, Any]) -> Any:
    """The tripod distribution of ``forward_train``'s ``action_dist_inputs`` (logits or torch Distribution)."""
    from tripod.core.distribution.action_dist import make_action_dist

    return make_action_dist(
        fwd_out[Columns.ACTION_DIST_INPUTS], module.action_space, dist_cls=module.get_train_action_dist_cls()
    )
