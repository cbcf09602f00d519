"""Replay buffers and segment trees: ring writes, n-step targets, priorities, memory, state."""

import tracemalloc

import numpy as np
import pytest
from gymnasium import spaces

from tripod.core.columns import Columns
from tripod.data.prioritized_replay_buffer import PrioritizedReplayBuffer
from tripod.data.replay_buffer import ReplayBuffer, check_capacity
from tripod.io.checkpoint import load_state, save_state

OBS_SPACE = spaces.Box(-np.inf, np.inf, (4,), np.float32)
ACT_SPACE = spaces.Discrete(2)


def make_batch(obs, rewards, terms=None, truncs=None, next_obs=None):
    """A [T, N] batch whose 4-dim obs rows are filled with the scalars in ``obs`` ([T, N])."""
    obs = np.asarray(obs, dtype=np.float32)
    steps, envs = obs.shape
    zeros = np.zeros((steps, envs), bool)
    next_obs = obs + 100 if next_obs is None else np.asarray(next_obs, np.float32)
    return {
        Columns.OBS: np.repeat(obs[..., None], 4, axis=-1),
        Columns.NEXT_OBS: np.repeat(next_obs[..., None], 4, axis=-1),
        Columns.ACTIONS: (obs.astype(np.int64) % 2),
        Columns.REWARDS: np.asarray(rewards, np.float32).reshape(steps, envs),
        Columns.TERMINATEDS: zeros if terms is None else np.asarray(terms, bool).reshape(steps, envs),
        Columns.TRUNCATEDS: zeros if truncs is None else np.asarray(truncs, bool).reshape(steps, envs),
    }


def column(*xs):
    return np.asarray(xs)[:, None]


def by_obs(buffer, draws=200):
    """Sample every stored transition (with high probability) and key each by its scalar obs."""
    out = {}
    for _ in range(draws):
        batch = buffer.sample(len(buffer))
        for i, key in enumerate(batch[Columns.OBS][:, 0].tolist()):
            out[key] = {k: v[i] for k, v in batch.items()}
    return out


# --- ring ---------------------------------------------------------------------------------


def test_wrap_around_overwrites_oldest():
    buf = ReplayBuffer(4, OBS_SPACE, ACT_SPACE, seed=0)
    written = buf.add(make_batch(column(0, 1, 2), [0, 0, 0]))
    np.testing.assert_array_equal(written, [0, 1, 2])
    written = buf.add(make_batch(column(3, 4, 5), [0, 0, 0]))
    np.testing.assert_array_equal(written, [3, 0, 1])  # slots of obs 0 and 1 are reused
    assert len(buf) == 4
    assert set(by_obs(buf)) == {2.0, 3.0, 4.0, 5.0}


def test_batch_longer_than_buffer_keeps_newest():
    buf = ReplayBuffer(3, OBS_SPACE, ACT_SPACE, seed=0)
    buf.add(make_batch(column(0, 1, 2, 3, 4), [0] * 5))
    assert len(buf) == 3
    assert set(by_obs(buf)) == {2.0, 3.0, 4.0}


# --- n-step -------------------------------------------------------------------------------


def test_one_step_returns_raw_transitions():
    buf = ReplayBuffer(8, OBS_SPACE, ACT_SPACE, n_step=1, gamma=0.9, seed=0)
    buf.add(make_batch(column(0, 1, 2), [1, 2, 4], terms=column(0, 1, 0)))
    rows = by_obs(buf)
    for t, reward, term in ((0, 1, False), (1, 2, True), (2, 4, False)):
        assert rows[t][Columns.REWARDS] == reward
        assert rows[t][Columns.TERMINATEDS] == term
        assert rows[t]["discounts"] == pytest.approx(0.9)
        assert rows[t][Columns.NEXT_OBS][0] == t + 100
        assert rows[t][Columns.ACTIONS] == t % 2


def test_n_step_stops_at_termination():
    # gamma 0.5, n 3; the episode terminates at t=1, a new one starts at t=2.
    buf = ReplayBuffer(16, OBS_SPACE, ACT_SPACE, n_step=3, gamma=0.5, seed=0)
    buf.add(make_batch(column(0, 1, 2, 3, 4, 5), [1, 2, 4, 8, 16, 32], terms=column(0, 1, 0, 0, 0, 0)))
    rows = by_obs(buf)
    # t=0: 1 + 0.5*2 = 2, terminated within 2 steps.
    assert rows[0][Columns.REWARDS] == pytest.approx(2.0)
    assert rows[0][Columns.TERMINATEDS]
    assert rows[0]["discounts"] == pytest.approx(0.25)
    assert rows[0][Columns.NEXT_OBS][0] == 101
    # t=2: 4 + 0.5*8 + 0.25*16 = 12, full window, bootstraps from next obs of t=4.
    assert rows[2][Columns.REWARDS] == pytest.approx(12.0)
    assert not rows[2][Columns.TERMINATEDS]
    assert rows[2]["discounts"] == pytest.approx(0.125)
    assert rows[2][Columns.NEXT_OBS][0] == 104


def test_n_step_stops_at_truncation_and_bootstraps_from_final_obs():
    buf = ReplayBuffer(16, OBS_SPACE, ACT_SPACE, n_step=3, gamma=0.5, seed=0)
    # Truncated at t=1; its next obs (the final obs) is 77, then the reset obs 2 follows.
    batch = make_batch(
        column(0, 1, 2, 3), [1, 2, 4, 8], truncs=column(0, 1, 0, 0), next_obs=column(1, 77, 3, 4)
    )
    buf.add(batch)
    rows = by_obs(buf)
    assert rows[0][Columns.REWARDS] == pytest.approx(2.0)
    assert not rows[0][Columns.TERMINATEDS]
    assert rows[0]["discounts"] == pytest.approx(0.25)
    assert rows[0][Columns.NEXT_OBS][0] == 77


def test_incomplete_windows_are_cut_at_newest_data_then_grow():
    buf = ReplayBuffer(16, OBS_SPACE, ACT_SPACE, n_step=3, gamma=0.5, seed=0)
    buf.add(make_batch(column(0, 1), [1, 2]))
    rows = by_obs(buf)
    assert len(buf) == 2  # incomplete windows are still sampleable
    assert rows[0][Columns.REWARDS] == pytest.approx(2.0)
    assert rows[0]["discounts"] == pytest.approx(0.25)
    assert rows[0][Columns.NEXT_OBS][0] == 101  # bootstraps at the newest stored step
    assert rows[1][Columns.REWARDS] == pytest.approx(2.0)
    assert rows[1]["discounts"] == pytest.approx(0.5)
    buf.add(make_batch(column(2, 3), [4, 8]))  # the stream continues across add() calls
    rows = by_obs(buf)
    assert rows[0][Columns.REWARDS] == pytest.approx(1 + 1 + 1)
    assert rows[0]["discounts"] == pytest.approx(0.125)
    assert rows[0][Columns.NEXT_OBS][0] == 102


def test_n_step_never_reads_across_the_write_head():
    buf = ReplayBuffer(4, OBS_SPACE, ACT_SPACE, n_step=3, gamma=0.5, seed=0)
    buf.add(make_batch(column(0, 1, 2, 3, 4, 5), [1, 2, 4, 8, 16, 32]))
    rows = by_obs(buf)  # ring rows now hold t = 4, 5, 2, 3; t=5 is the newest
    assert rows[5][Columns.REWARDS] == pytest.approx(32)  # not + 0.5 * reward of the stale t=2 slot
    assert rows[5]["discounts"] == pytest.approx(0.5)
    assert rows[4][Columns.REWARDS] == pytest.approx(16 + 16)
    assert rows[3][Columns.REWARDS] == pytest.approx(8 + 8 + 8)  # window wraps the ring: t=3, 4, 5
    assert rows[3][Columns.NEXT_OBS][0] == 105
    assert rows[2]["discounts"] == pytest.approx(0.125)


def test_envs_keep_their_own_streams():
    buf = ReplayBuffer(16, OBS_SPACE, ACT_SPACE, num_envs=2, n_step=2, gamma=0.5, seed=0)
    obs = np.array([[0, 10], [1, 11], [2, 12]])
    rewards = np.array([[1, 100], [2, 200], [4, 400]])
    terms = np.array([[1, 0], [0, 0], [0, 0]])
    buf.add(make_batch(obs[:2], rewards[:2], terms=terms[:2]))
    buf.add(make_batch(obs[2:], rewards[2:], terms=terms[2:]))
    rows = by_obs(buf)
    assert len(buf) == 6 and buf.capacity == 16
    assert rows[0][Columns.REWARDS] == pytest.approx(1) and rows[0][Columns.TERMINATEDS]
    assert rows[1][Columns.REWARDS] == pytest.approx(2 + 0.5 * 4)
    assert rows[10][Columns.REWARDS] == pytest.approx(100 + 0.5 * 200)
    assert not rows[10][Columns.TERMINATEDS]
    assert rows[10][Columns.NEXT_OBS][0] == 111
    assert rows[11][Columns.REWARDS] == pytest.approx(200 + 0.5 * 400)
    assert rows[12][Columns.REWARDS] == pytest.approx(400)  # newest step: window of one


def test_rows_outside_the_loss_mask_are_skipped_and_end_windows():
    buf = ReplayBuffer(16, OBS_SPACE, ACT_SPACE, num_envs=2, n_step=3, gamma=0.5, seed=0)
    obs = np.array([[0, 10], [1, 11], [2, 12], [3, 13]])
    rewards = np.array([[1, 100], [50, 200], [4, 400], [8, 800]])
    terms = np.array([[1, 0], [0, 0], [0, 0], [0, 0]])
    real = np.array([[1, 1], [0, 1], [1, 1], [1, 1]], bool)  # env 0: NEXT_STEP reset row at t=1
    written = buf.add({**make_batch(obs, rewards, terms=terms), Columns.LOSS_MASK: real})
    np.testing.assert_array_equal(written, [0, 1, 3, 2, 5, 4, 7])  # env 0 uses rows 0, 1, 2 only
    assert len(buf) == 7
    rows = by_obs(buf)
    assert 1.0 not in rows
    assert rows[0][Columns.REWARDS] == pytest.approx(1) and rows[0][Columns.TERMINATEDS]
    assert rows[2][Columns.REWARDS] == pytest.approx(4 + 0.5 * 8)
    assert rows[10][Columns.REWARDS] == pytest.approx(100 + 100 + 100)

    # env 0 restarted (a cut row) at t=2 of this batch and at t=0 of the next: no termination,
    # yet no window may run across the restart.
    buf = ReplayBuffer(16, OBS_SPACE, ACT_SPACE, n_step=3, gamma=0.5, seed=0)
    batch = make_batch(column(0, 1, 2, 3, 4), [1, 2, 99, 8, 16], truncs=column(0, 0, 1, 0, 0))
    buf.add({**batch, Columns.LOSS_MASK: column(1, 1, 0, 1, 1).astype(bool)})
    batch = make_batch(column(5, 6), [99, 32], truncs=column(1, 0))
    buf.add({**batch, Columns.LOSS_MASK: column(0, 1).astype(bool)})
    rows = by_obs(buf)
    assert set(rows) == {0.0, 1.0, 3.0, 4.0, 6.0}
    assert rows[0][Columns.REWARDS] == pytest.approx(1 + 0.5 * 2)
    assert rows[0][Columns.NEXT_OBS][0] == 101 and not rows[0][Columns.TERMINATEDS]
    assert rows[0]["discounts"] == pytest.approx(0.25)
    assert rows[3][Columns.REWARDS] == pytest.approx(8 + 0.5 * 16)  # ends before the cut row 5
    assert rows[4][Columns.NEXT_OBS][0] == 104


def test_uniform_over_sub_envs_with_different_fill():
    buf = ReplayBuffer(8, OBS_SPACE, ACT_SPACE, num_envs=2, seed=0)
    real = np.array([[1, 1], [0, 1], [1, 1]], bool)
    buf.add({**make_batch(np.array([[0, 10], [1, 11], [2, 12]]), np.zeros((3, 2))), Columns.LOSS_MASK: real})
    counts = {}
    for _ in range(2000):
        for key in buf.sample(5)[Columns.OBS][:, 0].tolist():
            counts[key] = counts.get(key, 0) + 1
    assert sorted(counts) == [0.0, 2.0, 10.0, 11.0, 12.0]
    np.testing.assert_allclose(np.array(list(counts.values())) / 10000, 0.2, atol=0.015)


# --- storage ------------------------------------------------------------------------------

DICT_SPACE = spaces.Dict(
    {
        "pos": spaces.Box(-1, 1, (2,), np.float32),
        "id": spaces.Discrete(3),
        "extra": spaces.Tuple((spaces.Box(0, 255, (2, 2), np.uint8), spaces.MultiBinary(3))),
    }
)


def dict_obs(t, envs):
    """Nested obs [t, envs, ...] whose leaves all encode the step number."""
    steps = np.arange(t * envs).reshape(t, envs)
    return {
        "pos": np.repeat(steps[..., None], 2, -1).astype(np.float32),
        "id": steps % 3,
        "extra": (
            np.broadcast_to(steps[..., None, None], (t, envs, 2, 2)).astype(np.uint8),
            (steps[..., None] + np.zeros(3, int)) % 2,
        ),
    }


def test_dict_observations_are_stored_per_leaf():
    buf = ReplayBuffer(12, DICT_SPACE, spaces.Box(-1, 1, (2,), np.float32), num_envs=2, seed=0)
    obs = dict_obs(5, 2)
    nxt = {"pos": obs["pos"] + 0.5, "id": (obs["id"] + 1) % 3, "extra": obs["extra"]}
    batch = {
        Columns.OBS: obs,
        Columns.NEXT_OBS: nxt,
        Columns.ACTIONS: np.zeros((5, 2, 2), np.float32),
        Columns.REWARDS: np.zeros((5, 2), np.float32),
        Columns.TERMINATEDS: np.zeros((5, 2), bool),
        Columns.TRUNCATEDS: np.zeros((5, 2), bool),
    }
    buf.add(batch)
    out = buf.sample(10)
    assert set(out[Columns.OBS]) == {"pos", "id", "extra"}
    assert isinstance(out[Columns.OBS]["extra"], tuple)
    assert out[Columns.OBS]["pos"].dtype == np.float32 and out[Columns.OBS]["pos"].shape == (10, 2)
    assert out[Columns.OBS]["id"].dtype == np.int64
    assert out[Columns.OBS]["extra"][0].dtype == np.uint8 and out[Columns.OBS]["extra"][0].shape == (10, 2, 2)
    assert out[Columns.OBS]["extra"][1].dtype == np.int8
    step = out[Columns.OBS]["pos"][:, 0]
    np.testing.assert_array_equal(step, out["indices"])  # step number == flat index here
    np.testing.assert_array_equal(out[Columns.OBS]["id"], step % 3)
    np.testing.assert_array_equal(out[Columns.OBS]["extra"][0][:, 1, 1], step)
    np.testing.assert_array_equal(out[Columns.NEXT_OBS]["pos"][:, 0], step + 0.5)


def test_memory_matches_formula_and_is_preallocated():
    buf = ReplayBuffer(1000, OBS_SPACE, ACT_SPACE, num_envs=3)
    assert buf.capacity == 1002  # rounded up to whole vector steps
    assert buf.bytes_per_transition == 2 * 16 + 8 + 4 + 2
    assert buf.nbytes == 1002 * 46
    buf.add(make_batch(np.zeros((50, 3)), np.zeros((50, 3))))
    assert buf.nbytes == 1002 * 46

    # Preallocated: building the buffer allocates all of it; adding writes in place (no growth, no copy).
    batch = make_batch(np.zeros((50, 3)), np.zeros((50, 3)))
    tracemalloc.start()
    try:
        big = ReplayBuffer(100_000, OBS_SPACE, ACT_SPACE, num_envs=3)
        built = tracemalloc.get_traced_memory()[0]
        assert built >= big.nbytes == 100_002 * 46
        tracemalloc.reset_peak()
        for _ in range(30):
            big.add(batch)
        now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(big) == 30 * 150
    assert peak - built < big.nbytes / 20 and now - built < big.nbytes / 100

    dict_buf = ReplayBuffer(10, DICT_SPACE, spaces.MultiDiscrete([3, 4]))
    obs_bytes = 2 * 4 + 8 + 4 * 1 + 3 * 1
    assert dict_buf.nbytes == 10 * (2 * obs_bytes + 2 * 8 + 4 + 2)

    per = PrioritizedReplayBuffer(1000, OBS_SPACE, ACT_SPACE)
    assert per.nbytes == 1000 * 46 + 2 * (2 * 1024 * 8)


# --- errors -------------------------------------------------------------------------------


def test_capacity_and_batch_errors():
    with pytest.raises(ValueError, match="capacity must be an integer >= 1, got 0"):
        ReplayBuffer(0, OBS_SPACE, ACT_SPACE)
    buf = ReplayBuffer(100, OBS_SPACE, ACT_SPACE)
    with pytest.raises(ValueError, match="cannot sample 1 transitions: the replay buffer holds only 0"):
        buf.sample(1)
    buf.add(make_batch(np.zeros((10, 1)), np.zeros((10, 1))))
    with pytest.raises(ValueError, match=r"cannot sample 32 transitions.*only 10 \(capacity 100\)"):
        buf.sample(32)
    with pytest.raises(
        ValueError, match=r"capacity \(100\) is smaller than the train batch size \(256\).*at least 256"
    ):
        check_capacity(100, 256)
    check_capacity(256, 256)
    with pytest.raises(ValueError, match="batch size must be a positive integer"):
        check_capacity(10, 0)


def test_add_checks_shapes_and_keys():
    buf = ReplayBuffer(100, OBS_SPACE, ACT_SPACE, num_envs=2)
    batch = make_batch(np.zeros((3, 1)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"'obs' has shape \(3, 1, 4\), expected \(3, 2, 4\)"):
        buf.add(batch)
    del batch[Columns.NEXT_OBS]
    with pytest.raises(ValueError, match="batch lacks \\['new_obs'\\]"):
        buf.add(batch)
    with pytest.raises(TypeError, match="cannot store observation space"):
        ReplayBuffer(10, spaces.Text(5), ACT_SPACE)


# --- state --------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [ReplayBuffer, PrioritizedReplayBuffer])
def test_state_round_trip_through_checkpoint(tmp_path, cls):
    def build(seed):
        return cls(10, DICT_SPACE, ACT_SPACE, num_envs=2, n_step=3, gamma=0.9, seed=seed)

    def batch(t0, steps):
        obs = dict_obs(t0 + steps, 2)
        obs = {"pos": obs["pos"][t0:], "id": obs["id"][t0:], "extra": tuple(x[t0:] for x in obs["extra"])}
        return {
            Columns.OBS: obs,
            Columns.NEXT_OBS: obs,
            Columns.ACTIONS: np.ones((steps, 2), np.int64),
            Columns.REWARDS: np.arange(steps * 2, dtype=np.float32).reshape(steps, 2),
            Columns.TERMINATEDS: np.eye(steps, 2, dtype=bool),
            Columns.TRUNCATEDS: np.zeros((steps, 2), bool),
        }

    def assert_same_samples(one, two):
        for _ in range(2):
            a, b = one.sample(6), two.sample(6)
            assert a.keys() == b.keys()
            np.testing.assert_array_equal(a["indices"], b["indices"])
            np.testing.assert_array_equal(a[Columns.REWARDS], b[Columns.REWARDS])
            np.testing.assert_array_equal(a[Columns.OBS]["extra"][0], b[Columns.OBS]["extra"][0])
            if "weights" in a:
                np.testing.assert_array_equal(a["weights"], b["weights"])

    buf = build(7)
    real = np.ones((4, 2), bool)
    real[1, 1] = False  # sub-envs fill unevenly: 4 and 3 rows
    written = buf.add({**batch(0, 4), Columns.LOSS_MASK: real})
    buf.sample(4)
    if cls is PrioritizedReplayBuffer:
        buf.update_priorities(written, np.linspace(0.1, 3.0, len(written)))
    save_state(tmp_path, "replay_buffer", buf.get_state())
    restored = build(99)  # another seed: the generator state must come from the checkpoint
    restored.set_state(load_state(tmp_path, "replay_buffer"))

    assert len(restored) == len(buf) == 7
    assert_same_samples(buf, restored)
    # Both wrap around from the same write positions: the same rows are overwritten.
    np.testing.assert_array_equal(restored.add(batch(4, 3)), buf.add(batch(4, 3)))
    assert_same_samples(buf, restored)

    with pytest.raises(ValueError, match="build the buffer with the checkpoint's capacity"):
        cls(20, DICT_SPACE, ACT_SPACE, num_envs=2).set_state(buf.get_state())


def test_state_of_empty_buffer_round_trips(tmp_path):
    buf = PrioritizedReplayBuffer(5, OBS_SPACE, ACT_SPACE, seed=1)
    save_state(tmp_path, "replay_buffer", buf.get_state())
    restored = PrioritizedReplayBuffer(5, OBS_SPACE, ACT_SPACE, seed=2)
    restored.set_state(load_state(tmp_path, "replay_buffer"))
    assert len(restored) == 0
    restored.add(make_batch(column(0, 1), [0, 0]))
    buf.add(make_batch(column(0, 1), [0, 0]))
    np.testing.assert_array_equal(buf.sample(2)["indices"], restored.sample(2)["indices"])
