"""RLlibCallback: the algorithm's hooks, custom metrics in the results, checkpoints, and their cost."""

from __future__ import annotations

import numpy as np
import pytest

from tripod.algorithms.algorithm import Algorithm
from tripod.algorithms.algorithm_config import ConfigError
from tripod.algorithms.ppo import PPOConfig
from tripod.callbacks.callbacks import DefaultCallbacks, RLlibCallback, make_callbacks, overridden_hooks
from tripod.utils.metrics.metrics_logger import MetricsLogger

CALLS: list[str] = []


class Recorder(RLlibCallback):
    def on_algorithm_init(self, *, algorithm, metrics_logger=None, **kwargs):
        CALLS.append("init")
        assert isinstance(algorithm, Algorithm) and isinstance(metrics_logger, MetricsLogger)

    def on_train_result(self, *, algorithm, metrics_logger=None, result, **kwargs):
        CALLS.append("train_result")
        metrics_logger.log_value("iteration_seen", result["training_iteration"], reduce="item")
        metrics_logger.log_value(("mine", "steps"), result["env_runners"]["num_env_steps_sampled"], reduce="sum")
        result["edited"] = True

    def on_evaluate_start(self, *, algorithm, metrics_logger=None, **kwargs):
        CALLS.append("evaluate_start")

    def on_evaluate_end(self, *, algorithm, metrics_logger=None, evaluation_metrics, **kwargs):
        CALLS.append("evaluate_end")
        evaluation_metrics["env_runners"]["checked"] = evaluation_metrics["env_runners"]["num_episodes"]

    def on_checkpoint_loaded(self, *, algorithm, **kwargs):
        CALLS.append("checkpoint_loaded")


class Counter(RLlibCallback):
    def on_train_result(self, *, algorithm, metrics_logger=None, result, **kwargs):
        metrics_logger.log_value("trained", 1, reduce="lifetime_sum")


def small(**callbacks) -> PPOConfig:
    return (
        PPOConfig()
        .environment("CartPole-v1")
        .training(train_batch_size_per_learner=200, minibatch_size=100, num_epochs=1)
        .debugging(seed=0)
        .callbacks(**callbacks)
    )


def test_algorithm_hooks_run_in_order_and_their_metrics_reach_the_result(tmp_path):
    CALLS.clear()
    algo = small(callbacks_class=Recorder).evaluation(evaluation_interval=2, evaluation_duration=3).build_algo()
    first, second = algo.train(), algo.train()
    assert CALLS == ["init", "train_result", "evaluate_start", "evaluate_end", "train_result"]
    assert first["iteration_seen"] == 1 and second["iteration_seen"] == 2 and first["edited"] is True
    assert second["mine"]["steps"] == second["env_runners"]["num_env_steps_sampled"]
    assert second["evaluation"]["env_runners"]["checked"] == 3
    path = algo.save_to_path(str(tmp_path / "ckpt"))
    CALLS.clear()
    restored = Algorithm.from_checkpoint(path)  # the class is importable: this module is imported
    assert CALLS == ["init", "checkpoint_loaded"] and type(restored.callbacks) is Recorder
    restored.stop()
    algo.stop()


def test_several_callbacks_classes_all_run():
    CALLS.clear()
    algo = small(callbacks_class=[Recorder, Counter]).build_algo()
    results = [algo.train() for _ in range(3)]
    assert [r["trained"] for r in results] == [1.0, 2.0, 3.0]
    assert CALLS.count("train_result") == 3
    algo.stop()


def test_callbacks_class_is_checked_when_set():
    with pytest.raises(ConfigError, match="callbacks_class must be None, a subclass of .*RLlibCallback"):
        small().callbacks(callbacks_class=object)
    with pytest.raises(ConfigError, match="callbacks_class must be"):
        small().callbacks(callbacks_class=Recorder())  # an instance, not the class


def test_only_overridden_hooks_are_called():
    assert overridden_hooks(Counter()) == {"on_train_result"}
    assert make_callbacks(RLlibCallback) is None and make_callbacks(DefaultCallbacks) is None
    assert overridden_hooks(make_callbacks(Recorder)) >= {"on_algorithm_init", "on_checkpoint_loaded"}


def test_metrics_logger_reductions():
    logger = MetricsLogger()
    for value in (1.0, 3.0):
        logger.log_value("mean", value)
        logger.log_value("total", value, reduce="sum")
        logger.log_value("lifetime", value, reduce="lifetime_sum")
        logger.log_value("low", np.float32(value), reduce="min")
        logger.log_value("windowed", value, window=3)
    assert logger.peek("mean") == 2.0
    assert logger.reduce() == {"mean": 2.0, "total": 4.0, "lifetime": 4.0, "low": 1.0, "windowed": 2.0}
    logger.log_value("lifetime", 1.0, reduce="lifetime_sum")
    logger.log_value("windowed", 5.0)
    assert logger.reduce() == {"lifetime": 5.0, "windowed": 3.0}  # window: the last 3 values (1, 3, 5)
    with pytest.raises(ValueError, match="reduce='median' is not one of"):
        logger.log_value("x", 1.0, reduce="median")
    with pytest.raises(ValueError, match="logged before with reduce='mean'"):
        logger.log_value("mean", 1.0, reduce="sum")
    with pytest.raises(ValueError, match="expected a number, got str; use reduce='item'"):
        logger.log_value("text", "hello")


class EpisodeMetrics(RLlibCallback):
    """RLlib's custom-metrics example, as RLlib users write it."""

    def on_episode_start(self, *, episode, env_runner=None, metrics_logger=None, env=None, env_index, **kwargs):
        assert len(episode.get_observations()) == 1 and len(episode) == 0
        episode.custom_data["angles"] = []

    def on_episode_step(self, *, episode, metrics_logger=None, env_index, **kwargs):
        episode.custom_data["angles"].append(abs(float(episode.get_observations(-1)[2])))

    def on_episode_end(self, *, episode, metrics_logger=None, **kwargs):
        assert episode.is_done and len(episode.get_observations()) == len(episode) + 1
        assert len(episode.custom_data["angles"]) == len(episode) == len(episode.get_rewards())
        metrics_logger.log_value("max_pole_angle", max(episode.custom_data["angles"]))
        metrics_logger.log_value("episode_length", len(episode), reduce="mean")
        metrics_logger.log_value("returns_sum", episode.get_return(), reduce="sum")


@pytest.mark.parametrize("vectorize_mode", ["sync", "vector"])
def test_episode_hooks_see_every_episode_and_their_metrics_reach_env_runners(vectorize_mode):
    config = small(callbacks_class=EpisodeMetrics).env_runners(num_envs_per_env_runner=4, vectorize_mode=vectorize_mode)
    algo = config.build_algo()
    results = [algo.train() for _ in range(3)]
    algo.stop()
    runners = [r["env_runners"] for r in results if r["env_runners"]["num_episodes"]]
    assert runners and results[-1]["num_episodes_lifetime"] <= 100  # the length window holds every episode
    # CartPole pays 1 per step: the hooks' returns add up to the lengths of all finished episodes
    total = results[-1]["env_runners"]["episode_len_mean"] * results[-1]["num_episodes_lifetime"]
    assert sum(r["returns_sum"] for r in runners) == pytest.approx(total)
    for r in runners:
        assert r["returns_sum"] == pytest.approx(r["episode_length"] * r["num_episodes"])
        assert 0 < r["max_pole_angle"] < 0.25  # CartPole ends at 0.2095 rad


class MultiAgentEpisodes(RLlibCallback):
    def on_episode_start(self, *, episode, **kwargs):
        assert len(episode) == 0 and set(episode.get_observations(0)) == {0, 1}
        episode.custom_data["steps"] = 0

    def on_episode_step(self, *, episode, **kwargs):
        episode.custom_data["steps"] += 1
        assert set(episode.get_actions(-1)) <= {0, 1}

    def on_episode_end(self, *, episode, metrics_logger=None, **kwargs):
        assert episode.is_done and episode.custom_data["steps"] == len(episode) == len(episode.get_rewards())
        rewards = sum(sum(step.values()) for step in episode.get_rewards())
        assert rewards == pytest.approx(episode.get_return())
        metrics_logger.log_value("agent_steps_per_episode", len(episode) * len(episode.agent_ids))
        metrics_logger.log_value("episodes_seen", 1, reduce="sum")


def test_episode_hooks_on_a_multi_agent_runner_see_every_agent():
    from tripod.envs import MultiAgentCartPole

    config = small(callbacks_class=MultiAgentEpisodes).environment(MultiAgentCartPole).multi_agent(policies=["shared"])
    algo = config.build_algo()
    results = [algo.train()["env_runners"] for _ in range(3)]
    evaluation = algo.evaluate(2)["env_runners"]
    algo.stop()
    finished = [r for r in results if r["num_episodes"]]
    assert finished and all(r["episodes_seen"] == r["num_episodes"] for r in finished)
    assert evaluation["episodes_seen"] == 2


def test_episode_hooks_run_in_evaluation_and_their_metrics_reach_the_evaluation_results():
    algo = small(callbacks_class=EpisodeMetrics).env_runners(num_envs_per_env_runner=2).build_algo()
    evaluation = algo.evaluate(4)["env_runners"]
    algo.stop()
    assert evaluation["num_episodes"] == 4
    assert evaluation["episode_length"] == pytest.approx(evaluation["episode_len_mean"])
    assert evaluation["returns_sum"] == pytest.approx(evaluation["episode_return_mean"] * 4)
