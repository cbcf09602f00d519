"""tripod algorithms under Ray Tune (tripod.distributed.tune): a grid over lr through tune.Tuner,
Tune checkpoints that Algorithm.from_checkpoint loads, flattened metrics, param-space checks and
trial resources. One local Ray (2 CPUs) for the module; tiny PPO runs on CartPole."""

from __future__ import annotations

import os
import shutil

import gymnasium as gym
import numpy as np
import pytest

ray = pytest.importorskip("ray")
from ray import tune  # noqa: E402

from tripod.algorithms import PPO, Algorithm, PPOConfig  # noqa: E402
from tripod.algorithms.config_checks import ConfigError, UnknownSettingError  # noqa: E402
from tripod.distributed.tune import (  # noqa: E402
    TUNE_NAMES,
    PPOTrainable,
    config_from_tune_params,
    placement_group_factory,
    register_tune_trainables,
    trainable,
    tune_param_space,
)
from tripod.env import register_env  # noqa: E402

LRS = [1e-4, 3e-4, 1e-3]
RETURN = "env_runners/episode_return_mean"


@pytest.fixture(scope="module")
def ray_session():
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    register_tune_trainables()  # Tune's registry lives in the Ray session
    yield
    ray.shutdown()


def tiny_config() -> PPOConfig:
    return (
        PPOConfig()
        .environment("CartPole-v1")
        .training(train_batch_size_per_learner=128, minibatch_size=64, num_epochs=1)
        .debugging(seed=0)
    )


def run_config(tmp_path, name: str, iterations: int = 2) -> tune.RunConfig:
    return tune.RunConfig(
        name=name,
        storage_path=str(tmp_path),
        stop={"training_iteration": iterations},
        checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=True),
        verbose=0,
    )


def test_grid_over_lr_gives_three_results_with_metrics_and_loadable_checkpoints(ray_session, tmp_path):
    space = tune_param_space(tiny_config(), lr=tune.grid_search(LRS))
    tuner = tune.Tuner(
        trainable(PPO),
        param_space=space,
        tune_config=tune.TuneConfig(metric=RETURN, mode="max"),
        run_config=run_config(tmp_path, "lr_grid"),
    )
    results = tuner.fit()
    assert results.errors == []
    assert len(results) == 3
    assert sorted(r.config["lr"] for r in results) == LRS
    for result in results:
        assert result.metrics["training_iteration"] == 2
        # Tune keeps the nested dicts (as RLlib's results) and flattens them with "/".
        assert np.isfinite(result.metrics["env_runners"]["episode_return_mean"])
        assert RETURN in result.metrics_dataframe.columns
        # The trial's lr reached the learner.
        assert result.metrics["learners"]["default_policy"]["lr"] == pytest.approx(result.config["lr"])
    best = results.get_best_result()
    assert best.config["lr"] in LRS
    algo = Algorithm.from_checkpoint(best.checkpoint.path)
    try:
        assert isinstance(algo, PPO)
        assert algo.iteration == 2
        assert algo.config.lr == pytest.approx(best.config["lr"])
        assert algo.compute_single_action(np.zeros(4, dtype=np.float32)) in (0, 1)
    finally:
        algo.stop()
    # The experiment's own config comes back as a tripod config.
    assert config_from_tune_params(best.config, PPO).lr == best.config["lr"]


def test_registered_name_with_a_config_object_and_reused_actors(ray_session, tmp_path):
    """RLlib's form, tune.Tuner("PPO", param_space=config), with tripod's name and config; an env
    registered with tripod.env.register_env in the driver is known in the trials."""
    register_env("tripod-tune-test-cartpole", lambda env_config: gym.make("CartPole-v1"))
    config = tiny_config().environment("tripod-tune-test-cartpole")
    tuner = tune.Tuner(
        "tripod/PPO",
        param_space=config,  # Tune calls config.to_dict()
        tune_config=tune.TuneConfig(reuse_actors=True),
        run_config=run_config(tmp_path, "config_object", iterations=1),
    )
    (result,) = tuner.fit()
    assert result.error is None
    assert result.config["env"] == "tripod-tune-test-cartpole"
    assert result.metrics["env_runners"]["num_env_steps_sampled"] == 128

    space = {**config.to_dict(), "gamma": tune.grid_search([0.9, 0.95])}  # to_dict() + search also works
    tuner = tune.Tuner(
        "tripod/PPO",
        param_space=space,
        tune_config=tune.TuneConfig(reuse_actors=True, max_concurrent_trials=1),
        run_config=run_config(tmp_path, "reused", iterations=1),
    )
    results = tuner.fit()
    assert results.errors == []
    assert sorted(r.config["gamma"] for r in results) == [0.9, 0.95]


def test_trainable_checkpoint_round_trip_restores_the_algorithm(ray_session):
    import torch

    space = tune_param_space(tiny_config(), lr=1e-3)
    first = PPOTrainable(config=dict(space))
    second = PPOTrainable(config=dict(space))
    saved = None
    try:
        first.train()
        saved = first.save()  # save_checkpoint into the (empty) temp dir Tune creates
        assert os.path.isfile(os.path.join(saved.checkpoint.path, "metadata.json"))
        second.restore(saved)  # load_checkpoint
        assert second.algo.iteration == 1
        assert second.algo.num_env_steps_sampled_lifetime == first.algo.num_env_steps_sampled_lifetime
        for a, b in zip(
            first.algo.get_module().parameters(), second.algo.get_module().parameters(), strict=True
        ):
            assert torch.equal(a, b)
        result = second.train()
        assert result["training_iteration"] == 2
        assert result["num_env_steps_sampled_lifetime"] == 256
    finally:
        first.stop()
        second.stop()
        if saved is not None:  # outside Tune nobody removes the temp checkpoint
            shutil.rmtree(saved.checkpoint.path, ignore_errors=True)


def test_env_registered_with_ray_tune_register_env_is_known_to_trials(ray_session):
    """RLlib's way, ray.tune.register_env(name, creator), works for tripod trials too."""
    from tripod.env import registered_envs

    tune.register_env("tripod-tune-test-rllib-style", lambda env_config: gym.make("CartPole-v1"))
    assert "tripod-tune-test-rllib-style" not in registered_envs()
    config_from_tune_params({"env": "tripod-tune-test-rllib-style"}, PPO)  # what a trial's setup() does
    assert "tripod-tune-test-rllib-style" in registered_envs()


def test_generic_trainable_takes_the_algorithm_from_the_config(ray_session):
    from tripod.algorithms import DQN, DQNConfig
    from tripod.distributed.tune import TripodTrainable

    config = (
        DQNConfig().environment("CartPole-v1").training(train_batch_size_per_learner=32).debugging(seed=0)
    )
    generic = TripodTrainable(config=tune_param_space(config))
    try:
        assert type(generic.algo) is DQN
        assert generic.train()["training_iteration"] == 1
    finally:
        generic.stop()


def test_param_space_checks_names_and_values_up_front():
    config = tiny_config()
    with pytest.raises(UnknownSettingError, match="Did you mean 'lr'"):
        tune_param_space(config, lr_rate=tune.grid_search(LRS))
    with pytest.raises(ConfigError, match="-0.1"):
        tune_param_space(config, lr=tune.grid_search([1e-3, -0.1]))
    with pytest.raises(ConfigError, match="gamma"):
        tune_param_space(config, gamma=tune.uniform(0.9, 1.5))
    with pytest.raises(ConfigError, match="minibatch_size"):
        tune_param_space(config, minibatch_size=tune.choice([32, 0]))
    space = tune_param_space(config, metrics_num_episodes_for_smoothing=5)  # a fluent keyword
    assert space["metrics_window"] == 5
    with pytest.raises(UnknownSettingError, match="Did you mean 'gamma'"):
        config_from_tune_params({"gamm": 0.9}, PPO)


def test_objects_travel_in_tune_param_space_but_not_in_to_dict():
    def make(env_config):
        return gym.make("CartPole-v1")

    config = tiny_config().environment(make)
    assert config_from_tune_params(tune_param_space(config), PPO).env is make
    with pytest.raises(ConfigError, match="tune_param_space"):
        config_from_tune_params(config.to_dict(), PPO)


def test_config_class_must_fit_the_trainable():
    from tripod.algorithms import DQN

    with pytest.raises(ConfigError, match="DQNConfig"):
        config_from_tune_params(tune_param_space(tiny_config()), DQN)
    with pytest.raises(ConfigError, match="names no config class"):
        config_from_tune_params({"env": "CartPole-v1"})
    assert config_from_tune_params({"env": "CartPole-v1", "lr": 1e-3}, PPO).lr == 1e-3


def test_names_do_not_clash_with_rllib():
    assert all(name.startswith("tripod/") for name in TUNE_NAMES)
    assert trainable("PPO") is trainable("tripod/PPO") is trainable(PPO) is PPOTrainable
    assert PPOTrainable._name == "tripod/PPO"  # the name Tune registers a class passed to Tuner under

    class MyPPO(PPO):
        pass

    mine = trainable(MyPPO)
    assert mine._name == "tripod/MyPPO" and mine.algorithm() is MyPPO and trainable(MyPPO) is mine
    with pytest.raises(TypeError, match="param_space"):
        trainable(tiny_config())
    with pytest.raises(ValueError, match="tripod/PPO"):
        trainable("APPO")


def test_resources_reserve_the_driver_runners_and_learners():
    config = tiny_config()
    assert placement_group_factory(config).bundles == [{"CPU": 1.0}]
    assert PPOTrainable.default_resource_request(tune_param_space(config)).bundles == [{"CPU": 1.0}]
    scaled = (
        tiny_config()
        .env_runners(num_env_runners=2, num_cpus_per_env_runner=0.5)
        .evaluation(evaluation_num_env_runners=1)
        .learners(num_learners=2, num_cpus_per_learner=1, num_gpus_per_learner=1)
    )
    factory = PPOTrainable.default_resource_request(scaled.to_dict())
    assert factory.bundles == [{"CPU": 1.0}] + [{"CPU": 0.5}] * 3 + [{"CPU": 1.0, "GPU": 1.0}] * 2
    assert factory.strategy == "PACK"
    with pytest.raises(ConfigError, match="num_env_runners"):
        PPOTrainable.default_resource_request({"env": "CartPole-v1", "num_env_runners": -1})
