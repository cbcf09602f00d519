"""split_streams: a time-major batch cut along its streams, whole streams per shard."""

from __future__ import annotations

import numpy as np
import pytest

from tripod.core.columns import Columns
from tripod.data.postprocessing import build_next_values, compute_gae
from tripod.data.stream_split import shard_widths, split_streams

T, N = 6, 5


def make_batch(seed: int = 0, num_rows: int = T, num_streams: int = N) -> dict:
    """A runner-like batch: nested obs, state_in, truncations mid-fragment, bootstrap entries."""
    rng = np.random.default_rng(seed)
    truncs = np.zeros((num_rows, num_streams), dtype=bool)
    for t, n in ((2, 1), (4, 3), (1, 4)):
        if n < num_streams:
            truncs[t, n] = True
    t_idx, n_idx = np.nonzero(truncs[:-1])
    t_idx = np.concatenate([t_idx, np.full(num_streams, num_rows - 1)])
    n_idx = np.concatenate([n_idx, np.arange(num_streams)])
    k = t_idx.size
    return {
        Columns.OBS: {
            "pos": rng.normal(size=(num_rows, num_streams, 3)).astype(np.float32),
            "pair": (
                rng.integers(0, 4, (num_rows, num_streams)),
                rng.normal(size=(num_rows, num_streams, 2)),
            ),
        },
        Columns.ACTIONS: rng.integers(0, 2, (num_rows, num_streams)),
        Columns.REWARDS: rng.normal(size=(num_rows, num_streams)).astype(np.float32),
        Columns.TERMINATEDS: rng.random((num_rows, num_streams)) < 0.1,
        Columns.TRUNCATEDS: truncs,
        Columns.LOSS_MASK: rng.random((num_rows, num_streams)) < 0.9,
        Columns.STATE_IN: {"h": rng.normal(size=(num_rows, num_streams, 4)).astype(np.float32)},
        "bootstrap_obs": {
            "pos": rng.normal(size=(k, 3)).astype(np.float32),
            "pair": (rng.integers(0, 4, k), rng.normal(size=(k, 2))),
        },
        "bootstrap_index": (t_idx * num_streams + n_idx).astype(np.int64),
    }


def leaves(tree):
    if isinstance(tree, dict):
        return [leaf for v in tree.values() for leaf in leaves(v)]
    if isinstance(tree, tuple | list):
        return [leaf for v in tree for leaf in leaves(v)]
    return [tree]


def test_shard_widths_are_even_and_larger_first():
    assert shard_widths(5, 2) == [3, 2]
    assert shard_widths(4, 4) == [1, 1, 1, 1]
    assert shard_widths(1, 3) == [1, 0, 0]
    with pytest.raises(ValueError, match="num_shards must be at least 1"):
        shard_widths(4, 0)


@pytest.mark.parametrize("num_shards", [1, 2, 3, 5])
def test_shards_put_side_by_side_give_the_batch_back(num_shards):
    batch = make_batch()
    shards = split_streams(batch, num_shards)
    assert [s[Columns.REWARDS].shape[1] for s in shards] == shard_widths(N, num_shards)
    for key in batch:
        if key.startswith("bootstrap"):
            continue
        for whole, *parts in zip(leaves(batch[key]), *(leaves(s[key]) for s in shards)):
            np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)
            assert all(p.flags.c_contiguous for p in parts)


@pytest.mark.parametrize("num_shards", [2, 3])
def test_bootstrap_entries_follow_their_streams(num_shards):
    batch = make_batch()
    start, seen = 0, []
    for shard, width in zip(split_streams(batch, num_shards), shard_widths(N, num_shards)):
        index = shard["bootstrap_index"]
        assert index.dtype == np.int64 and len(leaves(shard["bootstrap_obs"])[0]) == index.size
        t, n = np.divmod(index, width)
        original = t * N + start + n
        for k, flat in enumerate(original):
            (pos,) = np.flatnonzero(batch["bootstrap_index"] == flat)
            seen.append(pos)
            for mine, whole in zip(leaves(shard["bootstrap_obs"]), leaves(batch["bootstrap_obs"])):
                np.testing.assert_array_equal(mine[k], whole[pos])
        start += width
    assert sorted(seen) == list(range(batch["bootstrap_index"].size))  # each entry in one shard


def test_advantages_of_the_shards_are_those_of_the_whole_batch():
    batch = make_batch(seed=3)

    def gae(b):
        values = b[Columns.OBS]["pos"].sum(-1)
        boot_values = b["bootstrap_obs"]["pos"].sum(-1)
        nxt = build_next_values(values, boot_values, b["bootstrap_index"])
        return compute_gae(
            b[Columns.REWARDS], values, nxt, b[Columns.TERMINATEDS], b[Columns.TRUNCATEDS],
            gamma=0.9, lambda_=0.8,
        )[0]  # fmt: skip

    parts = [gae(shard) for shard in split_streams(batch, 2)]
    np.testing.assert_allclose(np.concatenate(parts, axis=1), gae(batch), rtol=1e-6)


def test_more_shards_than_streams_gives_empty_shards():
    batch = make_batch(num_streams=2)
    shards = split_streams(batch, 3)
    assert [s[Columns.REWARDS].shape for s in shards] == [(T, 1), (T, 1), (T, 0)]
    assert shards[2]["bootstrap_index"].size == 0 and shards[2]["bootstrap_obs"]["pos"].shape == (0, 3)


def test_batch_without_bootstrap_entries_and_non_array_leaves():
    batch = {Columns.REWARDS: np.zeros((3, 4)), Columns.OBS: np.ones((3, 4, 2)), "note": None}
    shards = split_streams(batch, 2)
    assert set(shards[0]) == set(batch) and shards[1]["note"] is None
    assert shards[1][Columns.OBS].shape == (3, 2, 2)


def test_bad_batches_are_refused_with_the_entry_named():
    batch = make_batch()
    with pytest.raises(ValueError, match="num_shards must be at least 1"):
        split_streams(batch, 0)
    bad = dict(batch, **{Columns.ACTIONS: np.zeros((T, N + 1))})
    with pytest.raises(ValueError, match=r"'actions' has shape \(6, 6\)"):
        split_streams(bad, 2)
    nested = dict(batch, **{Columns.OBS: {"pos": np.zeros((T, 2, 3))}})
    with pytest.raises(ValueError, match=r"'obs'\['pos'\]"):
        split_streams(nested, 2)
    out_of_range = dict(batch, bootstrap_index=np.array([T * N]))
    with pytest.raises(ValueError, match="bootstrap_index must lie in"):
        split_streams(out_of_range, 2)
    with pytest.raises(ValueError, match="no 'rewards'"):
        split_streams({Columns.OBS: np.zeros((2, 2))}, 2)


def test_torch_tensor_leaves_are_split_as_numpy_arrays():
    torch = pytest.importorskip("torch")
    batch = make_batch()
    batch[Columns.ACTIONS] = torch.as_tensor(batch[Columns.ACTIONS])
    batch["bootstrap_obs"]["pos"] = torch.as_tensor(batch["bootstrap_obs"]["pos"])
    shards = split_streams(batch, 2)
    np.testing.assert_array_equal(shards[1][Columns.ACTIONS], batch[Columns.ACTIONS].numpy()[:, 3:])
    assert sum(len(s["bootstrap_obs"]["pos"]) for s in shards) == len(batch["bootstrap_index"])
