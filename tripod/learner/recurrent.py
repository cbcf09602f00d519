"""On-policy training batches for stateful (recurrent) modules: values, GAE, then sequences.

The runner's ``[T, N]`` batch holds ``state_in`` for every row. Here, as in RLlib:

1. the rows are cut into sequences of at most ``max_seq_len`` steps
   (:func:`~tripod.data.sequences.sequence_layout`): they never cross an episode
   start, and each starts from the state stored at its first row;
2. ``compute_values`` runs once over all sequences, ``[B, S + 1, ...]`` with the
   stored start states: a sequence that ends where the runner reported a bootstrap
   observation (a truncated episode, the fragment's last row) gets it as one extra
   step, so its value is computed with the recurrent state of the episode it ends;
3. GAE runs on the full ``[T, N]`` streams (episode ends, truncation and the
   fragment's tail are handled exactly as for stateless modules);
4. every column is gathered into zero-padded ``[B, S, ...]`` sequences;
   ``loss_mask`` is 0 on padding, ``state_in`` is ``[B, ...]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from tripod.core.columns import Columns
from tripod.core.rl_module.validation import check_values
from tripod.data.batch import flatten_time, to_torch, tree_map
from tripod.data.postprocessing import build_next_values, compute_gae, compute_returns
from tripod.data.sequences import SEQ_LENS, SequenceLayout, gather_rows, sequence_layout

__all__ = ["layout_for", "max_seq_len_of", "recurrent_advantages", "to_sequences"]

BOOTSTRAP_OBS = "bootstrap_obs"
BOOTSTRAP_INDEX = "bootstrap_index"
DEFAULT_MAX_SEQ_LEN = 20


def max_seq_len_of(module: Any) -> int:
    """``model_config["max_seq_len"]`` of ``module`` (RLlib's key; default 20)."""
    cfg = getattr(module, "model_config", None) or {}
    value = cfg.get("max_seq_len", DEFAULT_MAX_SEQ_LEN) if hasattr(cfg, "get") else DEFAULT_MAX_SEQ_LEN
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(
            f"{type(module).__name__}: model_config['max_seq_len'] = {value!r}; expected a positive int, "
            "the length of the training sequences of a recurrent module."
        )
    return int(value)


def layout_for(module: Any, batch: dict[str, Any]) -> SequenceLayout:
    """The sequences (of ``module``'s ``max_seq_len``) of a ``[T, N]`` batch."""
    dones = batch[Columns.TERMINATEDS] | batch[Columns.TRUNCATEDS]
    return sequence_layout(dones, batch.get(Columns.LOSS_MASK), max_seq_len_of(module))


def _put_boot(obs: Any, boot: Any, seq: np.ndarray, col: np.ndarray) -> None:
    """Write bootstrap observations ``boot [K', ...]`` at ``obs[seq, col]`` (nested leaves too)."""
    if isinstance(obs, dict):
        for key in obs:
            _put_boot(obs[key], boot[key], seq, col)
    elif isinstance(obs, tuple | list):
        for o, b in zip(obs, boot, strict=True):
            _put_boot(o, b, seq, col)
    else:
        obs[seq, col] = boot


def _sequence_values(
    module: Any, batch: dict[str, Any], layout: SequenceLayout, device: torch.device | str
) -> tuple[np.ndarray, np.ndarray]:
    """``(values [T, N], bootstrap values [K])`` from one ``compute_values`` over the sequences."""
    rewards = batch[Columns.REWARDS]
    rows = rewards.size
    flat = flatten_time({Columns.OBS: batch[Columns.OBS], Columns.STATE_IN: batch[Columns.STATE_IN]}, rows)
    index, valid = layout.extended()
    obs = gather_rows(flat[Columns.OBS], index, valid)
    boot_index = np.asarray(batch[BOOTSTRAP_INDEX], dtype=np.int64)
    ends = layout.ends
    order = np.argsort(ends, kind="stable")
    pos = np.searchsorted(ends[order], boot_index)
    pos = np.minimum(pos, max(len(ends) - 1, 0))
    found = ends[order][pos] == boot_index if len(ends) else np.zeros(len(boot_index), dtype=bool)
    seq_of_boot = order[pos][found]
    boot_col = layout.lengths[seq_of_boot]
    boot_obs = tree_map(lambda x: np.asarray(x)[found], batch[BOOTSTRAP_OBS])
    _put_boot(obs, boot_obs, seq_of_boot, boot_col)
    state = tree_map(lambda x: np.asarray(x)[layout.starts], flat[Columns.STATE_IN])
    with torch.no_grad():
        out = module.compute_values(
            {Columns.OBS: to_torch(obs, device), Columns.STATE_IN: to_torch(state, device)}
        )
    check_values(module, out, (len(layout.starts), layout.max_seq_len + 1))
    out = out.cpu().numpy()
    values = np.zeros(rows, dtype=np.float32)
    values[layout.index[layout.valid]] = out[:, :-1][layout.valid]
    boot_values = np.zeros(len(boot_index), dtype=np.float32)
    boot_values[found] = out[seq_of_boot, boot_col]
    return values.reshape(rewards.shape), boot_values


def recurrent_advantages(
    module: Any,
    batch: dict[str, Any],
    layout: SequenceLayout,
    *,
    use_critic: bool,
    gamma: float,
    lambda_: float,
    device: torch.device | str,
) -> dict[str, np.ndarray]:
    """Advantages and value targets ``[T, N]`` of a stateful module's batch (values over ``layout``'s sequences)."""
    rewards, terms, truncs = batch[Columns.REWARDS], batch[Columns.TERMINATEDS], batch[Columns.TRUNCATEDS]
    if not use_critic:
        returns = compute_returns(rewards, terms, truncs, gamma=gamma)
        return {Columns.ADVANTAGES: returns, Columns.VALUE_TARGETS: returns}
    values, boot_values = _sequence_values(module, batch, layout, device)
    next_values = build_next_values(values, boot_values, batch[BOOTSTRAP_INDEX])
    adv, targets = compute_gae(rewards, values, next_values, terms, truncs, gamma=gamma, lambda_=lambda_)
    return {Columns.ADVANTAGES: adv, Columns.VALUE_TARGETS: targets, Columns.VF_PREDS: values}


def to_sequences(flat: dict[str, Any], layout: SequenceLayout, device: torch.device | str) -> dict[str, Any]:
    """Flat ``[T * N, ...]`` training tensors → ``[B, S, ...]`` (zero-padded), ``state_in`` ``[B, ...]``
    (the state stored at each sequence's first row) and ``seq_lens`` ``[B]``."""
    flat = dict(flat)
    state = flat.pop(Columns.STATE_IN)
    out = {k: gather_rows(v, layout.index, layout.valid) for k, v in flat.items()}
    starts = torch.as_tensor(layout.starts, device=device)
    out[Columns.STATE_IN] = tree_map(lambda x: x[starts], state)
    out[SEQ_LENS] = torch.as_tensor(layout.lengths, device=device)
    return out
