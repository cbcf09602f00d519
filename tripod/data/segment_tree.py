"""Sum and min segment trees over numpy arrays, for prioritized replay.

A tree with ``capacity`` leaves is one flat ``float64`` array of ``2 * size``
entries, ``size`` being the next power of two at or above ``capacity``: node
``i`` has children ``2i`` and ``2i + 1``, the root is node 1 and leaf ``j`` is
node ``size + j``. Leaves past ``capacity`` hold the operation's neutral element
(0 for sums, +inf for minima), so they never count. Updates and prefix-sum
searches take whole batches of indices and walk the ``log2(size)`` levels with
one numpy operation per level; there is no Python loop over the batch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["MinTree", "SumTree"]


class _SegmentTree:
    """A complete binary tree combining leaves with ``op`` (neutral element ``neutral``)."""

    def __init__(self, capacity: int, op: Callable[[np.ndarray, np.ndarray], np.ndarray], neutral: float):
        if isinstance(capacity, bool) or not isinstance(capacity, int | np.integer) or capacity < 1:
            raise ValueError(f"segment tree capacity must be a positive integer, got {capacity!r}")
        self._capacity = int(capacity)
        self._size = 1 << (self._capacity - 1).bit_length()
        self._depth = self._size.bit_length() - 1
        self._op = op
        self._neutral = float(neutral)
        self._tree = np.full(2 * self._size, self._neutral, dtype=np.float64)

    @property
    def capacity(self) -> int:
        """Number of usable leaves."""
        return self._capacity

    @property
    def nbytes(self) -> int:
        """Memory used by the tree array (``2 * size * 8`` bytes)."""
        return int(self._tree.nbytes)

    def __getitem__(self, indices: np.ndarray | int) -> np.ndarray:
        """Leaf values at ``indices`` (an int or an integer array)."""
        return self._tree[self._size + self._check(indices)]

    @property
    def leaves(self) -> np.ndarray:
        """A read-only view of all ``capacity`` leaf values."""
        view = self._tree[self._size : self._size + self._capacity]
        view.flags.writeable = False
        return view

    def update(self, indices: np.ndarray | int, values: np.ndarray | float) -> None:
        """Set leaves ``indices`` to ``values`` and refresh their ancestors.

        Args:
            indices: Leaf indices in ``[0, capacity)``, an int or an integer array.
                Where an index repeats, the value given last wins.
            values: One value per index, or a scalar for all of them.
        """
        indices = np.atleast_1d(self._check(indices))
        values = np.broadcast_to(np.asarray(values, dtype=np.float64), indices.shape)
        if indices.size == 0:
            return
        # Keep the last occurrence of each index so that repeats behave predictably.
        uniq, first_in_reversed = np.unique(indices[::-1], return_index=True)
        self._tree[self._size + uniq] = values[::-1][first_in_reversed]
        # Siblings share parents; recomputing a parent twice from its children is harmless
        # and cheaper than deduplicating every level.
        nodes = (self._size + uniq) >> 1
        for _ in range(self._depth):
            self._tree[nodes] = self._op(self._tree[2 * nodes], self._tree[2 * nodes + 1])
            nodes >>= 1

    def set_leaves(self, values: np.ndarray) -> None:
        """Replace all leaves at once (others reset to neutral) and rebuild the tree in O(size).

        Args:
            values: Up to ``capacity`` values for leaves ``0, 1, ...``.
        """
        values = np.asarray(values, dtype=np.float64).ravel()
        if values.size > self._capacity:
            raise ValueError(f"got {values.size} leaf values for a tree of capacity {self._capacity}")
        self._tree.fill(self._neutral)
        self._tree[self._size : self._size + values.size] = values
        lo = self._size // 2
        while lo >= 1:
            self._tree[lo : 2 * lo] = self._op(
                self._tree[2 * lo : 4 * lo : 2], self._tree[2 * lo + 1 : 4 * lo : 2]
            )
            lo //= 2

    def _reduce_all(self) -> float:
        return float(self._tree[1])

    def _check(self, indices: np.ndarray | int) -> np.ndarray:
        indices = np.asarray(indices)
        if indices.dtype.kind not in "iu":
            raise TypeError(f"segment tree indices must be integers, got dtype {indices.dtype}")
        if indices.size and (indices.min() < 0 or indices.max() >= self._capacity):
            raise IndexError(
                f"segment tree index out of range [0, {self._capacity}): "
                f"min {int(indices.min())}, max {int(indices.max())}"
            )
        return indices.astype(np.int64, copy=False)


class SumTree(_SegmentTree):
    """Segment tree of sums: ``total()`` and batched prefix-sum search for proportional sampling.

    Args:
        capacity: Number of leaves (rounded up internally to a power of two).
    """

    def __init__(self, capacity: int):
        super().__init__(capacity, np.add, 0.0)

    def total(self) -> float:
        """Sum of all leaves."""
        return self._reduce_all()

    def find_prefixsum_idx(self, values: np.ndarray | float) -> np.ndarray:
        """For each ``v`` the smallest leaf ``i`` with ``sum(leaves[: i + 1]) > v``.

        All values descend the tree together, one numpy step per level. ``v`` is
        meant to lie in ``[0, total())``; values at or past the total (e.g. from
        rounding) land on the last leaf with a positive value, and the search never
        enters a subtree whose sum is 0, so zero-priority leaves are never returned
        while any leaf is positive.

        Args:
            values: Prefix sums to look up, a float or a float array.

        Returns:
            ``int64`` leaf indices with the shape of ``values``.
        """
        values = np.asarray(values, dtype=np.float64)
        shape = values.shape
        remaining = values.ravel().copy()
        nodes = np.ones(remaining.shape, dtype=np.int64)
        for _ in range(self._depth):
            left = 2 * nodes
            left_sum = self._tree[left]
            go_right = (remaining >= left_sum) & (self._tree[left + 1] > 0.0)
            remaining -= np.where(go_right, left_sum, 0.0)
            nodes = left + go_right
        return (nodes - self._size).reshape(shape)


class MinTree(_SegmentTree):
    """Segment tree of minima: ``min()`` over all leaves set so far (unset leaves are +inf).

    Args:
        capacity: Number of leaves (rounded up internally to a power of two).
    """

    def __init__(self, capacity: int):
        super().__init__(capacity, np.minimum, np.inf)

    def min(self) -> float:
        """Smallest leaf value (``inf`` if no leaf was set)."""
        return self._reduce_all()
