"""Prioritized replay: sampling proportions, importance weights, priority updates."""

import numpy as np
import pytest
from gymnasium import spaces

from tripod.core.columns import Columns
from tripod.data.prioritized_replay_buffer import PrioritizedReplayBuffer

OBS_SPACE = spaces.Box(-np.inf, np.inf, (4,), np.float32)
ACT_SPACE = spaces.Discrete(2)


def make_batch(steps):
    """A [T, 1] batch whose obs rows hold the step numbers ``steps``."""
    obs = np.repeat(np.asarray(steps, np.float32)[:, None, None], 4, axis=-1)
    zeros = np.zeros((len(steps), 1), bool)
    return {
        Columns.OBS: obs,
        Columns.NEXT_OBS: obs + 1,
        Columns.ACTIONS: np.zeros((len(steps), 1), np.int64),
        Columns.REWARDS: np.zeros((len(steps), 1), np.float32),
        Columns.TERMINATEDS: zeros,
        Columns.TRUNCATEDS: zeros,
    }


def per_buffer(n, **kwargs):
    buf = PrioritizedReplayBuffer(n, OBS_SPACE, ACT_SPACE, seed=0, **kwargs)
    buf.add(make_batch(range(n)))
    return buf


def frequencies(buf, n, samples=12000):
    counts = np.zeros(n)
    for _ in range(samples // len(buf)):
        np.add.at(counts, buf.sample(len(buf))["indices"], 1)
    return counts / counts.sum()


def test_priority_sampling_proportions():
    buf = per_buffer(4, alpha=1.0, eps=1e-9)
    buf.update_priorities(np.arange(4), np.array([1.0, 2.0, 3.0, 4.0]))
    observed = frequencies(buf, 4) * 12000
    expected = np.array([0.1, 0.2, 0.3, 0.4]) * 12000
    chi2 = np.sum((observed - expected) ** 2 / expected)
    assert chi2 < 16.3  # 99.9 % quantile of chi-square with 3 degrees of freedom

    # alpha = 0.5 flattens the same priorities.
    buf = per_buffer(4, alpha=0.5, eps=1e-9)
    buf.update_priorities(np.arange(4), np.array([1.0, 4.0, 9.0, 16.0]))
    np.testing.assert_allclose(frequencies(buf, 4), [0.1, 0.2, 0.3, 0.4], rtol=0.05)


def test_importance_weights_by_hand():
    buf = per_buffer(2, alpha=1.0, beta=0.5, eps=1e-12)
    buf.update_priorities(np.array([0, 1]), np.array([-1.0, 4.0]))  # |td| is used
    out = buf.sample(2)
    # P = [0.2, 0.8], N = 2: w = (N P)^-0.5 = [1.5811, 0.7906]; / max -> [1, 0.5].
    expected = np.where(out["indices"] == 0, 1.0, 0.5)
    np.testing.assert_allclose(out["weights"], expected, rtol=1e-6)
    out = buf.sample(2, beta=1.0)
    np.testing.assert_allclose(out["weights"], np.where(out["indices"] == 0, 1.0, 0.25), rtol=1e-6)
    assert out["weights"].dtype == np.float32


def test_update_priorities_changes_distribution_and_new_data_gets_max():
    buf = PrioritizedReplayBuffer(8, OBS_SPACE, ACT_SPACE, alpha=1.0, eps=1e-9, seed=0)
    buf.add(make_batch(range(4)))
    np.testing.assert_allclose(frequencies(buf, 4), 0.25, rtol=0.05)  # all start at max priority
    buf.update_priorities(np.array([0, 1, 2, 3]), np.array([0.1, 0.1, 0.1, 9.7]))
    freq = frequencies(buf, 4)
    assert freq[3] == pytest.approx(0.97, abs=0.01)
    buf.add(make_batch([4]))
    assert buf.get_state()["priorities"][4] == pytest.approx(9.7)  # the largest priority seen so far
    freq = frequencies(buf, 5)
    assert freq[4] == pytest.approx(9.7 / (0.3 + 2 * 9.7), abs=0.015)  # and it is sampled that way
    with pytest.raises(ValueError, match=r"indices \[5\] are not stored transitions"):
        buf.update_priorities(np.array([5]), np.array([1.0]))
    with pytest.raises(ValueError, match="NaN or inf"):
        buf.update_priorities(np.array([0]), np.array([np.nan]))


def test_priority_sampling_matches_many_random_priorities():
    buf = per_buffer(50, alpha=0.7, eps=1e-9)
    td = np.random.default_rng(3).uniform(0.1, 5.0, 50)
    buf.update_priorities(np.arange(50), td)
    counts = np.zeros(50)
    for _ in range(3000):
        np.add.at(counts, buf.sample(32)["indices"], 1)
    expected = td**0.7 / np.sum(td**0.7) * counts.sum()
    assert np.sum((counts - expected) ** 2 / expected) < 85.4  # 99.9 % quantile, 49 dof
