"""SAC training: random actions then learning, each loss reaching only its own parameters,
optimizers and alpha in the state, user-written modules (each test builds a tiny SAC)."""

import numpy as np
import pytest
import torch
from torch import nn

from tripod.algorithms.algorithm import Algorithm
from tripod.algorithms.sac import SACConfig
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
    runner_weights = algo.env_runner_group.get_state()["env_runner"][
        "rl_module"
    ]  # inference-only: no critics
    assert not any(name.startswith("qf") for name in runner_weights)
    np.testing.assert_array_equal(
        runner_weights["pi.0.weight"], algo.get_weights()[DEFAULT_MODULE_ID]["pi.0.weight"]
    )
    action_space = algo.env_runner_group.get_spaces()[1]
    low, high = action_space.low, action_space.high
    actions = algo.env_runner_group.sample(num_timesteps=50)[DEFAULT_MODULE_ID][Columns.ACTIONS]
    assert actions.min() >= low.min() and actions.max() <= high.max()
    assert np.isfinite(algo.evaluate(1)["env_runners"]["episode_return_mean"])


def test_each_loss_reaches_only_its_own_parameters():
    algo = tiny().build_algo()
    algo.train()
    learner, module = algo.learner_group.foreach_learner(lambda learner: learner)[0], algo.get_module()
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
    learner = algo.learner_group.foreach_learner(lambda learner: learner)[0]
    group = learner.optimizers[DEFAULT_MODULE_ID]
    assert [group[n].param_groups[0]["lr"] for n in ("actor", "critic", "alpha")] == [1e-3, 2e-3, 3e-3]
    state = algo.learner_group.get_state()
    assert set(state["optimizers"][DEFAULT_MODULE_ID]) == {"actor", "critic", "alpha"}
    log_alpha = float(learner.log_alpha[DEFAULT_MODULE_ID].detach())
    assert log_alpha < 0 and state["extra"]["log_alpha"][DEFAULT_MODULE_ID] == pytest.approx(log_alpha)
    restored = Algorithm.from_checkpoint(algo.save_to_path(tmp_path / "ckpt"))
    restored_state = restored.learner_group.get_state()
    assert float(restored_state["extra"]["log_alpha"][DEFAULT_MODULE_ID]) == pytest.approx(log_alpha)
    saved = state["optimizers"][DEFAULT_MODULE_ID]["critic"]["state"][0]
    loaded = restored_state["optimizers"][DEFAULT_MODULE_ID]["critic"]["state"][0]
    torch.testing.assert_close(saved["exp_avg"], loaded["exp_avg"])
    assert len(restored.replay_buffer) == 0  # checkpoint_replay_buffer=False: not saved


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
    group = algo.learner_group.foreach_learner(lambda learner: learner.optimizers[DEFAULT_MODULE_ID])[0]
    assert len(group["critic"].params) == 8 and len(group["actor"].params) == 4
    batch = algo.env_runner_group.sample(num_timesteps=20)[DEFAULT_MODULE_ID]
    actions = batch[Columns.ACTIONS]  # sampled by the runner, squashed
    assert np.abs(actions).max() <= 2.0


class UnsquashedModule(MySACModule):
    def setup(self):
        super().setup()
        self.action_dist_cls = None  # the default: an unbounded diagonal Gaussian


def test_sac_needs_a_squashed_distribution():
    config = tiny().rl_module(rl_module_spec=RLModuleSpec(module_class=UnsquashedModule))
    with pytest.raises(TypeError, match=r"SAC needs a tanh-squashed Gaussian.*squashed=True"):
        config.build_algo()
