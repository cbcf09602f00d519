"""Connectors in env runners and algorithms: what the module sees, statistics, checkpoints, inference."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from tripod.algorithms.algorithm import Algorithm
from tripod.algorithms.config_checks import ConfigError
from tripod.algorithms.ppo import PPOConfig
from tripod.algorithms.ppo.ppo import PPO  # noqa: E402
from tripod.connectors.connector_v2 import StepInfo
from tripod.connectors.env_to_module import FrameStackingEnvToModule, MeanStdFilter, PrevActionsPrevRewards
from tripod.core.columns import Columns
from tripod.core.rl_module.rl_module import RLModuleSpec
from tripod.env.single_agent_env_runner import SingleAgentEnvRunner
from tripod.io.checkpoint import CheckpointError

SPEC = RLModuleSpec(module_class=PPO.default_module_class, model_config={"fcnet_hiddens": [16]})


def _twins(mode: str = "sync", **connectors) -> tuple[SingleAgentEnvRunner, SingleAgentEnvRunner]:
    """Two runners stepping the same episodes (random actions, same seed): one raw, one with connectors."""
    common = {"module_spec": SPEC, "num_envs": 3, "seed": 7, "vectorize_mode": mode}
    return SingleAgentEnvRunner("CartPole-v1", **common), SingleAgentEnvRunner("CartPole-v1", **common, **connectors)


def test_module_sees_observations_normalised_with_the_previous_rounds_statistics():
    raw_runner, runner = _twins(env_to_module_connector=[MeanStdFilter(clip_by_value=None)])
    assert runner.observation_space == gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    first_raw = raw_runner.sample(num_timesteps=300, random_actions=True)
    first = runner.sample(num_timesteps=300, random_actions=True)
    np.testing.assert_allclose(first[Columns.OBS], first_raw[Columns.OBS], rtol=1e-6)  # nothing learnt yet
    second_raw = raw_runner.sample(num_timesteps=300, random_actions=True)
    second = runner.sample(num_timesteps=300, random_actions=True)
    # Round one learnt from the reset observations and its 300 steps' observations, which are its batch's
    # rows plus the observations it ended on (the next batch's first row); round two added 300 more.
    state = runner.get_connector_state()["env_to_module"]["pieces"][0]
    assert state["base"]["count"] + state["delta"]["count"] == 3 + 300 + 300
    seen = np.concatenate([first_raw[Columns.OBS].reshape(-1, 4), second_raw[Columns.OBS][0]])
    stats = MeanStdFilter(gym.spaces.Box(-np.inf, np.inf, (4,)), gym.spaces.Discrete(2), clip_by_value=None)
    stats(seen.astype(np.float32), StepInfo(np.zeros(1, bool), update=True))
    stats.end_round(update=True)
    # Each observation is normalised when it arrives: the first row arrived in round one (no statistics yet).
    expected = (second_raw[Columns.OBS] - stats.mean) / stats.std
    np.testing.assert_allclose(second[Columns.OBS][1:], expected[1:], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(second[Columns.OBS][0], second_raw[Columns.OBS][0], rtol=1e-6)
    # Rewards are untouched without reward pieces; bootstrap observations are normalised too.
    np.testing.assert_array_equal(second[Columns.REWARDS], second_raw[Columns.REWARDS])
    np.testing.assert_allclose(
        second["bootstrap_obs"], (second_raw["bootstrap_obs"] - stats.mean) / stats.std, rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("mode", ["sync", "vector"])  # SAME_STEP and NEXT_STEP autoreset
def test_frame_stacks_follow_episodes_and_final_observations(mode):
    raw_runner, runner = _twins(mode, env_to_module_connector=[FrameStackingEnvToModule(num_frames=2)])
    assert runner.observation_space.shape == (8,)
    raw = raw_runner.sample(num_timesteps=600, random_actions=True)
    out = runner.sample(num_timesteps=600, random_actions=True)
    obs, raw_obs = out[Columns.OBS], raw[Columns.OBS]
    np.testing.assert_array_equal(obs[..., 4:], raw_obs)  # the newest frame is the env's observation
    dones = raw[Columns.TERMINATEDS] | raw[Columns.TRUNCATEDS]
    same_step = mode == "sync"
    starts_checked = 0
    for t in range(1, obs.shape[0]):
        for n in range(obs.shape[1]):
            # SAME_STEP: the row after a done is the reset; NEXT_STEP: the row after that.
            start = dones[t - 1, n] if same_step else (t >= 2 and dones[t - 2, n])
            expected_older = raw_obs[t, n] if start else raw_obs[t - 1, n]
            np.testing.assert_array_equal(obs[t, n, :4], expected_older)
            starts_checked += bool(start)
    assert starts_checked >= 10
    # Bootstrap observations are stacked like any other: newest frame from the env's final observation.
    np.testing.assert_array_equal(out["bootstrap_obs"][:, 4:], raw["bootstrap_obs"])
    assert out["bootstrap_obs"].shape[1:] == (8,)


def test_lstm_use_prev_action_and_reward_feed_the_previous_step():
    spec = RLModuleSpec(module_class=PPO.default_module_class, model_config={
        "use_lstm": True, "lstm_cell_size": 8, "lstm_use_prev_action": True, "lstm_use_prev_reward": True,
    })  # fmt: skip
    runner = SingleAgentEnvRunner("CartPole-v1", module_spec=spec, num_envs=2, seed=3)
    assert set(runner.observation_space.spaces) == {"_orig_obs", "prev_n_actions", "prev_n_rewards"}
    batch = runner.sample(num_timesteps=400)
    obs, actions = batch[Columns.OBS], batch[Columns.ACTIONS]
    dones = batch[Columns.TERMINATEDS] | batch[Columns.TRUNCATEDS]
    for t in range(1, actions.shape[0]):
        for n in range(2):
            if dones[t - 1, n]:  # a new episode: nothing before it
                assert not obs["prev_n_actions"][t, n].any() and obs["prev_n_rewards"][t, n, 0] == 0
            else:
                np.testing.assert_array_equal(obs["prev_n_actions"][t, n], np.eye(2)[actions[t - 1, n]])
                assert obs["prev_n_rewards"][t, n, 0] == 1.0
    assert runner.module.observation_space == runner.observation_space


def _ppo(**env_runners) -> PPOConfig:
    return (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_envs_per_env_runner=4, **env_runners)
        .training(train_batch_size_per_learner=512, minibatch_size=128, num_epochs=2)
        .rl_module(model_config={"fcnet_hiddens": [16]})
        .debugging(seed=0)
    )


def _counts(group) -> list[int]:
    def count(runner):
        piece = runner.get_connector_state()["env_to_module"]["pieces"][0]
        return piece["base"]["count"] + piece["delta"]["count"]

    return group.foreach_env_runner(count)


def test_statistics_reach_evaluation_and_survive_checkpoints(tmp_path):
    algo = _ppo(env_to_module_connector=[MeanStdFilter()]).evaluation(evaluation_duration=4).build()
    algo.train()
    algo.train()
    trained = _counts(algo.env_runner_group)[0]
    assert trained >= 1024
    algo.evaluate()
    assert _counts(algo._eval_group) == [trained]  # the evaluation runner got them, and learnt nothing
    obs = np.array([0.1, -0.2, 0.03, 0.4], np.float32)
    pipeline = algo.connector_pipeline()
    normalised = pipeline(obs[None], StepInfo(np.ones(1, bool)))
    logits = algo.get_module().forward_inference({Columns.OBS: torch.as_tensor(normalised)})[Columns.ACTION_DIST_INPUTS]
    assert algo.compute_single_action(obs) == int(logits.argmax())
    path = algo.save_to_path(str(tmp_path / "ckpt"))
    algo.stop()
    restored = Algorithm.from_checkpoint(path)  # the pieces were saved as data: no overrides needed
    assert _counts(restored.env_runner_group) == [trained]
    assert restored.compute_single_action(obs) == int(logits.argmax())
    restored.stop()


def test_single_action_inference_follows_new_statistics_without_rebuilding_each_call():
    algo = _ppo(env_to_module_connector=[MeanStdFilter()]).build()
    algo.train()
    obs = np.array([[0.1, -0.2, 0.03, 0.4]], np.float32)
    first = algo.connector_pipeline(cached=True)
    assert algo.connector_pipeline(cached=True) is first  # same statistics: the same pipeline
    assert algo.connector_pipeline() is not first  # the public default stays a fresh one
    before = first(obs, StepInfo(np.ones(1, bool)))
    algo.train()  # new observations move the statistics
    second = algo.connector_pipeline(cached=True)
    assert second is not first
    after = second(obs, StepInfo(np.ones(1, bool)))
    assert not np.allclose(before, after)
    fresh = algo.connector_pipeline()(obs, StepInfo(np.ones(1, bool)))
    np.testing.assert_array_equal(after, fresh)
    algo.stop()


def test_a_factory_function_must_be_passed_again_to_restore(tmp_path):
    algo = _ppo(env_to_module_connector=lambda env: [MeanStdFilter()]).build()
    algo.train()
    path = algo.save_to_path(str(tmp_path / "ckpt"))
    algo.stop()
    with pytest.raises(CheckpointError, match="env_to_module_connector"):
        Algorithm.from_checkpoint(path)
    restored = Algorithm.from_checkpoint(path, config_overrides={"env_to_module_connector": [MeanStdFilter()]})
    assert _counts(restored.env_runner_group)[0] >= 512
    restored.stop()


def test_inference_refuses_pipelines_with_episode_memory():
    algo = _ppo(env_to_module_connector=[FrameStackingEnvToModule(num_frames=3)]).build()
    with pytest.raises(ValueError, match="FrameStackingEnvToModule"):
        algo.compute_single_action(np.zeros(4, np.float32))
    assert algo.evaluate(2)["env_runners"]["num_episodes"] == 2
    algo.stop()


@pytest.mark.parametrize(
    "value, match",
    [
        ([{"type": "os.system"}], "tripod's pieces"),
        ([MeanStdFilter(), 3], "got int"),
        ("MeanStdFilter", "got str"),
    ],
)
def test_bad_connector_settings_are_refused_with_the_fix(value, match):
    with pytest.raises(ConfigError, match=match):
        PPOConfig().env_runners(env_to_module_connector=value)


def test_inference_pipeline_lines_up_with_reward_pieces():
    """clip_rewards adds a reward piece to the runners' pipelines; inference outside them must load
    their statistics piece by piece (it raised 'has 2 piece states' before)."""
    config = (
        PPOConfig().environment("CartPole-v1", clip_rewards=True)
        .env_runners(env_to_module_connector=[MeanStdFilter()])
        .training(train_batch_size_per_learner=128, minibatch_size=64, num_epochs=1)
        .rl_module(model_config={"fcnet_hiddens": [8]})
        .debugging(seed=0)
    )  # fmt: skip
    algo = config.build_algo()
    algo.train()
    pipeline = algo.connector_pipeline()
    assert [type(p).__name__ for p in pipeline.connectors] == ["MeanStdFilter", "ClipRewards"]
    assert pipeline.connectors[0].count == 1 + 128  # the reset observation and one per env step
    assert algo.compute_single_action(np.zeros(4, np.float32)) in (0, 1)


def test_normalize_actions_unsquashes_for_the_env():
    config = (
        PPOConfig().environment("Pendulum-v1", normalize_actions=True)
        .env_runners(num_envs_per_env_runner=2)
        .training(train_batch_size_per_learner=64, minibatch_size=32, num_epochs=1)
        .rl_module(model_config={"fcnet_hiddens": [8]})
        .debugging(seed=0)
    )  # fmt: skip
    runner = SingleAgentEnvRunner(config=config)
    seen = []
    step = runner.env.step
    runner.env.step = lambda actions: (seen.append(np.array(actions)), step(actions))[1]
    batch = runner.sample(num_timesteps=64)
    module_actions = batch[Columns.ACTIONS].reshape(-1, 1)
    env_actions = np.concatenate(seen).reshape(-1, 1)
    np.testing.assert_allclose(env_actions, np.clip(module_actions * 2.0, -2.0, 2.0), rtol=1e-5)


def test_prev_actions_piece_in_a_pipeline_matches_the_model_config_switch():
    runner = SingleAgentEnvRunner(
        "CartPole-v1", module_spec=SPEC, num_envs=2, seed=1,
        env_to_module_connector=[PrevActionsPrevRewards(n_prev_actions=1, n_prev_rewards=0)],
    )  # fmt: skip
    assert set(runner.observation_space.spaces) == {"_orig_obs", "prev_n_actions"}
    batch = runner.sample(num_timesteps=20)
    assert batch[Columns.OBS]["prev_n_actions"].shape == (10, 2, 2)


def test_exports_carry_the_connectors_and_their_statistics(tmp_path):
    import json

    from tripod.export import export_algorithm

    algo = _ppo(env_to_module_connector=[MeanStdFilter(clip_by_value=5.0)]).build()
    algo.train()
    out = export_algorithm(algo, tmp_path / "export", format="pt2")
    sidecar = json.loads((out["path"] / "default_policy.json").read_text())
    (piece,) = sidecar["env_to_module"]
    mean, std = algo.connector_pipeline().connectors[0].mean, algo.connector_pipeline().connectors[0].std
    assert piece["type"] == "MeanStdFilter" and piece["clip_by_value"] == 5.0
    np.testing.assert_allclose(piece["mean"], mean)
    np.testing.assert_allclose(piece["std"], std)
    algo.stop()
