"""The default modules at RLlib's paths, subclassed the way RLlib module code does.

A module written in the style of RLlib's module examples (its own ``__init__`` with the
RLlib keyword arguments, ``setup`` / ``_forward_*`` / ``compute_values`` overrides calling
``super()``, reading ``self.encoder`` / ``self.pi`` / ``self.vf`` and the ``ENCODER_OUT``
convention) builds, runs its three forwards and trains on tripod's PPO. The default PPO
module keeps the parameter names, order and initial weights of earlier tripod versions, so
states and checkpoints saved before keep loading.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from tripod.algorithms.ppo import PPOConfig
from tripod.algorithms.ppo.default_ppo_rl_module import DefaultPPORLModule
from tripod.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
from tripod.algorithms.ppo.torch.ppo_torch_rl_module import PPOTorchRLModule
from tripod.core.columns import Columns
from tripod.core.models.base import ACTOR, CRITIC, ENCODER_OUT
from tripod.core.rl_module.apis import ValueFunctionAPI
from tripod.core.rl_module.rl_module import RLModule, RLModuleSpec
from tripod.io.class_import import import_class

N = 4
OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT = gym.spaces.Discrete(N)


# ------------------------------------------------------------------ an RLlib-style subclass
class MaskedInputsModule(RLModule):
    """Takes a Dict space of ``{"obs", "allowed"}`` and hands the parents only ``"obs"``."""

    def __init__(
        self,
        *,
        observation_space=None,
        action_space=None,
        inference_only=None,
        learner_only=False,
        model_config=None,
        catalog_class=None,
        **kwargs,
    ):
        self.full_observation_space = observation_space
        super().__init__(
            observation_space=observation_space["obs"],
            action_space=action_space,
            inference_only=inference_only,
            learner_only=learner_only,
            model_config=model_config,
            catalog_class=catalog_class,
            **kwargs,
        )


class MaskedPPOModule(MaskedInputsModule, PPOTorchRLModule):
    def setup(self):
        super().setup()
        # An inference-only copy (the env runners') has no value function.
        vf = type(self.vf).__name__ if not self.inference_only else None
        self.setup_saw = (type(self.encoder).__name__, type(self.pi).__name__, vf)
        self.observation_space = self.full_observation_space

    @staticmethod
    def _take_mask(batch):
        obs = batch[Columns.OBS]
        if isinstance(obs, dict):
            batch = dict(batch)
            batch[Columns.OBS], batch["allowed"] = obs["obs"], obs["allowed"]
        return batch, batch["allowed"]

    @staticmethod
    def _mask_logits(out, allowed):
        penalty = torch.where(allowed > 0, 0.0, -3.0e38)
        out[Columns.ACTION_DIST_INPUTS] = out[Columns.ACTION_DIST_INPUTS] + penalty
        return out

    def _forward_inference(self, batch, **kwargs):
        batch, allowed = self._take_mask(batch)
        return self._mask_logits(super()._forward_inference(batch, **kwargs), allowed)

    def _forward_exploration(self, batch, **kwargs):
        batch, allowed = self._take_mask(batch)
        return self._mask_logits(super()._forward_exploration(batch, **kwargs), allowed)

    def _forward_train(self, batch, **kwargs):
        batch, allowed = self._take_mask(batch)
        out = super()._forward_train(batch, **kwargs)
        # The same logits computed by hand from the parts, as RLlib subclasses do.
        own = self.pi(self.encoder(batch)[ENCODER_OUT][ACTOR])
        assert torch.allclose(own, out[Columns.ACTION_DIST_INPUTS])
        return self._mask_logits(out, allowed)

    def compute_values(self, batch, embeddings=None):
        if isinstance(batch[Columns.OBS], dict):
            stripped, allowed = self._take_mask(batch)
            batch[Columns.OBS], batch["allowed"] = stripped[Columns.OBS], allowed
        values = super().compute_values(batch, embeddings)
        own = self.vf(self.encoder(batch)[ENCODER_OUT][CRITIC]).squeeze(-1)
        assert torch.allclose(own, values)
        return values


class MaskedTargets(gym.Env):
    """Pick the target of a one-hot observation; half the other actions are not allowed."""

    violations = 0

    def __init__(self, config=None):
        self.observation_space = gym.spaces.Dict(
            {"obs": gym.spaces.Box(0.0, 1.0, (N,), np.float32), "allowed": gym.spaces.Box(0.0, 1.0, (N,))}
        )
        self.action_space = ACT

    def _obs(self):
        self.target = int(self.np_random.integers(N))
        self.allowed = np.ones(N, np.float32)
        self.allowed[(self.target + 1) % N] = 0.0
        onehot = np.zeros(N, np.float32)
        onehot[self.target] = 1.0
        return {"obs": onehot, "allowed": self.allowed.copy()}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        if self.allowed[int(action)] == 0:
            MaskedTargets.violations += 1
        reward = float(int(action) == self.target)
        self.t += 1
        return self._obs(), reward, False, self.t >= 8, {}


def _batch(n=5):
    g = torch.Generator().manual_seed(3)
    allowed = torch.ones(n, N)
    allowed[:, 1] = 0.0
    return {Columns.OBS: {"obs": torch.rand(n, N, generator=g), "allowed": allowed}}


def test_imports_at_rllib_paths():
    assert PPOTorchRLModule is DefaultPPOTorchRLModule
    assert issubclass(DefaultPPOTorchRLModule, DefaultPPORLModule)
    assert issubclass(DefaultPPOTorchRLModule, ValueFunctionAPI)
    # Checkpoints and command lines written before the move name the old path.
    old = "tripod.algorithms.ppo.default_ppo_rl_module.DefaultPPOTorchRLModule"
    assert import_class(old) is DefaultPPOTorchRLModule
    assert import_class(old.replace(".DefaultPPO", ":DefaultPPO")) is DefaultPPOTorchRLModule


@pytest.mark.parametrize("share", [False, True])
def test_rllib_style_subclass_builds_and_runs_all_forwards(share):
    module = RLModuleSpec(
        module_class=MaskedPPOModule,
        observation_space=MaskedTargets().observation_space,
        action_space=ACT,
        model_config={"fcnet_hiddens": [16], "vf_share_layers": share},
    ).build()
    assert module.setup_saw == ("ActorCriticEncoder", "MLP", "MLP")
    assert module.observation_space == MaskedTargets().observation_space
    assert hasattr(module.encoder, "critic_encoder") is not share
    for forward in (module.forward_inference, module.forward_exploration, module.forward_train):
        logits = forward(_batch())[Columns.ACTION_DIST_INPUTS]
        assert logits.shape == (5, N) and bool((logits[:, 1] < -1e37).all())
    batch = _batch()
    values = module.compute_values(batch)
    assert values.shape == (5,) and batch["allowed"].shape == (5, N)
    out = module.forward_train(batch)
    assert (Columns.EMBEDDINGS in out) is share


def test_rllib_style_subclass_trains_on_ppo():
    MaskedTargets.violations = 0
    config = (
        PPOConfig()
        .environment(MaskedTargets)
        .env_runners(num_envs_per_env_runner=4)
        .training(train_batch_size_per_learner=256, minibatch_size=64, num_epochs=3, lr=3e-3)
        .rl_module(
            rl_module_spec=RLModuleSpec(module_class=MaskedPPOModule), model_config={"fcnet_hiddens": [16]}
        )
        .debugging(seed=0)
    )
    algo = config.build_algo()
    try:
        for _ in range(3):
            result = algo.train()
        assert np.isfinite(result["env_runners"]["episode_return_mean"])
        assert MaskedTargets.violations == 0
    finally:
        algo.stop()


# ------------------------------------------------------------------ layout of earlier versions
# The parameter names (in order) of the default PPO module before it was split into
# DefaultPPORLModule / DefaultPPOTorchRLModule; states saved then name these.
OLD_NAMES = [
    "encoder.base.1.0.weight",
    "encoder.base.1.0.bias",
    "encoder.base.1.2.weight",
    "encoder.base.1.2.bias",
    "pi.0.weight",
    "pi.0.bias",
    "vf_encoder.base.1.0.weight",
    "vf_encoder.base.1.0.bias",
    "vf_encoder.base.1.2.weight",
    "vf_encoder.base.1.2.bias",
    "vf.0.weight",
    "vf.0.bias",
]
# Sums of the initial weights for torch.manual_seed(0), as earlier versions drew them.
OLD_SUMS = {
    "encoder.base.1.0.weight": -0.2125769853591919,
    "encoder.base.1.0.bias": -5.910757601261139,
    "encoder.base.1.2.weight": 3.51014144718647,
    "pi.0.weight": 0.007033827077165711,
    "vf_encoder.base.1.0.weight": -21.335089564323425,
    "vf_encoder.base.1.2.weight": 11.881035715341568,
    "vf.0.weight": 0.34833923730184324,
}


def _default(**kw):
    return DefaultPPOTorchRLModule(
        observation_space=OBS, action_space=gym.spaces.Discrete(3), model_config={}, **kw
    )


def test_parameter_layout_and_initial_weights_are_unchanged():
    torch.manual_seed(0)
    module = _default()
    assert [name for name, _ in module.named_parameters()] == OLD_NAMES
    state = module.get_state()
    for name, total in OLD_SUMS.items():
        assert float(np.asarray(state[name], np.float64).sum()) == pytest.approx(total, abs=1e-9), name


def test_old_layout_state_loads_to_identical_outputs():
    torch.manual_seed(1)
    source = _default()
    # A state as an earlier version saved it: plain arrays under the old names.
    old_state = {name: p.detach().numpy().copy() for name, p in zip(OLD_NAMES, source.parameters())}
    target = _default()
    target.set_state(old_state)
    batch = {Columns.OBS: torch.rand(6, 4) * 2 - 1}
    for fwd in ("forward_inference", "forward_exploration", "forward_train"):
        a = getattr(source, fwd)(batch)[Columns.ACTION_DIST_INPUTS]
        b = getattr(target, fwd)(batch)[Columns.ACTION_DIST_INPUTS]
        assert torch.equal(a, b), fwd
    assert torch.equal(source.compute_values(batch), target.compute_values(batch))
    # The inference-only copy a runner holds loads the same state, without the value function.
    runner = _default(inference_only=True)
    runner.set_state(old_state)
    assert not hasattr(runner, "vf") and not hasattr(runner.encoder, "critic_encoder")
    assert torch.equal(
        runner.forward_inference(batch)[Columns.ACTION_DIST_INPUTS],
        source.forward_inference(batch)[Columns.ACTION_DIST_INPUTS],
    )


def test_encoder_convention():
    module = _default()
    batch = {Columns.OBS: torch.rand(2, 4)}
    out = module.encoder(batch)[ENCODER_OUT]
    assert set(out) == {ACTOR, CRITIC}
    assert torch.equal(module.encoder.actor_encoder(batch)[ENCODER_OUT], out[ACTOR])
    assert torch.equal(module.encoder.critic_encoder(batch)[ENCODER_OUT], out[CRITIC])
    assert module.encoder.critic_encoder is module.vf_encoder


def test_inference_only_state_leaves_out_the_value_function():
    state = _default().get_state(inference_only=True)
    assert sorted(state) == sorted(n for n in OLD_NAMES if not n.startswith(("vf.", "vf_encoder.")))


# ------------------------------------------------------------------ DQN and SAC
@pytest.mark.parametrize("algo", ["dqn", "sac"])
def test_dqn_and_sac_modules_at_rllib_paths(algo):
    import importlib

    name = algo.upper()
    base = getattr(
        importlib.import_module(f"tripod.algorithms.{algo}.default_{algo}_rl_module"),
        f"Default{name}RLModule",
    )
    torch_cls = getattr(
        importlib.import_module(f"tripod.algorithms.{algo}.torch.default_{algo}_torch_rl_module"),
        f"Default{name}TorchRLModule",
    )
    assert issubclass(torch_cls, base)
    assert (
        getattr(importlib.import_module(f"tripod.algorithms.{algo}"), f"Default{name}TorchRLModule")
        is torch_cls
    )
    old = f"tripod.algorithms.{algo}.default_{algo}_rl_module.Default{name}TorchRLModule"
    assert import_class(old) is torch_cls


def test_dqn_subclass_reads_rllib_attributes():
    from tripod.algorithms.dqn.torch.default_dqn_torch_rl_module import DefaultDQNTorchRLModule

    class HalvedQ(DefaultDQNTorchRLModule):
        def setup(self):
            super().setup()
            self.seen = (self.encoder, self.af, self.vf)

        def compute_q_values(self, batch):
            out = super().compute_q_values(batch)
            return {key: value / 2 for key, value in out.items()}

    torch.manual_seed(0)
    module = HalvedQ(observation_space=OBS, action_space=ACT, model_config={"head_fcnet_hiddens": [8]})
    assert module.seen == (module.qf.encoder, module.qf.advantage, module.qf.value)
    assert [n for n, _ in module.named_parameters()][0].startswith("qf.encoder.")
    batch = {Columns.OBS: torch.rand(3, 4)}
    q = module.forward_train(batch)["qf_preds"]
    assert torch.allclose(q, module.qf(batch[Columns.OBS]) / 2)
    assert module.forward_inference(batch)[Columns.ACTIONS].shape == (3,)
    assert module.forward_exploration(batch)[Columns.ACTIONS].shape == (3,)


def test_sac_subclass_keeps_inference_only_layout():
    from tripod.algorithms.sac.torch.default_sac_torch_rl_module import DefaultSACTorchRLModule

    act = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    learner = DefaultSACTorchRLModule(observation_space=OBS, action_space=act, model_config={})
    learner.make_target_networks()
    runner = DefaultSACTorchRLModule(
        observation_space=OBS, action_space=act, model_config={}, inference_only=True
    )
    runner.set_state(learner.get_state(inference_only=True))
    batch = {Columns.OBS: torch.rand(3, 4)}
    assert torch.equal(
        runner.forward_inference(batch)[Columns.ACTIONS], learner.forward_inference(batch)[Columns.ACTIONS]
    )
    q = learner.compute_q_values({**batch, Columns.ACTIONS: torch.zeros(3, 2)})
    assert set(q) == {"qf_preds", "qf_twin_preds"}


def test_checkpoint_naming_the_old_class_path_loads(tmp_path):
    import hashlib
    import json

    torch.manual_seed(2)
    module = _default()
    module.save_to_path(tmp_path)
    # Rewrite the checkpoint as an earlier version wrote it: the class at its old path.
    meta_file, manifest_file = tmp_path / "metadata.json", tmp_path / "manifest.json"
    meta = json.loads(meta_file.read_text())
    meta["class"] = "tripod.algorithms.ppo.default_ppo_rl_module.DefaultPPOTorchRLModule"
    meta_file.write_text(json.dumps(meta, indent=2))
    manifest = json.loads(manifest_file.read_text())
    data = meta_file.read_bytes()
    manifest["files"]["metadata.json"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    manifest_file.write_text(json.dumps(manifest, indent=2))

    loaded = RLModule.from_checkpoint(tmp_path)
    assert type(loaded) is DefaultPPOTorchRLModule
    batch = {Columns.OBS: torch.rand(4, 4)}
    assert torch.equal(
        loaded.forward_inference(batch)[Columns.ACTION_DIST_INPUTS],
        module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS],
    )
