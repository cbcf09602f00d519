"""Sample-batch helpers: map over nested observations, flatten time, index, move to torch.

A batch is a plain dict of numpy arrays (or tensors); an entry may be a nested
dict/tuple when the observation space is a Dict/Tuple space.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch


def tree_map(fn: Callable[[Any], Any], value: Any) -> Any:
    """Apply ``fn`` to every leaf of nested dicts, tuples and lists."""
    if isinstance(value, Mapping):
        return {k: tree_map(fn, v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return type(value)(tree_map(fn, v) for v in value)
    return fn(value)


def first_leaf(value: Any) -> Any:
    """The first array in a nested structure."""
    while isinstance(value, Mapping | tuple | list):
        value = next(iter(value.values())) if isinstance(value, Mapping) else value[0]
    return value


def flatten_time(batch: Mapping[str, Any], num_rows: int) -> dict[str, Any]:
    """Reshape time-major ``[T, N, ...]`` entries to ``[T * N, ...]``.

    Entries whose leading dimension is not ``T*N`` after merging (e.g.
    ``bootstrap_obs``) are left as they are.
    """

    def merge(x: Any) -> Any:
        if isinstance(x, np.ndarray | torch.Tensor) and x.ndim >= 2 and x.shape[0] * x.shape[1] == num_rows:
            return x.reshape((num_rows, *x.shape[2:]))
        return x

    return {k: tree_map(merge, v) for k, v in batch.items()}


def to_torch(value: Any, device: torch.device | str = "cpu") -> Any:
    """Numpy leaves to tensors on ``device`` (float64 becomes float32)."""

    def convert(x: Any) -> Any:
        if isinstance(x, np.ndarray):
            if x.dtype == np.float64:
                x = x.astype(np.float32)
            elif not x.flags.writeable:  # e.g. a batch from Ray's object store: torch wants its own
                x = x.copy()
            return torch.from_numpy(np.ascontiguousarray(x)).to(device)
        if isinstance(x, torch.Tensor):
            return x.to(device)
        return x

    return tree_map(convert, value)


def index_batch(batch: Mapping[str, Any], index: Any) -> dict[str, Any]:
    """Rows ``index`` of every entry (nested entries too)."""
    return {k: tree_map(lambda x: x[index], v) for k, v in batch.items()}


def batch_size(batch: Mapping[str, Any], key: str = "obs") -> int:
    """Number of rows in ``batch`` (read from ``key``)."""
    return int(first_leaf(batch[key]).shape[0])
