"""SAC: spaces, the three losses and their gradients, optimizers and alpha in the state, user modules."""

import numpy as np
import pytest
import torch
from torch import nn

from tripod.algorithms.algorithm import Algorithm
from tripod.algorithms.algorithm_config import ConfigError
from tripod.algorithms.sac import DefaultSACTorchRLModule, SACConfig
from tripod.algorithms.sac.ensemble_mlp import EnsembleMLP
from tripod.core.apis import QNetAPI, TargetNetworkAPI
from tripod.core.columns import Columns
from tripod.core.distribution.action_dist import get_action_dist_cls
from tripod.core.rl_module.rl_module import DEFAULT_MODULE_ID, RLModuleSpec
from tripod.core.rl_module.torch.torch_rl_module import TorchRLModule


def tiny(**training) -> SACConfig:
    settings = {
        "train_batch_size_per_learner": 32,
        "replay_buffer_capacity": 2000,
        "num_steps_sampled_before_learning_starts": 100,
        "training_intensity": 0.25,
        **training,
    }
    return (
        SACConfig()
        .environment("Pendulum-v1")
        .training(**settings)
        .reporting(min_sample_timesteps_per_iteration=200)
        .rl_module(model_config={"fcnet_hiddens": [16, 16]})
        .debugging(seed=0)
    )


def test_sac_rejects_discrete_actions():
    with pytest.raises(
        ValueError, match=r"SAC needs a Box action space.*Discrete.*discrete SAC is not implemented"
    ):
        SACConfig().environment("CartPole-v1").build_algo()


def test_sac_config_checks():
    with pytest.raises(ConfigError, match="actor_lr must be a number > 0 or a schedule"):
        SACConfig().training(actor_lr=-1.0)
    with pytest.raises(ConfigError, match="target_entropy must be 'auto' or a number"):
        SACConfig().training(target_entropy="high")
    assert SACConfig().training(lr=None).lr is None  # RLlib style: SAC has per-network rates


def test_training_loop_random_actions_then_learning():
    algo = tiny().build_algo()
    assert algo.sample_random_actions()
    first = algo.train()
    assert not algo.sample_random_actions()  # 200 >= 100 steps sampled
    stats = algo.train()["learners"][DEFAULT_MODULE_ID]
    assert first["learners"][DEFAULT_MODULE_ID]["num_gradient_updates"] == 25
    assert stats["num_gradient_updates"] == 50
    for key in (
        "qf_loss",
        "policy_loss",
        "alpha_loss",
        "alpha",
        "entropy",
        "actor_lr",
        "critic_lr",
        "alpha_lr",
    ):
        assert np.isfinite(stats[key]), key
    assert stats["alpha"] < 1.0  # tuned down from initial_alpha towards the target entropy
    runner, learner = algo.env_runner.module, algo.get_module()
    assert not hasattr(runner, "qf") and runner.pi[0].weight.data_ptr() == learner.pi[0].weight.data_ptr()
    low, high = algo.env_runner.action_space.low, algo.env_runner.action_space.high
    actions = algo.env_runner.sample(num_timesteps=50)[Columns.ACTIONS]
    assert actions.min() >= low.min() and actions.max() <= high.max()
    assert np.isfinite(algo.evaluate(1)["env_runners"]["episode_return_mean"])


def test_each_loss_reaches_only_its_own_parameters():
    algo = tiny().build_algo()
    algo.train()
    learner, module = algo.learner, algo.get_module()
    batch = learner.to_device(algo.replay_buffer.sample(32))
    losses = learner.sac_losses(DEFAULT_MODULE_ID, batch, learner.forward_for_loss(DEFAULT_MODULE_ID, batch))
    actor = list(module.pi.parameters())
    critic = list(module.qf.parameters())
    log_alpha = learner.log_alpha[DEFAULT_MODULE_ID]
    groups = {"actor": actor, "critic": critic, "alpha": [log_alpha]}
    for loss_name, loss in losses.items():
        for group_name, params in groups.items():
            grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
            reached = any(g is not None and bool(g.abs().sum() > 0) for g in grads)
            assert reached == (loss_name == group_name), (loss_name, group_name)


def test_optimizers_and_alpha_are_saved_and_restored(tmp_path):
    algo = tiny(actor_lr=1e-3, critic_lr=2e-3, alpha_lr=3e-3).build_algo()
    algo.train()
    group = algo.learner.optimizers[DEFAULT_MODULE_ID]
    assert [group[n].param_groups[0]["lr"] for n in ("actor", "critic", "alpha")] == [1e-3, 2e-3, 3e-3]
    state = algo.learner.get_state()
    assert set(state["optimizers"][DEFAULT_MODULE_ID]) == {"actor", "critic", "alpha"}
    log_alpha = float(algo.learner.log_alpha[DEFAULT_MODULE_ID].detach())
    assert log_alpha < 0 and state["extra"]["log_alpha"][DEFAULT_MODULE_ID] == pytest.approx(log_alpha)
    restored = Algorithm.from_checkpoint(algo.save_to_path(tmp_path / "ckpt"))
    assert float(restored.learner.log_alpha[DEFAULT_MODULE_ID].detach()) == pytest.approx(log_alpha)
    saved = algo.learner.optimizers[DEFAULT_MODULE_ID]["critic"].state_dict()["state"][0]
    loaded = restored.learner.optimizers[DEFAULT_MODULE_ID]["critic"].state_dict()["state"][0]
    torch.testing.assert_close(saved["exp_avg"], loaded["exp_avg"])
    assert len(restored.replay_buffer) == 0  # checkpoint_replay_buffer=False: not saved


def test_twin_ensemble_equals_two_separate_networks():
    net = EnsembleMLP(2, 5, [8, 8], 1)
    x = torch.randn(7, 5)
    out = net(x)
    for e in range(2):
        h = x
        for i in range(3):
            h = h @ getattr(net, f"weight{i}")[e] + getattr(net, f"bias{i}")[e]
            h = torch.relu(h) if i < 2 else h
        torch.testing.assert_close(out[e], h)


def test_default_module_actions_in_bounds_and_q_shapes():
    import gymnasium as gym

    obs_space = gym.spaces.Box(-1, 1, (3,), np.float32)
    act_space = gym.spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32))
    module = DefaultSACTorchRLModule(observation_space=obs_space, action_space=act_space, model_config={})
    module.make_target_networks()
    obs = torch.randn(64, 3)
    for method in (module.forward_exploration, module.forward_inference):
        a = method({Columns.OBS: obs})[Columns.ACTIONS]
        assert a.shape == (64, 2) and (a[:, 0].abs() <= 2).all() and ((a[:, 1] >= 0) & (a[:, 1] <= 1)).all()
    q = module.compute_q_values({Columns.OBS: obs, Columns.ACTIONS: a})
    assert q["qf_preds"].shape == q["qf_twin_preds"].shape == (64,)
    single = DefaultSACTorchRLModule(
        observation_space=obs_space, action_space=act_space, model_config={"twin_q": False}
    )
    assert set(single.compute_q_values({Columns.OBS: obs, Columns.ACTIONS: a})) == {"qf_preds"}
    inference = DefaultSACTorchRLModule(
        observation_space=obs_space, action_space=act_space, inference_only=True, model_config={}
    )
    assert not hasattr(inference, "qf")


class MySACModule(TorchRLModule, QNetAPI, TargetNetworkAPI):
    """How a user writes a SAC module: a squashed-Gaussian policy, two critics, their targets."""

    def setup(self):
        obs_dim, act_dim = self.observation_space.shape[0], self.action_space.shape[0]
        self.action_dist_cls = get_action_dist_cls(self.action_space, squashed=True)  # SAC's distribution
        self.policy = nn.Sequential(nn.Linear(obs_dim, 32), nn.ReLU(), nn.Linear(32, 2 * act_dim))
        if not self.inference_only:
            self.critics = nn.ModuleList(
                nn.Sequential(nn.Linear(obs_dim + act_dim, 32), nn.ReLU(), nn.Linear(32, 1)) for _ in range(2)
            )

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.policy(batch[Columns.OBS])}

    def _q(self, critics, batch):
        x = torch.cat([batch[Columns.OBS], batch[Columns.ACTIONS]], dim=-1)
        return {"qf_preds": critics[0](x).squeeze(-1), "qf_twin_preds": critics[1](x).squeeze(-1)}

    def compute_q_values(self, batch):
        return self._q(self.critics, batch)

    def make_target_networks(self):
        self.critics_target = self.make_target_copy(self.critics)

    def get_target_network_pairs(self):
        return [(self.critics, self.critics_target)]

    def forward_target(self, batch, **kwargs):
        return self._q(self.critics_target, batch)

    def get_non_inference_attributes(self):
        return ["critics", "critics_target"]


def test_user_written_sac_module_trains():
    algo = tiny().rl_module(rl_module_spec=RLModuleSpec(module_class=MySACModule)).build_algo()
    algo.train()
    stats = algo.train()["learners"][DEFAULT_MODULE_ID]
    assert stats["num_gradient_updates"] == 50 and np.isfinite(stats["qf_loss"])
    group = algo.learner.optimizers[DEFAULT_MODULE_ID]
    assert len(group["critic"].params) == 8 and len(group["actor"].params) == 4
    actions = algo.env_runner.sample(num_timesteps=20)[Columns.ACTIONS]  # sampled by the runner, squashed
    assert np.abs(actions).max() <= 2.0


class UnsquashedModule(MySACModule):
    def setup(self):
        super().setup()
        self.action_dist_cls = None  # the default: an unbounded diagonal Gaussian


def test_sac_needs_a_squashed_distribution():
    config = tiny().rl_module(rl_module_spec=RLModuleSpec(module_class=UnsquashedModule))
    with pytest.raises(TypeError, match=r"SAC needs a tanh-squashed Gaussian.*squashed=True"):
        config.build_algo()
