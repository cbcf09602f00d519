"""DQN training: the loop's counts and metrics, seeding, target networks, NaN targets, user
modules and checkpoints with the replay buffer (each test builds and trains a tiny DQN)."""

import logging

import numpy as np
import pytest
import torch
from torch import nn

from tripod.algorithms.algorithm import Algorithm
from tripod.algorithms.dqn import DQNConfig
from tripod.core.apis import QNetAPI, TargetNetworkAPI
from tripod.core.columns import Columns
from tripod.core.rl_module.rl_module import DEFAULT_MODULE_ID, RLModuleSpec
from tripod.core.rl_module.torch.torch_rl_module import TorchRLModule
from tripod.data.prioritized_replay_buffer import PrioritizedReplayBuffer
from tripod.io.checkpoint import CheckpointError
from tripod.learner.off_policy_learner import TDTargetError


def tiny(**training) -> DQNConfig:
    """A DQN on CartPole that learns after 100 steps, 200 steps per iteration, small networks."""
    settings = {
        "train_batch_size_per_learner": 16,
        "replay_buffer_capacity": 2000,
        "num_steps_sampled_before_learning_starts": 100,
        "training_intensity": 0.25,
        "target_network_update_freq": 100,
        "epsilon": [[0, 1.0], [400, 0.1]],
        **training,
    }
    return (
        DQNConfig()
        .environment("CartPole-v1")
        .training(**settings)
        .reporting(min_sample_timesteps_per_iteration=200)
        .rl_module(model_config={"fcnet_hiddens": [16]})
        .debugging(seed=0)
    )


def weights(algo) -> dict[str, np.ndarray]:
    return algo.get_module().get_state()


# ---------------------------------------------------------------------------------- training


def test_training_loop_counts_and_metrics():
    algo = tiny().build_algo()
    first = algo.train()
    second = algo.train()
    stats = second["learners"][DEFAULT_MODULE_ID]
    assert second["num_env_steps_sampled_lifetime"] == 400
    # 0.25 updates per step once 100 steps were sampled: 25 in the first iteration, 50 in the second.
    assert first["learners"][DEFAULT_MODULE_ID]["num_gradient_updates"] == 25
    assert stats["num_gradient_updates"] == 50 and stats["num_gradient_updates_lifetime"] == 75
    assert stats["replay_buffer_size"] == 400
    assert stats["epsilon"] == pytest.approx(0.1) and first["learners"][DEFAULT_MODULE_ID]["epsilon"] < 1.0
    assert np.isfinite(stats["qf_loss"]) and "td_error_mean" in stats and "qf_mean" in stats
    runner_epsilon = algo.env_runner_group.foreach_env_runner(lambda runner: runner.module.epsilon)[0]
    assert runner_epsilon == pytest.approx(0.1)  # sent with the weights for the next sample (env step 400)
    assert second["num_env_steps_trained_lifetime"] == 75 * 16
    # The runner's module got the learner's weights after the last update (copied, not shared).
    runner_weights = algo.env_runner_group.get_state()["env_runner"]["rl_module"]
    for name, value in algo.get_weights()[DEFAULT_MODULE_ID].items():
        np.testing.assert_array_equal(runner_weights[name], value)
    assert np.isfinite(algo.evaluate(2)["env_runners"]["episode_return_mean"])
    algo.stop()


def test_same_seed_same_results():
    a = tiny().build_algo()
    a.train()
    b = tiny().build_algo()  # reseeds torch's global RNG, which exploration draws from
    b.train()
    for key, value in weights(a).items():
        np.testing.assert_array_equal(value, weights(b)[key])


def test_target_network_updates():
    algo = tiny(target_network_update_freq=10**9).build_algo()  # never after the start
    module = algo.get_module()
    initial = [p.detach().clone() for p in module.qf_target.parameters()]
    algo.train()
    for p, q in zip(module.qf_target.parameters(), initial):
        torch.testing.assert_close(p, q)
    assert not torch.equal(module.qf.advantage[0].weight, module.qf_target.advantage[0].weight)

    algo = tiny(target_network_update_freq=0, tau=1.0).build_algo()  # hard copy after every update
    algo.train()
    module = algo.get_module()
    for p, q in zip(module.qf.parameters(), module.qf_target.parameters()):
        torch.testing.assert_close(p, q)

    algo = tiny(target_network_update_freq=0, tau=0.5).build_algo()  # Polyak after every update
    algo.train()
    module = algo.get_module()
    before = [p.detach().clone() for p in module.qf_target.parameters()]
    sample = algo.replay_buffer.sample(16)
    algo.learner_group.update_from_replay({DEFAULT_MODULE_ID: sample}, num_env_steps_sampled_lifetime=10**6)
    online = [p.detach().clone() for p in module.qf.parameters()]
    assert not torch.equal(online[0], before[0])
    for p, old, new in zip(module.qf_target.parameters(), before, online):
        torch.testing.assert_close(p, 0.5 * old + 0.5 * new)


def test_nan_td_targets_stop_training_before_an_update():
    algo = tiny().build_algo()
    algo.train()
    module = algo.get_module()
    with torch.no_grad():
        module.qf_target.advantage[-1].bias.fill_(float("nan"))
    before = {k: v.copy() for k, v in weights(algo).items() if not k.startswith("qf_target")}
    with pytest.raises(
        TDTargetError, match=r"training step 2 \(env step \d+\).*TD targets of module 'default_policy'"
    ):
        algo.train()
    for key, value in before.items():  # nothing was trained on the garbage targets
        np.testing.assert_array_equal(weights(algo)[key], value)


# ------------------------------------------------------------------------------ user modules


class MyQModule(TorchRLModule, QNetAPI, TargetNetworkAPI):
    """How a user writes a DQN module: a Q network, epsilon-greedy exploration, a target copy."""

    epsilon = 0.0  # DQN sets this on the env runner's module before each sample

    def setup(self):
        self.q = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, self.action_space.n))

    def _forward_inference(self, batch, **kwargs):
        return {Columns.ACTIONS: self.q(batch[Columns.OBS]).argmax(dim=-1)}

    def _forward_exploration(self, batch, **kwargs):
        greedy = self.q(batch[Columns.OBS]).argmax(dim=-1)
        random = torch.randint(self.action_space.n, greedy.shape)
        return {Columns.ACTIONS: torch.where(torch.rand(greedy.shape) < self.epsilon, random, greedy)}

    def compute_q_values(self, batch):
        return {"qf_preds": self.q(batch[Columns.OBS])}

    def make_target_networks(self):
        self.q_target = self.make_target_copy(self.q)

    def get_target_network_pairs(self):
        return [(self.q, self.q_target)]

    def forward_target(self, batch, **kwargs):
        return {"qf_preds": self.q_target(batch[Columns.OBS])}


def test_user_written_dqn_module_trains():
    config = tiny().rl_module(rl_module_spec=RLModuleSpec(module_class=MyQModule))
    algo = config.build_algo()
    algo.train()
    result = algo.train()
    assert result["learners"][DEFAULT_MODULE_ID]["num_gradient_updates"] == 50
    runner_epsilon = algo.env_runner_group.foreach_env_runner(lambda runner: runner.module.epsilon)[0]
    assert isinstance(algo.get_module(), MyQModule) and runner_epsilon < 1.0
    runner_weights = algo.env_runner_group.get_state()["env_runner"]["rl_module"]
    np.testing.assert_array_equal(
        runner_weights["q.0.weight"], algo.get_weights()[DEFAULT_MODULE_ID]["q.0.weight"]
    )
    algo.stop()


class WrongShapeQModule(MyQModule):
    def compute_q_values(self, batch):
        return {"qf_preds": self.q(batch[Columns.OBS]).max(dim=-1).values}  # [B], not [B, n]


class NoQModule(TorchRLModule, TargetNetworkAPI):
    def setup(self):
        self.net = nn.Linear(4, 2)

    def _forward(self, batch, **kwargs):
        return {Columns.ACTIONS: self.net(batch[Columns.OBS]).argmax(-1)}

    def make_target_networks(self):
        self.net_target = self.make_target_copy(self.net)

    def get_target_network_pairs(self):
        return [(self.net, self.net_target)]

    def forward_target(self, batch, **kwargs):
        return {}


def test_user_module_mistakes_get_clear_errors():
    algo = tiny().rl_module(rl_module_spec=RLModuleSpec(module_class=WrongShapeQModule)).build_algo()
    with pytest.raises(
        ValueError, match=r"compute_q_values\(\) must return .*shape \[batch, n_actions\].*got \(16,\)"
    ):
        algo.train()
    with pytest.raises(TypeError, match="DQN needs tripod.core.apis.QNetAPI"):
        tiny().rl_module(rl_module_spec=RLModuleSpec(module_class=NoQModule)).build_algo()


# ---------------------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip_with_replay_buffer(tmp_path):
    algo = tiny(checkpoint_replay_buffer=True, prioritized_replay=True).build_algo()
    algo.train()
    path = algo.save_to_path(tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "replay_buffer.safetensors").exists()
    restored = Algorithm.from_checkpoint(path)
    assert isinstance(restored.replay_buffer, PrioritizedReplayBuffer)
    assert len(restored.replay_buffer) == len(algo.replay_buffer) == 200
    a, b = algo.replay_buffer.sample(8), restored.replay_buffer.sample(8)  # same contents and RNG
    np.testing.assert_array_equal(a["indices"], b["indices"])
    np.testing.assert_array_equal(a[Columns.OBS], b[Columns.OBS])
    for key, value in weights(algo).items():
        np.testing.assert_array_equal(weights(restored)[key], value)
    extra = restored.learner_group.get_state()["extra"]
    assert extra == algo.learner_group.get_state()["extra"]  # target-update clock


def test_resume_without_the_replay_buffer_file(tmp_path, caplog):
    algo = tiny(checkpoint_replay_buffer=True).build_algo()
    algo.train()
    path = algo.save_to_path(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "replay_buffer.safetensors").unlink()
    with pytest.raises(
        CheckpointError, match=r"has no replay buffer \(replay_buffer.safetensors is missing\)"
    ):
        Algorithm.from_checkpoint(path)
    with caplog.at_level(logging.WARNING):
        restored = Algorithm.from_checkpoint(path, config_overrides={"checkpoint_replay_buffer": False})
    assert (
        "replay_buffer.safetensors is missing; training continues with an empty replay buffer" in caplog.text
    )
    assert len(restored.replay_buffer) == 0
    result = restored.train()  # learning waits until the buffer holds a batch again
    assert (
        len(restored.replay_buffer) == 200
        and result["learners"][DEFAULT_MODULE_ID]["num_gradient_updates"] > 0
    )


class CountingTargets(MyQModule):
    """A module with its own target-update rule (the learner calls it instead of the built-in one)."""

    calls: list

    def update_target_networks(self, tau=1.0):
        self.calls.append(tau)
        super().update_target_networks(tau)


def test_a_module_own_target_update_rule_is_used():
    CountingTargets.calls = []
    algo = (
        tiny(target_network_update_freq=0, tau=0.25)
        .rl_module(rl_module_spec=RLModuleSpec(module_class=CountingTargets))
        .build_algo()
    )
    algo.train()
    assert CountingTargets.calls == [0.25] * 25  # after every one of the 25 updates


def test_checkpoint_saved_without_a_buffer_restores_quietly(tmp_path, caplog):
    algo = tiny().build_algo()  # checkpoint_replay_buffer=False: the default
    algo.train()
    path = algo.save_to_path(tmp_path / "ckpt")
    assert not (tmp_path / "ckpt" / "replay_buffer.safetensors").exists()
    with caplog.at_level(logging.WARNING):
        restored = Algorithm.from_checkpoint(path)
    assert caplog.text == "" and len(restored.replay_buffer) == 0
    with caplog.at_level(logging.WARNING):  # now asking for buffers: warned, not an error
        Algorithm.from_checkpoint(path, config_overrides={"checkpoint_replay_buffer": True})
    assert "saved without its replay buffer" in caplog.text
