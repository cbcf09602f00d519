"""Cutting [T, N] streams into padded sequences (tripod.data.sequences), checked by hand."""

from __future__ import annotations

import numpy as np
import torch

from tripod.data.sequences import gather_rows, sequence_layout
from tripod.data.stream_merge import concat_streams


def test_sequences_split_at_episode_ends_masked_rows_and_max_len():
    # T = 7, N = 2. Env 0: an episode ends at t=2, then a NEXT_STEP reset row (masked) at t=3.
    # Env 1: no episode end, cut every 3 rows.
    dones = np.zeros((7, 2), dtype=bool)
    dones[2, 0] = True
    mask = np.ones((7, 2), dtype=bool)
    mask[3, 0] = False
    layout = sequence_layout(dones, mask, 3)
    # Env 0: rows 0-2 | row 3 (masked only: dropped) | rows 4-6. Env 1: 0-2 | 3-5 | 6.
    starts_tn = [divmod(int(s), 2) for s in layout.starts]
    assert starts_tn == [(0, 0), (4, 0), (0, 1), (3, 1), (6, 1)]
    assert layout.lengths.tolist() == [3, 3, 3, 3, 1]
    assert layout.index[-1].tolist() == [13, 13, 13]  # row 6 of env 1, padding repeats it
    assert layout.valid[-1].tolist() == [True, False, False]
    assert layout.ends.tolist() == [4, 12, 5, 11, 13]
    index, valid = layout.extended()
    assert index.shape == (5, 4) and not valid[:, -1].any()


def test_a_sequence_never_crosses_a_reset():
    rng = np.random.default_rng(0)
    dones = rng.random((50, 4)) < 0.1
    mask = rng.random((50, 4)) < 0.9
    layout = sequence_layout(dones, mask, 6)
    covered = np.zeros(200, dtype=int)
    for b in range(len(layout.starts)):
        rows = layout.index[b, layout.valid[b]]
        t, n = np.divmod(rows, 4)
        assert (n == n[0]).all() and (np.diff(t) == 1).all() and len(rows) <= 6
        inner = t[1:]  # no episode end or masked row just before a step inside the sequence
        assert not (dones[inner - 1, n[0]] | ~mask[inner - 1, n[0]]).any()
        covered[rows] += 1
    assert (covered[mask.reshape(-1)] == 1).all()  # every real row exactly once
    assert (covered <= 1).all()


def test_gather_rows_pads_numpy_torch_and_nested_leaves_with_zeros():
    dones = np.zeros((3, 1), dtype=bool)
    layout = sequence_layout(dones, None, 2)  # rows 0-1 | row 2
    flat = {"a": np.array([1.0, 2.0, 3.0]), "b": (torch.tensor([[1], [2], [3]]),)}
    out = gather_rows(flat, layout.index, layout.valid)
    np.testing.assert_array_equal(out["a"], [[1.0, 2.0], [3.0, 0.0]])
    assert out["b"][0].tolist() == [[[1], [2]], [[3], [0]]]


def test_runner_batches_with_state_merge_and_their_padding_is_dropped():
    def batch(T, N, value):
        return {
            "obs": np.full((T, N, 1), value, np.float32),
            "rewards": np.ones((T, N), np.float32),
            "terminateds": np.zeros((T, N), bool),
            "truncateds": np.zeros((T, N), bool),
            "loss_mask": np.ones((T, N), bool),
            "state_in": {"actor": {"h": np.full((T, N, 2), value, np.float32)}},
            "bootstrap_obs": np.zeros((N, 1), np.float32),
            "bootstrap_index": np.arange((T - 1) * N, T * N),
        }

    merged = concat_streams([batch(4, 1, 1.0), batch(2, 1, 2.0)])
    assert merged["state_in"]["actor"]["h"].shape == (4, 2, 2)
    layout = sequence_layout(merged["terminateds"], merged["loss_mask"], 4)
    # The second runner's stream is front-padded with two masked rows: its sequence starts at t=2.
    assert [divmod(int(s), 2) for s in layout.starts] == [(0, 0), (2, 1)]
    assert layout.lengths.tolist() == [4, 2]
