"""Put the time-major batches of several env runners side by side, as one batch.

Every runner returns ``[T_i, N_i, ...]`` arrays (``N_i`` streams: sub-envs, or agent
streams of a multi-agent runner) plus ``bootstrap_obs`` ``[K_i, ...]`` and
``bootstrap_index`` ``[K_i]`` (flat ``t * N_i + n``). :func:`concat_streams` makes one
``[T, sum N_i, ...]`` batch of them: streams shorter than the longest are padded at the
*front* with ``loss_mask = False`` rows (the multi-agent layout, so every stream still
ends at ``T - 1`` where the bootstrap observation belongs; GAE runs backwards and never
reaches padding), and bootstrap indices are renumbered.

A runner that failed leaves a gap: with a width given for it, its streams are filled
with masked rows, so that the column layout stays the same from round to round (what a
replay buffer's per-stream n-step bookkeeping needs; masked rows cut a stream there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tripod.core.columns import Columns

__all__ = ["concat_streams", "stream_shape"]

BOOTSTRAP_OBS = "bootstrap_obs"
BOOTSTRAP_INDEX = "bootstrap_index"


def _leaves(value: Any) -> list[np.ndarray]:
    if isinstance(value, Mapping):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, tuple | list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def _zip_map(fn: Any, trees: Sequence[Any]) -> Any:
    """``fn([leaf of each tree])`` for every leaf position of trees with one structure."""
    first = trees[0]
    if isinstance(first, Mapping):
        return {k: _zip_map(fn, [t[k] for t in trees]) for k in first}
    if isinstance(first, tuple | list):
        return type(first)(_zip_map(fn, [t[i] for t in trees]) for i in range(len(first)))
    return fn(list(trees))


def stream_shape(batch: Mapping[str, Any]) -> tuple[int, int]:
    """``(T, N)`` of a time-major batch (from its ``rewards``)."""
    t, n = np.shape(batch[Columns.REWARDS])[:2]
    return int(t), int(n)


def concat_streams(
    batches: Sequence[Mapping[str, Any] | None], pad_widths: Sequence[int | None] | None = None
) -> dict[str, Any]:
    """One batch with the streams of ``batches`` side by side (in order).

    Args:
        batches: Time-major batches with the same keys and leaf dtypes (None: a runner
            that returned nothing).
        pad_widths: Per entry of ``batches``, the number of masked streams to put in
            place of a None entry (None or 0: leave it out). Default: leave out every None.

    Returns:
        ``[T, N, ...]`` entries with ``T = max T_i`` and ``N`` the sum of the widths,
        ``bootstrap_obs`` concatenated and ``bootstrap_index`` renumbered.

    Raises:
        ValueError: If every entry is None, or the batches' keys differ.
    """
    present = [b for b in batches if b is not None]
    if not present:
        raise ValueError("concat_streams(): no batch to merge (every runner returned None).")
    if len(present) == 1 and len(batches) == 1:
        return dict(present[0])
    keys = set(present[0])
    for b in present[1:]:
        if set(b) != keys:
            raise ValueError(
                f"concat_streams(): the runners' batches have different keys: {sorted(keys)} and {sorted(b)}."
            )
    pads = list(pad_widths) if pad_widths is not None else [None] * len(batches)
    slots = [(b, *stream_shape(b)) if b is not None else (None, 0, pads[i] or 0) for i, b in enumerate(batches)]
    slots = [s for s in slots if s[0] is not None or s[2] > 0]
    num_rows = max(t for b, t, _ in slots if b is not None)
    num_cols = sum(n for _, _, n in slots)
    template = present[0]

    def side_by_side(leaves: list[np.ndarray], key: str) -> np.ndarray:
        like = leaves[0]
        out = np.zeros((num_rows, num_cols, *like.shape[2:]), dtype=like.dtype)
        col, it = 0, iter(leaves)
        for b, t, n in slots:
            if b is not None:
                out[num_rows - t :, col : col + n] = next(it)
            col += n
        return out

    merged: dict[str, Any] = {}
    for key in template:
        if key in (BOOTSTRAP_OBS, BOOTSTRAP_INDEX):
            continue
        merged[key] = _zip_map(lambda leaves, key=key: side_by_side(leaves, key), [b[key] for b in present])
    if BOOTSTRAP_INDEX in keys:
        merged[BOOTSTRAP_OBS], merged[BOOTSTRAP_INDEX] = _bootstrap(slots, num_rows, num_cols, template)
    return merged


def _bootstrap(
    slots: list[tuple[Any, int, int]], num_rows: int, num_cols: int, template: Mapping[str, Any]
) -> tuple[Any, np.ndarray]:
    """``bootstrap_obs`` and ``bootstrap_index`` of the merged batch.

    Each runner's ``t * N_i + n`` becomes ``t' * N + col + n``; a padded stream gets a zero
    observation for its last row (learners want one for every stream's last row; its rows
    are masked, so the value never reaches a loss).
    """
    obs, index, col = [], [], 0
    for b, t, n in slots:
        if b is not None:
            own = np.asarray(b[BOOTSTRAP_INDEX], dtype=np.int64)
            rows, cols = np.divmod(own, n)
            index.append((rows + num_rows - t) * num_cols + col + cols)
            obs.append(b[BOOTSTRAP_OBS])
        else:
            index.append((num_rows - 1) * num_cols + col + np.arange(n, dtype=np.int64))
            obs.append(_zip_map(lambda leaves, n=n: np.zeros((n, *leaves[0].shape[1:]), leaves[0].dtype),
                                [template[BOOTSTRAP_OBS]]))  # fmt: skip
        col += n
    return _zip_map(np.concatenate, obs), np.concatenate(index)
