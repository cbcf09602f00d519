"""Remote data-parallel learners on a local Ray (2 CPUs, gloo): two learners train exactly as
one, checkpoints do not depend on num_learners, PPO learns on CartPole with two learners, a
dead learner is a clear error that spares the last checkpoint, and settings the learners
cannot honour are refused."""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np
import pytest

ray = pytest.importorskip("ray")

from tripod.algorithms import Algorithm, DQNConfig, PGConfig, PPOConfig  # noqa: E402
from tripod.algorithms.config_checks import ConfigError  # noqa: E402
from tripod.algorithms.dqn.torch.default_dqn_torch_rl_module import DefaultDQNTorchRLModule  # noqa: E402
from tripod.algorithms.ppo import PPOLearner  # noqa: E402
from tripod.core import RLModuleSpec  # noqa: E402
from tripod.core.rl_module.rl_module import DEFAULT_MODULE_ID  # noqa: E402
from tripod.data.stream_split import split_streams  # noqa: E402
from tripod.distributed.learner_group import LearnerFailedError, RemoteLearnerGroup  # noqa: E402

ATOL = 1e-5


@pytest.fixture(scope="module", autouse=True)
def ray_session():
    """One local Ray for every test of the module."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def small(config_class=PPOConfig, *, num_envs: int = 5, num_learners: int = 2, **training):
    """A small CartPole config: whole-batch minibatches unless ``training`` says otherwise."""
    kw = dict(train_batch_size_per_learner=100, minibatch_size=None, num_epochs=3, lr=1e-3)
    kw.update(training)
    return (
        config_class()
        .environment("CartPole-v1")
        .env_runners(num_envs_per_env_runner=num_envs)
        .training(**kw)
        .rl_module(model_config={"fcnet_hiddens": [16, 16]})
        .learners(num_learners=num_learners, num_cpus_per_learner=1)
        .debugging(seed=1)
    )


def module_weights(state: dict) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in state["rl_module"][DEFAULT_MODULE_ID].items()}


def assert_weights_close(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=ATOL, rtol=0, err_msg=name)


def assert_same_updates(config) -> None:
    """Two remote learners and one local learner, updated on the same batches, stay equal.

    The batches: the sampled one (5 streams, split 3 + 2: shards of different sizes) twice,
    then its first stream alone (the second learner gets a fully masked copy).
    """
    local_config = config.copy()
    local_config.num_learners = 0
    algo = local_config.build_algo()  # the local learner, the env runner and the module spec
    try:
        batch = algo.env_runner_group.sample(num_timesteps=config.train_batch_size_per_learner)
        one_stream = {mid: split_streams(b, 5)[0] for mid, b in batch.items()}
        remote = RemoteLearnerGroup(algo.learner_class, config=config, module_spec=algo.module_spec)
        remote.set_state(algo.learner_group.get_state())  # the same initial weights
        for update in (batch, batch, one_stream):
            ours = remote.update(update, num_env_steps_sampled_lifetime=100)[DEFAULT_MODULE_ID]
            theirs = algo.learner_group.update(update, num_env_steps_sampled_lifetime=100)[DEFAULT_MODULE_ID]
            assert_weights_close(
                module_weights(remote.get_state()), module_weights(algo.learner_group.get_state())
            )
            assert ours.keys() == theirs.keys()
            for key in theirs:
                assert ours[key] == pytest.approx(theirs[key], rel=1e-4, abs=ATOL), key
        assert remote.get_state()["extra"] == algo.learner_group.get_state()["extra"]  # e.g. kl_coeffs
        assert remote.num_env_steps_trained == algo.learner_group.num_env_steps_trained
        assert remote.foreach_learner(lambda learner: learner.data_parallel) == [True, True]
        with pytest.raises(ZeroDivisionError):  # a learner's own exception, as in-process
            remote.foreach_learner(lambda learner: 1 / 0)
        remote.shutdown()
    finally:
        algo.stop()


def test_two_gloo_learners_equal_one_learner():
    assert_same_updates(small(PPOConfig, use_kl_loss=True, kl_coeff=0.3))  # with the adaptive KL penalty
    assert_same_updates(small(PGConfig))


def test_checkpoint_format_is_the_same_for_any_num_learners(tmp_path):
    remote = small(num_learners=2).build_algo()
    remote.train()
    remote.save_to_path(tmp_path / "two")
    local = Algorithm.from_checkpoint(tmp_path / "two", config_overrides={"num_learners": 0})
    assert local.learner_group.is_local and not remote.learner_group.is_local
    state_2, state_0 = remote.learner_group.get_state(), local.learner_group.get_state()
    assert_weights_close(module_weights(state_2), module_weights(state_0))
    assert state_2.keys() == state_0.keys() and state_2["extra"] == state_0["extra"]
    assert state_0["num_updates"] == 1
    assert state_0["num_env_steps_trained"] == remote.learner_group.num_env_steps_trained > 0
    for name, value in state_2["optimizers"][DEFAULT_MODULE_ID]["state"][0].items():
        np.testing.assert_allclose(
            value, state_0["optimizers"][DEFAULT_MODULE_ID]["state"][0][name], atol=ATOL
        )
    local.save_to_path(tmp_path / "zero")
    assert sorted(os.listdir(tmp_path / "two")) == sorted(os.listdir(tmp_path / "zero"))
    remote.stop()
    again = Algorithm.from_checkpoint(tmp_path / "zero", config_overrides={"num_learners": 2})
    assert not again.learner_group.is_local and again.iteration == 1
    assert_weights_close(module_weights(again.learner_group.get_state()), module_weights(state_0))
    # The restored optimizer states give the same next update on the same batch.
    batch = local.env_runner_group.sample(num_timesteps=100)
    again.learner_group.update(batch)
    local.learner_group.update(batch)
    assert_weights_close(
        module_weights(again.learner_group.get_state()), module_weights(local.learner_group.get_state())
    )
    again.stop()
    local.stop()


def test_ppo_learns_cartpole_with_two_learners():
    config = small(
        num_envs=8, train_batch_size_per_learner=512, minibatch_size=128, num_epochs=6, lr=3e-3,
        gamma=0.98, lambda_=0.8, entropy_coeff=0.0,
    ).debugging(seed=0)  # fmt: skip
    algo = config.build_algo()
    results = [algo.train() for _ in range(8)]
    algo.stop()
    first, last = (r["env_runners"]["episode_return_mean"] for r in (results[0], results[-1]))
    assert last > 1.5 * first, [round(r["env_runners"]["episode_return_mean"], 1) for r in results]
    sampled, trained = (results[-1][f"num_env_steps_{k}_lifetime"] for k in ("sampled", "trained"))
    assert sampled <= trained < 1.2 * sampled  # each batch counted once (plus masked autoreset rows)
    stats = results[-1]["learners"][DEFAULT_MODULE_ID]
    assert stats["num_module_steps_trained"] % 6 == 0 and np.isfinite(stats["total_loss"])


def test_dead_learner_is_a_clear_error_and_the_checkpoint_stays(tmp_path):
    algo = small().build_algo()
    algo.train()
    algo.save_to_path(tmp_path / "ckpt")
    saved = module_weights(algo.learner_group.get_state())
    ray.kill(algo.learner_group._actors[1])
    with pytest.raises(
        LearnerFailedError, match=r"remote learner 1 \(of 2\) died.*Algorithm.from_checkpoint"
    ):
        algo.train()
    with pytest.raises(LearnerFailedError, match="learner group was stopped"):
        algo.save_to_path(tmp_path / "ckpt")
    algo.stop()
    restored = Algorithm.from_checkpoint(tmp_path / "ckpt", config_overrides={"num_learners": 0})
    assert restored.iteration == 1
    assert_weights_close(module_weights(restored.learner_group.get_state()), saved)
    restored.stop()


def test_a_learner_that_cannot_be_built_raises_its_own_error():
    config = small(num_learners=1)
    env = gym.make("CartPole-v1")
    no_critic = RLModuleSpec(
        module_class=DefaultDQNTorchRLModule,
        observation_space=env.observation_space,
        action_space=env.action_space,
        model_config={"fcnet_hiddens": [8]},
    )
    with pytest.raises(TypeError, match="has no value function"):
        RemoteLearnerGroup(PPOLearner, config=config, module_spec=no_critic)


def test_settings_the_learners_cannot_honour_are_refused():
    with pytest.raises(ConfigError, match=r"device='cuda'.*num_gpus_per_learner=1"):
        small().resources(device="cuda").validate()
    with pytest.raises(ConfigError, match="num_gpus_per_learner=1 is for remote learners"):
        small(num_learners=0).learners(num_gpus_per_learner=1).validate()
    with pytest.raises(ConfigError, match=r"asks for 2 GPUs; the Ray cluster has 0"):
        small().learners(num_gpus_per_learner=1).build_algo()
    with pytest.raises(ConfigError, match="NCCL cannot reduce gradients between learners that share a GPU"):
        small().learners(num_gpus_per_learner=0.5).build_algo()
    with pytest.raises(ConfigError, match="replay-based learners"):
        DQNConfig().environment("CartPole-v1").learners(num_learners=1).build_algo()
