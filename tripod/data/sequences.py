"""Cutting time-major ``[T, N]`` streams into padded ``[B, S]`` sequences for recurrent modules.

A stateful module trains on sequences: each is a run of consecutive rows of one
sub-env, at most ``max_seq_len`` long, that starts with the recurrent state the
runner stored at its first row (``state_in[t0, n]``) and never crosses a point at
which the runner reset that state. Sequences are zero-padded to ``max_seq_len``;
the padding is masked out of the loss.

A sequence starts at row 0, after every episode end (``done`` row), after every
row that is no real transition (``loss_mask == False``: a NEXT_STEP vector env's
reset row, an env restart; the runner resets the state there too), and every
``max_seq_len`` rows within an episode. Sequences made only of masked rows are
dropped. A new sequence is always safe — it starts from the stored state — so the
rule only has to never *miss* a reset.

All functions are pure numpy index maths: :func:`sequence_layout` finds the
sequences, :func:`gather_rows` pads any ``[T * N, ...]`` leaf into ``[B, S, ...]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from tripod.data.batch import tree_map

__all__ = ["SEQ_LENS", "SequenceLayout", "gather_rows", "sequence_layout"]

#: Column of a sequence batch: the real length of each ``[B]`` sequence.
SEQ_LENS = "seq_lens"


@dataclass(frozen=True)
class SequenceLayout:
    """Where the ``B`` sequences of a ``[T, N]`` batch lie.

    Attributes:
        max_seq_len: ``S``, the padded length.
        num_envs: ``N``.
        starts: ``[B]`` flat row (``t * N + n``) of each sequence's first step.
        lengths: ``[B]`` real steps of each sequence (``1..S``).
        index: ``[B, S]`` flat rows of every step (padding repeats a valid row).
        valid: ``[B, S]`` bool, ``True`` on real (unpadded) steps.
    """

    max_seq_len: int
    num_envs: int
    starts: np.ndarray
    lengths: np.ndarray
    index: np.ndarray
    valid: np.ndarray

    @property
    def ends(self) -> np.ndarray:
        """``[B]`` flat row of each sequence's last step."""
        return self.starts + (self.lengths - 1) * self.num_envs

    def extended(self) -> tuple[np.ndarray, np.ndarray]:
        """``(index, valid)`` of width ``S + 1``: one more column, for a bootstrap step after the end."""
        pad = self.index[:, -1:]
        return np.concatenate([self.index, pad], axis=1), np.concatenate(
            [self.valid, np.zeros((len(self.starts), 1), dtype=bool)], axis=1
        )


def sequence_layout(dones: np.ndarray, loss_mask: np.ndarray | None, max_seq_len: int) -> SequenceLayout:
    """Cut ``[T, N]`` rows into sequences (see the module docstring for the rule).

    Args:
        dones: ``[T, N]`` bool, an episode ended at row ``t`` (terminated or truncated).
        loss_mask: ``[T, N]`` bool, real transitions (``None``: all rows are).
        max_seq_len: ``S``, the longest sequence.

    Returns:
        The :class:`SequenceLayout`, sequences ordered by sub-env, then time.
    """
    T, N = dones.shape
    S = int(max_seq_len)
    mask = np.ones((T, N), dtype=bool) if loss_mask is None else loss_mask.astype(bool)
    boundary = np.zeros((T, N), dtype=bool)
    boundary[0] = True
    boundary[1:] = dones[:-1] | ~mask[:-1]
    # Position of each row within its segment (rows since the last boundary), then a new
    # sequence every S rows of a segment.
    t_idx = np.arange(T)[:, None]
    last_boundary = np.maximum.accumulate(np.where(boundary, t_idx, 0), axis=0)
    start = boundary | ((t_idx - last_boundary) % S == 0)
    n_start, t_start = np.nonzero(start.T)  # grouped by env, in time order
    nxt = np.empty_like(t_start)
    nxt[:-1] = np.where(n_start[1:] == n_start[:-1], t_start[1:], T)
    if nxt.size:
        nxt[-1] = T
    lengths = (nxt - t_start).astype(np.int64)
    # Drop sequences without a single real transition.
    mask_cum = np.concatenate([np.zeros((1, N), dtype=np.int64), np.cumsum(mask, axis=0)])
    real = mask_cum[nxt, n_start] - mask_cum[t_start, n_start]
    keep = real > 0
    t_start, n_start, lengths = t_start[keep], n_start[keep], lengths[keep]
    steps = np.arange(S)
    valid = steps[None, :] < lengths[:, None]
    t_rows = t_start[:, None] + np.minimum(steps[None, :], lengths[:, None] - 1)
    index = (t_rows * N + n_start[:, None]).astype(np.int64)
    starts = (t_start * N + n_start).astype(np.int64)
    return SequenceLayout(S, N, starts, lengths, index, valid)


def gather_rows(tree: Any, index: np.ndarray, valid: np.ndarray) -> Any:
    """``[B, S, ...]`` leaves from flat ``[T * N, ...]`` leaves (numpy or torch), zero where not ``valid``."""
    pad = ~valid
    any_pad = bool(pad.any())
    pad_t: dict[torch.device, torch.Tensor] = {}

    def gather(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            out = x[torch.as_tensor(index, device=x.device)]
            if any_pad:
                if x.device not in pad_t:
                    pad_t[x.device] = torch.as_tensor(pad, device=x.device)
                out[pad_t[x.device]] = 0
            return out
        out = np.asarray(x)[index]
        if any_pad:
            out[pad] = 0
        return out

    return tree_map(gather, tree)
