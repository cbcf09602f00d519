"""Connector pieces on their own: exact statistics, merging, per-episode memory, spaces, state checks."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from tripod.connectors.build import build_env_to_module, build_module_to_env, check_setting, setting_as_data
from tripod.connectors.connector_v2 import StepInfo
from tripod.connectors.env_to_module import (
    ClipRewards,
    FlattenObservations,
    FrameStackingEnvToModule,
    MeanStdFilter,
    NormalizeRewards,
    PrevActionsPrevRewards,
)
from tripod.connectors.module_to_env import NormalizeAndClipActions

BOX = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)


def _info(n: int, update: bool = False, starts=None, **kw) -> StepInfo:
    return StepInfo(starts=np.zeros(n, bool) if starts is None else np.asarray(starts), update=update, **kw)


def _filter(**kw) -> MeanStdFilter:
    return MeanStdFilter(BOX, gym.spaces.Discrete(2), **kw)


def test_mean_std_filter_learns_exact_statistics_once_per_round():
    rng = np.random.default_rng(0)
    f = _filter(clip_by_value=None)
    first = rng.normal(5.0, 3.0, (4, 3)).astype(np.float32)
    np.testing.assert_allclose(f(first, _info(4, update=True)), first)  # nothing learnt yet: identity
    rounds = [first] + [rng.normal(5.0, 3.0, (4, 3)).astype(np.float32) for _ in range(9)]
    for obs in rounds[1:]:
        f(obs, _info(4, update=True))
    # Within the round the statistics stay fixed; the round's end folds all 40 observations in.
    f.end_round(update=True)
    seen = np.concatenate(rounds).astype(np.float64)
    assert f.count == 40
    np.testing.assert_allclose(f.mean, seen.mean(0), rtol=1e-6)
    np.testing.assert_allclose(f.std, np.sqrt(seen.var(0) + 1e-8), rtol=1e-6)
    probe = rng.normal(size=(2, 3)).astype(np.float32)
    expected = (probe - seen.mean(0)) / np.sqrt(seen.var(0) + 1e-8)
    np.testing.assert_allclose(f(probe, _info(2)), expected, rtol=1e-5)


def test_mean_std_filter_clips_and_freezes_without_update():
    f = _filter(clip_by_value=2.0)
    f(np.array([[0, 0, 0], [2, 2, 2]], np.float32), _info(2, update=True))
    f.end_round(update=True)  # mean 1, std 1
    out = f(np.array([[100.0, -100.0, 1.0]], np.float32), _info(1, update=False))
    np.testing.assert_allclose(out, [[2.0, -2.0, 0.0]], atol=1e-6)
    f.end_round(update=False)
    assert f.count == 2  # evaluation observations are never learnt
    assert f.observation_space == gym.spaces.Box(-2.0, 2.0, (3,), np.float32)


def test_mean_std_states_merge_exactly_and_count_nothing_twice():
    rng = np.random.default_rng(1)
    a, b = _filter(), _filter()
    data_a, data_b = rng.normal(size=(30, 3)), rng.normal(3.0, 2.0, size=(50, 3))
    for f, data in ((a, data_a), (b, data_b)):
        f(data.astype(np.float32), _info(len(data), update=True))
        f.end_round(update=True)
    merged = a.merge_states([a.get_state(), b.get_state()])
    a.set_state(merged)
    b.set_state(merged)
    both = np.concatenate([data_a, data_b]).astype(np.float32).astype(np.float64)
    for f in (a, b):
        assert f.count == 80
        np.testing.assert_allclose(f.mean, both.mean(0), rtol=1e-6)
        np.testing.assert_allclose(f.std**2, both.var(0) + 1e-8, rtol=1e-6)
    # A second sync round: the shared base is taken once, the new deltas added.
    more = rng.normal(size=(20, 3)).astype(np.float32)
    a(more, _info(20, update=True))
    a.end_round(update=True)
    merged = a.merge_states([a.get_state(), b.get_state()])
    b.set_state(merged)
    assert b.count == 100


@pytest.mark.parametrize(
    "state",
    [
        {"base": {"count": 1}},
        {"base": {"count": 2, "mean": [0, 0], "m2": [0, 0]}, "delta": {"count": 0, "mean": [0] * 3, "m2": [0] * 3}},
        {"base": {"count": -5, "mean": [0] * 3, "m2": [0] * 3}, "delta": {"count": 0, "mean": [0] * 3, "m2": [0] * 3}},
        {"base": {"count": 5, "mean": [np.nan] * 3, "m2": [0] * 3}, "delta": {"count": 0, "mean": [0] * 3, "m2": [0] * 3}},
    ],
)
def test_mean_std_filter_refuses_damaged_state(state):
    f = _filter()
    with pytest.raises(ValueError, match="MeanStdFilter"):
        f.set_state(state)
    assert f.count == 0


def test_mean_std_filter_refuses_dict_observations_with_the_fix():
    with pytest.raises(ValueError, match="FlattenObservations"):
        MeanStdFilter(gym.spaces.Dict({"a": BOX}), gym.spaces.Discrete(2))


def test_frame_stacking_fills_at_starts_and_peek_leaves_memory_alone():
    space = gym.spaces.Box(0, 255, (2, 2), np.uint8)
    f = FrameStackingEnvToModule(space, gym.spaces.Discrete(2), num_frames=3)
    f.reset(2)
    assert f.observation_space.shape == (2, 2, 3) and f.observation_space.dtype == np.uint8
    frame = lambda v: np.full((2, 2, 2), v, np.uint8)  # noqa: E731  (2 sub-envs)
    out = f(frame(1), _info(2, starts=[True, True]))
    np.testing.assert_array_equal(out[0, 0, 0], [1, 1, 1])
    out = f(frame(2), _info(2, starts=[False, True]))
    np.testing.assert_array_equal(out[0, 0, 0], [1, 1, 2])  # oldest first
    np.testing.assert_array_equal(out[1, 0, 0], [2, 2, 2])  # sub-env 1 began a new episode
    peeked = f.peek(np.full((1, 2, 2), 9, np.uint8), 0, _info(1))
    np.testing.assert_array_equal(peeked[0, 0, 0], [1, 2, 9])
    out = f(frame(3), _info(2))
    np.testing.assert_array_equal(out[0, 0, 0], [1, 2, 3])  # the peek did not move the stack
    out[0] = 0
    np.testing.assert_array_equal(f(frame(4), _info(2))[0, 0, 0], [2, 3, 4])  # outputs are copies


def test_frame_stacking_of_vectors_concatenates():
    f = FrameStackingEnvToModule(gym.spaces.Box(-1, 1, (2,), np.float32), gym.spaces.Discrete(2), num_frames=2)
    f.reset(1)
    f(np.array([[1, 2]], np.float32), _info(1, starts=[True]))
    np.testing.assert_array_equal(f(np.array([[3, 4]], np.float32), _info(1)), [[1, 2, 3, 4]])
    with pytest.raises(ValueError, match="num_frames"):
        FrameStackingEnvToModule(num_frames=0)


def test_prev_actions_prev_rewards_history():
    p = PrevActionsPrevRewards(BOX, gym.spaces.Discrete(3), n_prev_actions=2, n_prev_rewards=2)
    p.reset(1)
    obs = np.zeros((1, 3), np.float32)
    out = p(obs, _info(1, starts=[True]))
    np.testing.assert_array_equal(out["prev_n_actions"], np.zeros((1, 6)))
    out = p(obs, _info(1, prev_actions=np.array([2]), prev_rewards=np.array([1.5])))
    np.testing.assert_array_equal(out["prev_n_actions"], [[0, 0, 0, 0, 0, 1]])
    out = p(obs, _info(1, prev_actions=np.array([0]), prev_rewards=np.array([-1.0])))
    np.testing.assert_array_equal(out["prev_n_actions"], [[0, 0, 1, 1, 0, 0]])
    np.testing.assert_array_equal(out["prev_n_rewards"], [[1.5, -1.0]])
    out = p(obs, _info(1, starts=[True], prev_actions=np.array([1]), prev_rewards=np.array([3.0])))
    assert not out["prev_n_actions"].any() and not out["prev_n_rewards"].any()
    assert set(p.observation_space.spaces) == {"_orig_obs", "prev_n_actions", "prev_n_rewards"}


def test_flatten_observations_one_hots_discrete_leaves():
    space = gym.spaces.Dict({"pos": gym.spaces.Box(-1, 1, (2,)), "mode": gym.spaces.Discrete(3, start=1)})
    f = FlattenObservations(space, gym.spaces.Discrete(2))
    assert f.observation_space.shape == (5,)
    obs = {"mode": np.array([1, 3]), "pos": np.array([[0.5, -0.5], [1.0, 0.0]], np.float32)}
    np.testing.assert_array_equal(f(obs, _info(2)), [[1, 0, 0, 0.5, -0.5], [0, 0, 1, 1.0, 0.0]])


def test_normalize_rewards_divides_by_the_discounted_return_std():
    n = NormalizeRewards(gamma=0.5, clip_by_value=None)
    n.reset(1)
    rewards = np.ones((4, 1), np.float32)
    dones = np.array([[False], [True], [False], [False]])
    mask = np.ones((4, 1), bool)
    out = n.process_rewards(rewards, dones, mask, update=True)
    returns = np.array([1.0, 1.5, 1.0, 1.5])  # the running return restarts after the episode end
    np.testing.assert_allclose(out[:, 0], 1.0 / np.sqrt(returns.var() + 1e-8), rtol=1e-5)
    np.testing.assert_array_equal(rewards, 1.0)  # the input is left alone


def test_clip_rewards_sign_and_limit():
    r = np.array([[-3.0, 0.0, 0.2]], np.float32)
    np.testing.assert_array_equal(ClipRewards(sign=True).process_rewards(r, r == 0, r == r, True), [[-1, 0, 1]])
    np.testing.assert_allclose(ClipRewards(limit=0.5).process_rewards(r, r == 0, r == r, True), [[-0.5, 0, 0.2]])


def test_normalize_and_clip_actions_unsquashes_into_bounds():
    space = gym.spaces.Box(np.array([0.0, -2.0], np.float32), np.array([10.0, 2.0], np.float32))
    p = NormalizeAndClipActions(BOX, space, normalize_actions=True, clip_actions=True)
    out = p(np.array([[-1.0, 0.5], [0.0, 3.0]], np.float32), _info(2))
    np.testing.assert_allclose(out, [[0.0, 1.0], [5.0, 2.0]])
    assert not NormalizeAndClipActions(BOX, gym.spaces.Discrete(2), normalize_actions=True, clip_actions=True).active


def test_settings_as_data_round_trip_and_refuse_unknown_types():
    setting = [MeanStdFilter(clip_by_value=5.0), FrameStackingEnvToModule(num_frames=4)]
    data = setting_as_data(setting)
    assert data == [
        {"type": "MeanStdFilter", "de_mean_to_zero": True, "de_std_to_one": True, "clip_by_value": 5.0,
         "update_stats": True, "epsilon": 1e-8},
        {"type": "FrameStackingEnvToModule", "num_frames": 4},
    ]  # fmt: skip
    pipeline = build_env_to_module(data, None, BOX, gym.spaces.Discrete(2), 2)
    assert [type(p).__name__ for p in pipeline.connectors] == ["MeanStdFilter", "FrameStackingEnvToModule"]
    assert pipeline.observation_space.shape == (12,)
    # Data names tripod's pieces only: never an import path.
    assert "must name one of tripod's pieces" in check_setting([{"type": "os.system", "command": "true"}])
    assert "must name one of tripod's pieces" in check_setting({"type": "subprocess.Popen"})
    assert check_setting([{"type": "MeanStdFilter", "no_such_arg": 1}]) is not None
    assert check_setting(42) is not None


def test_factories_get_rllib_arguments_and_each_runner_its_own_copy():
    calls = []

    def factory(env, spaces, device):
        calls.append((env, sorted(spaces), device))
        return MeanStdFilter()

    pipeline = build_env_to_module(factory, "ENV", BOX, gym.spaces.Discrete(2), 1)
    assert calls == [("ENV", ["__env__", "default_policy"], None)]
    old_style = build_env_to_module(lambda env: [MeanStdFilter()], None, BOX, gym.spaces.Discrete(2), 1)
    assert len(old_style) == 1
    shared = MeanStdFilter()
    p1 = build_env_to_module([shared], None, BOX, gym.spaces.Discrete(2), 1)
    p1(np.ones((1, 3), np.float32), _info(1, update=True))
    p1(np.zeros((1, 3), np.float32), _info(1, update=True))
    p1.end_round(update=True)
    p2 = build_env_to_module([shared], None, BOX, gym.spaces.Discrete(2), 1)
    assert p1.connectors[0].count == 2 and p2.connectors[0].count == 0
    assert pipeline.connectors[0] is not p1.connectors[0]


def test_module_to_env_pipeline_ends_with_the_clip_piece():
    space = gym.spaces.Box(-1, 1, (1,), np.float32)
    pipeline = build_module_to_env(None, None, BOX, space, normalize_actions=False, clip_actions=True)
    assert [type(p).__name__ for p in pipeline.connectors] == ["NormalizeAndClipActions"]
    assert pipeline.connectors[-1].clips_only


def test_pipeline_state_of_another_pipeline_is_refused():
    pipeline = build_env_to_module([MeanStdFilter()], None, BOX, gym.spaces.Discrete(2), 1)
    with pytest.raises(ValueError, match="other env_to_module_connector"):
        pipeline.set_state({"pieces": []})


def test_a_round_learnt_while_a_merge_is_on_its_way_is_kept_once():
    """Asynchronous sampling: a runner reports, samples another round, then receives the merge."""
    a, b = _filter(), _filter()
    for f in (a, b):
        f(np.ones((10, 3), np.float32), _info(10, update=True))
        f.end_round(update=True)
    reports = [a.get_state(), b.get_state()]
    a(np.zeros((5, 3), np.float32), _info(5, update=True))  # the round in flight
    a.end_round(update=True)
    a.set_state(a.merge_states(reports))
    assert a.count == 25  # both reports once, plus the round sampled since
    b.set_state(b.merge_states(reports))
    assert b.count == 20
    merged_again = a.merge_states([a.get_state(), b.get_state()])
    b.set_state(merged_again)
    assert b.count == 25  # the in-flight round reaches the others with the next merge, once


def test_loading_a_checkpoint_state_replaces_what_a_runner_learnt():
    from tripod.env.connector_glue import RunnerConnectors

    def runner_connectors():
        return RunnerConnectors(None, BOX, gym.spaces.Discrete(2), 2, True, {"env_to_module_connector": [MeanStdFilter()]})

    saved, live = runner_connectors(), runner_connectors()
    for glue, value, rounds in ((saved, 1.0, 3), (live, 5.0, 7)):
        for _ in range(rounds):
            glue.step(np.full((2, 3), value, np.float32), np.zeros(2, int), np.zeros(2), np.zeros(2, bool), update=True)
            glue.end_round(np.zeros((1, 2), np.float32), np.zeros((1, 2), bool), np.ones((1, 2), bool), update=True)
    state = saved.get_state()
    live.set_state({"replace": [state]})
    (piece,) = live.env_to_module.connectors
    assert piece.count == 6
    np.testing.assert_allclose(piece.mean, 1.0)
