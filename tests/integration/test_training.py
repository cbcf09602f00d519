"""Algorithm-level behaviour: results, determinism, checkpoints and resume, bad configs and modules."""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from tripod.algorithms.algorithm import Algorithm
from tripod.algorithms.algorithm_config import ConfigError
from tripod.algorithms.pg import PGConfig
from tripod.algorithms.ppo import PPO, PPOConfig
from tripod.core import Columns, RLModuleSpec, TorchRLModule
from tripod.core.rl_module.validation import ModuleOutputError
from tripod.io.checkpoint import CheckpointError


def small_ppo(seed=0, **training):
    kw = dict(train_batch_size_per_learner=256, minibatch_size=64, num_epochs=2)
    kw.update(training)
    return (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_envs_per_env_runner=4)
        .training(**kw)
        .rl_module(model_config={"fcnet_hiddens": [32, 32]})
        .debugging(seed=seed)
    )


def weights(algo):
    return {k: v.copy() for k, v in algo.get_module().get_state().items()}


def test_result_has_rllib_keys():
    algo = small_ppo().build_algo()
    result = algo.train()
    for _ in range(3):
        result = algo.train()
    runners = result["env_runners"]
    assert runners["episode_return_mean"] > 5 and runners["episode_len_mean"] == pytest.approx(
        runners["episode_return_mean"]
    )  # CartPole pays 1 per step
    assert result["num_env_steps_sampled_lifetime"] == 4 * 256
    assert result["training_iteration"] == 4
    losses = result["learners"]["default_policy"]
    for key in ("policy_loss", "vf_loss", "entropy", "total_loss", "mean_kl_loss"):
        assert math.isfinite(losses[key])
    assert 0.0 < losses["entropy"] <= math.log(2) + 1e-6
    evaluation = algo.evaluate(3)["env_runners"]
    assert evaluation["num_episodes"] == 3 and evaluation["episode_return_mean"] >= 8


def test_same_seed_gives_identical_metrics_and_weights():
    runs = []
    for _ in range(2):
        algo = small_ppo(seed=7).build_algo()
        results = [algo.train() for _ in range(3)]
        runs.append(([r["learners"]["default_policy"]["total_loss"] for r in results], weights(algo)))
    assert runs[0][0] == runs[1][0]
    for key, value in runs[0][1].items():
        np.testing.assert_array_equal(value, runs[1][1][key])
    other = small_ppo(seed=8).build_algo()
    assert [other.train()["learners"]["default_policy"]["total_loss"] for _ in range(3)] != runs[0][0]


def test_checkpoint_restores_weights_optimizer_counters_and_rng(tmp_path):
    algo = small_ppo(lr=[[0, 1e-3], [5000, 1e-4]]).build_algo()
    for _ in range(3):
        algo.train()
    path = algo.save_to_path(tmp_path / "ckpt")
    restored = PPO.from_checkpoint(path)
    assert isinstance(restored, PPO)
    for key, value in weights(algo).items():
        np.testing.assert_array_equal(value, weights(restored)[key])
    opt_a = algo.learner_group.get_state()["optimizers"]["default_policy"]
    opt_b = restored.learner_group.get_state()["optimizers"]["default_policy"]
    for i, state in opt_a["state"].items():
        for name in ("exp_avg", "exp_avg_sq", "step"):
            torch.testing.assert_close(state[name], opt_b["state"][i][name])
    assert restored.iteration == 3 and restored.num_env_steps_sampled_lifetime == 3 * 256
    obs = torch.randn(5, 4)
    a = algo.get_module().forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
    b = restored.get_module().forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
    torch.testing.assert_close(a, b)
    # The RNG states are saved: draws right after saving repeat after restoring.
    algo.save_to_path(path)
    draws = (torch.rand(3).tolist(), np.random.rand(3).tolist())
    algo.restore_from_path(path)
    assert (torch.rand(3).tolist(), np.random.rand(3).tolist()) == draws
    result = restored.train()
    assert result["training_iteration"] == 4
    assert result["num_env_steps_sampled_lifetime"] == 4 * 256
    # The lr schedule continues from the restored step count (3 * 256 + 256 steps sampled).
    expected_lr = 1e-3 + (1e-4 - 1e-3) * (4 * 256) / 5000
    assert result["learners"]["default_policy"]["lr"] == pytest.approx(expected_lr)


def test_resumed_cartpole_run_still_solves(tmp_path):
    from tripod.algorithms.presets import get_preset

    config = (
        PPOConfig()
        .environment("CartPole-v1")
        .debugging(seed=1)
        .update_from_dict(get_preset("ppo", "CartPole-v1"))
    )
    algo = config.build_algo()
    for _ in range(8):
        before = algo.train()
    algo.save_to_path(tmp_path / "ckpt")
    resumed = Algorithm.from_checkpoint(tmp_path / "ckpt")
    first = resumed.train()
    assert first["num_env_steps_sampled_lifetime"] > before["num_env_steps_sampled_lifetime"]
    # The learning curve continues: counters and the 100-episode return window are restored, not reset.
    assert first["env_runners"]["num_episodes_lifetime"] >= before["env_runners"]["num_episodes_lifetime"] > 0
    assert first["env_runners"]["episode_return_mean"] >= 0.8 * before["env_runners"]["episode_return_mean"]
    while (
        first["env_runners"]["episode_return_mean"] < 475
        and first["num_env_steps_sampled_lifetime"] < 150_000
    ):
        first = resumed.train()
    assert resumed.evaluate(10)["env_runners"]["episode_return_mean"] >= 475


def test_tampered_checkpoint_never_unpickles(tmp_path):
    algo = small_ppo().build_algo()
    path = algo.save_to_path(tmp_path / "ckpt")
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (marker.touch, ())

    # Replace the weights with a pickle: loading must fail cleanly, never execute it.
    weights_file = tmp_path / "ckpt" / "module" / "default_policy" / "module_state.safetensors"
    weights_file.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CheckpointError, match="module_state"):
        PPO.from_checkpoint(path)
    assert not marker.exists()


def test_missing_and_truncated_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist|not found|missing"):
        PPO.from_checkpoint(tmp_path / "nope")
    algo = small_ppo().build_algo()
    path = algo.save_to_path(tmp_path / "ckpt")
    learner_file = tmp_path / "ckpt" / "learner_state.safetensors"
    learner_file.write_bytes(learner_file.read_bytes()[:40])
    with pytest.raises(CheckpointError, match="learner_state"):
        PPO.from_checkpoint(path)


def test_saving_over_a_checkpoint_is_atomic(tmp_path, monkeypatch):
    import tripod.algorithms.algorithm as algorithm_module

    algo = small_ppo().build_algo()
    path = algo.save_to_path(tmp_path / "ckpt")
    before = json.loads((tmp_path / "ckpt" / "metadata.json").read_text())
    algo.train()
    real_save_state = algorithm_module.save_state

    def failing_save_state(directory, name, state):
        if name == "rng_state":  # fail half-way through writing the new checkpoint
            raise OSError("disk full")
        real_save_state(directory, name, state)

    monkeypatch.setattr(algorithm_module, "save_state", failing_save_state)
    with pytest.raises(OSError, match="disk full"):
        algo.save_to_path(path)
    assert json.loads((tmp_path / "ckpt" / "metadata.json").read_text()) == before
    assert sorted(os.listdir(tmp_path)) == ["ckpt"]
    PPO.from_checkpoint(path)


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(minibatch_size=512), "minibatch_size .512. is larger than train_batch_size_per_learner"),
        (dict(lr=-1.0), "lr must be >= 0"),
        (dict(gamma=1.5), "gamma must be a number in"),
        (dict(num_epochs=0), "num_epochs must be an int >= 1"),
    ],
)
def test_bad_configs_fail_at_build(change, match):
    with pytest.raises(ConfigError, match=match):
        small_ppo().training(**change).build_algo()


def test_unknown_config_key_and_env():
    with pytest.raises(TypeError):
        PPOConfig().training(learning_rate=1e-3)
    with pytest.raises(ConfigError, match="Did you mean 'lr'"):
        PPOConfig().update_from_dict({"lrr": 1e-3})
    with pytest.raises(Exception, match="CartPol-v1"):
        PPOConfig().environment("CartPol-v1").build_algo()
    with pytest.raises(ConfigError, match="no environment set"):
        PPOConfig().build_algo()


class NoValueModule(TorchRLModule):
    def setup(self):
        self.net = nn.Linear(4, 2)

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.net(batch[Columns.OBS])}


def test_ppo_without_value_function_says_what_to_do():
    spec = RLModuleSpec(module_class=NoValueModule)
    with pytest.raises(TypeError, match="ValueFunctionAPI.*use_critic=False"):
        small_ppo().rl_module(rl_module_spec=spec).build_algo()
    algo = small_ppo().rl_module(rl_module_spec=spec).training(use_critic=False).build_algo()
    assert math.isfinite(algo.train()["learners"]["default_policy"]["policy_loss"])


class WideModule(NoValueModule):
    def setup(self):
        self.net = nn.Linear(4, 3)  # three logits for a two-action space


def test_module_of_wrong_width_is_named():
    spec = RLModuleSpec(module_class=WideModule)
    with pytest.raises(ModuleOutputError, match=r"WideModule.*\(4, 2\)|WideModule.*2 actions|WideModule"):
        PGConfig().environment("CartPole-v1").env_runners(num_envs_per_env_runner=4).rl_module(
            rl_module_spec=spec
        ).build_algo().train()


def test_module_built_for_other_spaces():
    spec = RLModuleSpec(
        module_class=NoValueModule,
        observation_space=gym.spaces.Box(-1, 1, (7,), np.float32),
        action_space=gym.spaces.Discrete(2),
    )
    with pytest.raises(Exception, match="Box.*7|observation space"):
        PGConfig().environment("CartPole-v1").rl_module(rl_module_spec=spec).build_algo()


NO_RAY = """
import sys
sys.modules["ray"] = None  # as if Ray were not installed: `import ray` raises ImportError
from tripod.algorithms.algorithm_config import ConfigError
from tripod.algorithms.ppo import PPOConfig
try:
    PPOConfig().environment("CartPole-v1").env_runners(num_env_runners=1).build_algo()
except ConfigError as err:
    print(err)
"""


def test_remote_runners_without_ray_and_model_config_typos_fail_at_build():
    out = subprocess.run([sys.executable, "-c", NO_RAY], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "num_env_runners=1 runs on Ray, which is not installed. Install it with pip install " in out.stdout
    with pytest.raises(ConfigError, match="evaluation_parallel_to_training=True needs evaluation runners"):
        small_ppo().evaluation(evaluation_parallel_to_training=True).build_algo()
    with pytest.raises(ConfigError, match="fcnet_hidden.*fcnet_hiddens"):
        small_ppo().rl_module(model_config={"fcnet_hidden": [64]}).build_algo()
    # A custom module's model_config is its own business.
    small_ppo().rl_module(
        rl_module_spec=RLModuleSpec(module_class=NoValueModule, model_config={"anything": 1})
    ).training(use_critic=False).build_algo()
