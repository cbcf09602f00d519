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
    def on_episode_end(self, *, episode, metrics_logger=None, **kwargs):
        metrics_logger.log_value("length", len(episode))


def test_env_runner_hooks_that_are_not_called_yet_are_refused_at_build():
    with pytest.raises(NotImplementedError, match="override on_episode_end, which tripod's env runners do not"):
        small(callbacks_class=EpisodeMetrics).build_algo()


def test_metrics_from_several_loggers_merge_before_they_reduce():
    """How env runners' values travel: popped as plain lists, merged, reduced together."""
    runners = [MetricsLogger(), MetricsLogger()]
    runners[0].log_value("len", 10.0)
    runners[1].log_value("len", 20.0)
    runners[1].log_value("len", 30.0)
    driver = MetricsLogger()
    for runner in runners:
        driver.merge_values(runner.pop_values())
    assert driver.reduce() == {"len": 20.0} and runners[0].pop_values() == {}
