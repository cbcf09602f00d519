"""Merging several env runners' time-major batches and metrics (what a remote group hands on)."""

from __future__ import annotations

import numpy as np
import pytest

from tripod.data.postprocessing import build_next_values, compute_gae
from tripod.data.stream_merge import concat_streams
from tripod.env.env_runner_group import merge_runner_metrics


def runner_batch(num_rows: int, num_cols: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(num_rows, num_cols, 3)).astype(np.float32)
    truncated = np.zeros((num_rows, num_cols), bool)
    truncated[1, 0] = True  # a truncation in the middle: its own bootstrap row
    last = (num_rows - 1) * num_cols + np.arange(num_cols)
    boot_index = np.concatenate([[1 * num_cols + 0], last])
    return {
        "obs": {"pos": obs, "flag": (obs[..., 0] > 0,)},
        "rewards": rng.normal(size=(num_rows, num_cols)).astype(np.float32),
        "terminateds": np.zeros((num_rows, num_cols), bool),
        "truncateds": truncated,
        "loss_mask": np.ones((num_rows, num_cols), bool),
        "bootstrap_obs": {
            "pos": rng.normal(size=(boot_index.size, 3)).astype(np.float32),
            "flag": (np.ones(boot_index.size, bool),),
        },
        "bootstrap_index": boot_index.astype(np.int64),
    }


def test_streams_sit_side_by_side_and_bootstrap_rows_follow_them():
    a, b = runner_batch(4, 2, 0), runner_batch(3, 3, 1)
    merged = concat_streams([a, b])
    assert merged["rewards"].shape == (4, 5) and merged["obs"]["pos"].shape == (4, 5, 3)
    np.testing.assert_array_equal(merged["rewards"][:, :2], a["rewards"])
    np.testing.assert_array_equal(merged["rewards"][1:, 2:], b["rewards"])  # shorter: padded at the front
    assert not merged["loss_mask"][0, 2:].any() and merged["loss_mask"][1:].all()
    assert merged["obs"]["flag"][0].dtype == bool
    # every bootstrap row points at the merged position of the row it bootstraps
    for source, offset, (rows, cols) in ((a, 0, (4, 2)), (b, 2, (3, 3))):
        for k, flat in enumerate(source["bootstrap_index"]):
            t, n = divmod(int(flat), cols)
            merged_flat = (t + 4 - rows) * 5 + offset + n
            position = int(np.flatnonzero(merged["bootstrap_index"] == merged_flat)[0])
            np.testing.assert_array_equal(merged["bootstrap_obs"]["pos"][position], source["bootstrap_obs"]["pos"][k])


def test_a_failed_runner_leaves_masked_streams_that_still_bootstrap():
    a = runner_batch(4, 2, 0)
    merged = concat_streams([None, a], [2, 2])
    assert merged["rewards"].shape == (4, 4)
    assert not merged["loss_mask"][:, :2].any() and merged["loss_mask"][:, 2:].all()
    last_rows = {3 * 4 + 0, 3 * 4 + 1}  # the padded streams' last rows have a (zero) bootstrap entry
    assert last_rows <= set(merged["bootstrap_index"].tolist())
    # without a width the failed runner is left out
    assert concat_streams([None, a])["rewards"].shape == (4, 2)


def test_gae_of_merged_streams_equals_gae_of_each_runner():
    a, b = runner_batch(5, 2, 2), runner_batch(5, 3, 3)
    values = {id(x): np.random.default_rng(9).normal(size=(5, x["rewards"].shape[1])).astype(np.float32) for x in (a, b)}
    merged = concat_streams([a, b])
    merged_values = np.concatenate([values[id(a)], values[id(b)]], axis=1)

    def gae(batch, vf):
        # bootstrap values: a function of each bootstrap observation, so that they travel with it
        boot = batch["bootstrap_obs"]["pos"].sum(axis=1)
        next_values = build_next_values(vf, boot, batch["bootstrap_index"])
        return compute_gae(
            batch["rewards"], vf, next_values, batch["terminateds"], batch["truncateds"], gamma=0.9, lambda_=0.8
        )[0]

    np.testing.assert_allclose(gae(merged, merged_values)[:, :2], gae(a, values[id(a)]), rtol=1e-5)
    np.testing.assert_allclose(gae(merged, merged_values)[:, 2:], gae(b, values[id(b)]), rtol=1e-5)


def test_merge_refuses_nothing_and_mismatched_keys():
    with pytest.raises(ValueError, match="no batch to merge"):
        concat_streams([None, None])
    a, b = runner_batch(2, 1, 0), runner_batch(2, 1, 1)
    del b["truncateds"]
    with pytest.raises(ValueError, match="different keys"):
        concat_streams([a, b])


def test_runner_metrics_merge_sums_counts_and_recomputes_means():
    merged = merge_runner_metrics([
        {"episode_returns": [1.0, 2.0], "episode_lens": [3, 4], "num_episodes": 2, "num_env_steps_sampled": 5,
         "episode_return_mean": 1.5, "num_module_steps_sampled": {"a": 1}, "agent_episode_returns": {"x": [1.0]}},
        {"episode_returns": [6.0], "episode_lens": [5], "num_episodes": 1, "num_env_steps_sampled": 2,
         "episode_return_mean": 6.0, "num_module_steps_sampled": {"a": 2, "b": 1},
         "agent_episode_returns": {"x": [3.0], "y": [2.0]}},
    ])  # fmt: skip
    assert merged["episode_returns"] == [1.0, 2.0, 6.0] and merged["num_episodes"] == 3
    assert merged["num_env_steps_sampled"] == 7 and merged["num_module_steps_sampled"] == {"a": 3, "b": 1}
    assert merged["episode_return_mean"] == 3.0 and merged["episode_return_max"] == 6.0
    assert merged["episode_len_mean"] == 4.0
    assert merged["agent_episode_returns_mean"] == {"x": 2.0, "y": 2.0}
