"""Sum and min segment trees against brute force."""

import numpy as np
import pytest

from tripod.data.segment_tree import MinTree, SumTree


def test_sum_tree_prefix_search_matches_brute_force():
    rng = np.random.default_rng(0)
    tree = SumTree(37)  # not a power of two
    values = rng.random(37) * (rng.random(37) > 0.3)  # some zero leaves
    tree.update(np.arange(37), values)
    assert tree.total() == pytest.approx(values.sum())
    queries = rng.random(1000) * values.sum()
    expected = np.searchsorted(np.cumsum(values), queries, side="right")
    np.testing.assert_array_equal(tree.find_prefixsum_idx(queries), expected)
    assert np.all(values[tree.find_prefixsum_idx(np.array([values.sum(), values.sum() * 1.0000001]))] > 0)

    tree.update(np.array([3, 5, 3]), np.array([10.0, 0.0, 2.0]))  # repeated index: last value wins
    values[[3, 5]] = [2.0, 0.0]
    assert tree[np.array([3, 5])].tolist() == [2.0, 0.0]
    assert tree.total() == pytest.approx(values.sum())
    rebuilt = SumTree(37)
    rebuilt.set_leaves(values)  # bulk rebuild == the same tree built by updates, inner sums included
    np.testing.assert_array_equal(rebuilt.leaves, tree.leaves)
    assert rebuilt.total() == pytest.approx(tree.total())
    grid = np.linspace(0.0, values.sum(), 5001)[:-1]  # every prefix sum is found the same way
    expected = np.searchsorted(np.cumsum(values), grid, side="right")
    np.testing.assert_array_equal(rebuilt.find_prefixsum_idx(grid), expected)
    np.testing.assert_array_equal(tree.find_prefixsum_idx(grid), expected)


def test_min_tree_matches_brute_force():
    rng = np.random.default_rng(1)
    tree = MinTree(10)
    assert tree.min() == np.inf
    values = np.full(10, np.inf)
    for _ in range(20):
        idx = rng.integers(0, 10, 3)
        new = rng.random(3)
        tree.update(idx, new)
        values[idx] = new  # indices may repeat; numpy keeps the last too
        assert tree.min() == values.min()
    with pytest.raises(IndexError, match="out of range"):
        tree.update(10, 1.0)
