"""Split a time-major batch between data-parallel learners, stream by stream.

The inverse of :func:`~tripod.data.stream_merge.concat_streams`. A sampled batch holds
``[T, N, ...]`` arrays: ``T`` steps of ``N`` streams (sub-envs, or the agent streams of a
multi-agent runner), plus ``bootstrap_obs`` ``[K, ...]`` and ``bootstrap_index`` ``[K]``
(flat ``t * N + n``): the observation after every truncated row and after each stream's
last row. :func:`split_streams` cuts the stream axis ``N`` into contiguous blocks, one per
shard, so that every stream stays whole: advantages (GAE) computed on a shard are exactly
those of the whole batch. Each shard keeps the bootstrap observations of its own streams,
with ``bootstrap_index`` renumbered to the shard's width.

Pure numpy: no torch, no Ray.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tripod.core.columns import Columns

__all__ = ["shard_widths", "split_streams"]

BOOTSTRAP_OBS = "bootstrap_obs"
BOOTSTRAP_INDEX = "bootstrap_index"


def shard_widths(num_streams: int, num_shards: int) -> list[int]:
    """How many streams each of ``num_shards`` shards gets: as even as possible, larger ones first.

    ``shard_widths(5, 2) == [3, 2]``; with fewer streams than shards the last shards get 0.
    """
    if num_shards < 1:
        raise ValueError(f"split_streams(): num_shards must be at least 1, got {num_shards}.")
    base, extra = divmod(int(num_streams), int(num_shards))
    return [base + (i < extra) for i in range(num_shards)]


def _tree_map(fn: Any, value: Any, path: str) -> Any:
    """``fn(leaf, path)`` over nested dicts, tuples and lists (``path`` names the leaf in errors)."""
    if isinstance(value, Mapping):
        return {k: _tree_map(fn, v, f"{path}[{k!r}]") for k, v in value.items()}
    if isinstance(value, tuple | list):
        return type(value)(_tree_map(fn, v, f"{path}[{i}]") for i, v in enumerate(value))
    return fn(value, path)


def _as_array(leaf: Any) -> Any:
    """Array-likes with a shape (e.g. CPU torch tensors) as numpy arrays; other leaves as they are."""
    if isinstance(leaf, np.ndarray) or not (hasattr(leaf, "shape") and hasattr(leaf, "__array__")):
        return leaf
    return np.asarray(leaf)


def _column_slicer(num_rows: int, num_streams: int, start: int, stop: int) -> Any:
    """A leaf function taking streams ``start:stop`` of ``[T, N, ...]`` arrays (contiguous copies)."""

    def take(leaf: Any, path: str) -> Any:
        leaf = _as_array(leaf)
        if not isinstance(leaf, np.ndarray):
            return leaf  # e.g. a scalar or None: the same in every shard
        if leaf.ndim < 2 or leaf.shape[:2] != (num_rows, num_streams):
            raise ValueError(
                f"split_streams(): batch entry {path} has shape {leaf.shape}, but a time-major batch "
                f"of T={num_rows} steps and N={num_streams} streams (read from 'rewards') needs "
                f"[{num_rows}, {num_streams}, ...] arrays (besides bootstrap_obs / bootstrap_index)."
            )
        return np.ascontiguousarray(leaf[:, start:stop])

    return take


def split_streams(batch: Mapping[str, Any], num_shards: int) -> list[dict[str, Any]]:
    """Split a time-major batch along its stream axis into ``num_shards`` shards.

    Args:
        batch: ``{column: [T, N, ...] array}`` as env runners return them (nested dicts,
            tuples and lists of arrays for Dict/Tuple observations and ``state_in``),
            optionally with ``bootstrap_obs`` ``[K, ...]`` and ``bootstrap_index`` ``[K]``.
            ``T`` and ``N`` are read from ``rewards``.
        num_shards: How many shards (>= 1).

    Returns:
        ``num_shards`` batches with the same keys; shard ``i`` holds streams
        ``[c_i, c_i + w_i)`` with the widths of :func:`shard_widths` (contiguous blocks, in
        order, so that concatenating the shards' streams gives the batch back). Its
        ``bootstrap_obs`` are the entries whose stream it holds, in their original order,
        and its ``bootstrap_index`` is ``t * w_i + (n - c_i)``. With fewer streams than
        shards the last shards have zero streams (``[T, 0, ...]`` arrays, ``K = 0``).
        Array-likes (e.g. CPU torch tensors) come back as numpy arrays; leaves without a
        shape (scalars, None) are passed to every shard as they are.

    Raises:
        ValueError: If ``num_shards < 1``, an array entry is not ``[T, N, ...]``, or
            ``bootstrap_index`` lies outside ``[0, T * N)``.
    """
    if Columns.REWARDS not in batch:
        raise ValueError("split_streams(): the batch has no 'rewards' entry to read [T, N] from.")
    rewards = np.asarray(batch[Columns.REWARDS])
    if rewards.ndim < 2:
        raise ValueError(f"split_streams(): 'rewards' must be [T, N], got shape {rewards.shape}.")
    num_rows, num_streams = (int(d) for d in rewards.shape[:2])
    widths = shard_widths(num_streams, num_shards)
    boot_rows, boot_cols = _bootstrap_positions(batch, num_rows, num_streams)
    shards: list[dict[str, Any]] = []
    start = 0
    for width in widths:
        stop = start + width
        take = _column_slicer(num_rows, num_streams, start, stop)
        shard = {
            key: _tree_map(take, value, repr(key))
            for key, value in batch.items()
            if key not in (BOOTSTRAP_OBS, BOOTSTRAP_INDEX)
        }
        if boot_rows is not None:
            mine = np.flatnonzero((boot_cols >= start) & (boot_cols < stop))
            shard[BOOTSTRAP_INDEX] = (boot_rows[mine] * width + boot_cols[mine] - start).astype(np.int64)
            if BOOTSTRAP_OBS in batch:
                shard[BOOTSTRAP_OBS] = _tree_map(
                    lambda leaf, _path, mine=mine: np.ascontiguousarray(_as_array(leaf)[mine]),
                    batch[BOOTSTRAP_OBS], repr(BOOTSTRAP_OBS),
                )  # fmt: skip
        elif BOOTSTRAP_OBS in batch:
            shard[BOOTSTRAP_OBS] = batch[BOOTSTRAP_OBS]
        shards.append(shard)
        start = stop
    return shards


def _bootstrap_positions(
    batch: Mapping[str, Any], num_rows: int, num_streams: int
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(t, n)`` of every ``bootstrap_index`` entry (None, None without one)."""
    if BOOTSTRAP_INDEX not in batch:
        return None, None
    index = np.asarray(batch[BOOTSTRAP_INDEX]).reshape(-1)
    if index.size and not np.issubdtype(index.dtype, np.integer):
        raise ValueError(f"split_streams(): bootstrap_index must hold integers, got dtype {index.dtype}.")
    index = index.astype(np.int64)
    if index.size and (index.min() < 0 or index.max() >= num_rows * num_streams):
        raise ValueError(
            f"split_streams(): bootstrap_index must lie in [0, {num_rows * num_streams}) (flat t * N + n "
            f"for T={num_rows}, N={num_streams}), got [{index.min()}, {index.max()}]."
        )
    if num_streams == 0:
        return index, index
    rows, cols = np.divmod(index, num_streams)
    return rows, cols
