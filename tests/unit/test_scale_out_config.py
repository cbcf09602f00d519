"""The scale-out settings: RLlib's names and methods, the rules between them, the CPUs they ask for.
(No Ray is started here: these are checked when a config is built.)"""

from __future__ import annotations

import pytest

from tripod.algorithms.algorithm_config import ConfigError, UnknownSettingError
from tripod.algorithms.ppo import PPOConfig
from tripod.algorithms.sac import SACConfig


def cartpole() -> PPOConfig:
    return PPOConfig().environment("CartPole-v1")


def test_fault_tolerance_is_rllibs_method_for_the_env_runner_settings():
    config = cartpole().fault_tolerance(
        restart_failed_env_runners=False, max_num_env_runner_restarts=3, restart_failed_sub_environments=True
    )
    assert config.restart_failed_env_runners is False and config.max_num_env_runner_restarts == 3
    assert config.restart_failed_sub_environments is True
    with pytest.raises(UnknownSettingError, match="Did you mean 'restart_failed_env_runners'"):
        config.fault_tolerance(ignore_env_runner_failures=True)
    with pytest.raises(ConfigError, match="max_num_env_runner_restarts must be an int >= 0"):
        config.fault_tolerance(max_num_env_runner_restarts=-1)


@pytest.mark.parametrize(
    ("method", "old", "new"),
    [
        ("env_runners", "num_cpus_per_worker", "num_cpus_per_env_runner"),
        ("learners", "num_learner_workers", "num_learners"),
        ("evaluation", "evaluation_num_workers", "evaluation_num_env_runners"),
        ("env_runners", "sample_async", "async_sampling"),
    ],
)
def test_older_rllib_names_point_to_the_new_ones(method, old, new):
    with pytest.raises(UnknownSettingError, match=f"Did you mean '{new}'"):
        getattr(cartpole(), method)(**{old: 1})


def test_cpus_asked_of_ray_count_runners_evaluation_runners_and_learners():
    config = cartpole().env_runners(num_env_runners=3, num_cpus_per_env_runner=0.5)
    assert not cartpole().uses_ray and cartpole().ray_cpus_needed == 0
    assert config.uses_ray and config.ray_cpus_needed == 1.5
    config.evaluation(evaluation_num_env_runners=1).learners(num_learners=2, num_cpus_per_learner=2)
    assert config.ray_cpus_needed == 2.0 + 4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.evaluation(evaluation_parallel_to_training=True), "needs evaluation runners of its own"),
        (lambda c: c.env_runners(async_sampling=True), "async_sampling=True lets remote env runners sample"),
        (lambda c: c.learners(num_learners=2).resources(device="cuda"), "device='cuda' sets the device of the learner"),
        (lambda c: c.learners(num_gpus_per_learner=1), "num_gpus_per_learner=1 is for remote learners"),
        (lambda c: c.learners(num_learners=2, num_gpus_per_learner=0.5), "NCCL cannot reduce gradients"),
    ],
)
def test_settings_that_contradict_each_other_are_refused_at_build(change, message):
    with pytest.raises(ConfigError, match=message):
        change(cartpole()).validate()


def test_replay_based_algorithms_keep_their_learner_in_the_training_process():
    config = SACConfig().environment("Pendulum-v1").learners(num_learners=1)
    with pytest.raises(ConfigError, match=r"SACConfig: num_learners=1 .*remote env runners \(num_env_runners\) work"):
        config.validate()
