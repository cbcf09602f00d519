"""The RLModule / TorchRLModule / RLModuleSpec contract, as RLlib users rely on it.

Modules here are written the way RLlib's docs write them (``setup``, ``_forward``,
``Columns``, API mixins), with only the import prefix changed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from tripod.core import Columns, RLModule, RLModuleSpec, TorchRLModule
from tripod.core.apis import QNetAPI, TargetNetworkAPI, ValueFunctionAPI
from tripod.core.distribution.distribution import PartialDistCls
from tripod.core.distribution.torch.torch_distribution import (
    TorchCategorical,
    TorchDiagGaussian,
    TorchMultiCategorical,
)
from tripod.core.rl_module.apis import InferenceOnlyAPI

OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT = gym.spaces.Discrete(2)


def obs_batch(n: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {Columns.OBS: torch.rand(n, 4, generator=g) * 2 - 1}


# ----------------------------------------------------------------------------- modules
class VPGTorchRLModule(TorchRLModule, ValueFunctionAPI):
    """In the style of RLlib's docs example: one ``_forward`` for all phases plus a value head."""

    def setup(self):
        input_dim = self.observation_space.shape[0]
        hidden_dim = self.model_config["hidden_dim"]
        output_dim = self.action_space.n
        self._policy_net = nn.Sequential(
            nn.Linear(input_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, output_dim),
        )
        self._values = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 1))

    def _forward(self, batch, **kwargs):
        action_logits = self._policy_net(batch[Columns.OBS])
        return {Columns.ACTION_DIST_INPUTS: action_logits}

    def compute_values(self, batch, embeddings=None):
        return self._values(batch[Columns.OBS]).squeeze(-1)


class ActorCriticModule(TorchRLModule, ValueFunctionAPI, InferenceOnlyAPI):
    """RLlib-PPO-like: encoder with a critic sub-encoder, an inference-only copy skips the critic."""

    def setup(self):
        hidden = self.model_config.get("hidden", 16)
        self.encoder = nn.ModuleDict({"actor_encoder": nn.Linear(4, hidden)})
        if not self.inference_only:
            self.encoder["critic_encoder"] = nn.Linear(4, hidden)
            self.vf = nn.Linear(hidden, 1)
        self.pi = nn.Linear(hidden, self.action_space.n)

    def get_non_inference_attributes(self):
        return ["vf", "encoder.critic_encoder"]  # a dotted path, as RLlib's default PPO module returns

    def _forward(self, batch, **kwargs):
        return {
            Columns.ACTION_DIST_INPUTS: self.pi(torch.tanh(self.encoder["actor_encoder"](batch[Columns.OBS])))
        }

    def compute_values(self, batch, embeddings=None):
        return self.vf(torch.tanh(self.encoder["critic_encoder"](batch[Columns.OBS]))).squeeze(-1)


class DropoutModule(TorchRLModule):
    def setup(self):
        self.net = nn.Sequential(nn.Linear(4, 64), nn.Dropout(p=0.5), nn.Linear(64, 2))

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.net(batch[Columns.OBS])}


class TutorialStyleModule(TorchRLModule):
    """The seed tutorial's shape: its five-parameter ``__init__`` and overrides without ``**kwargs``."""

    def __init__(self, observation_space, action_space, inference_only, model_config, catalog_class) -> None:
        super().__init__(
            observation_space=observation_space,
            action_space=action_space,
            inference_only=inference_only,
            model_config=model_config,
            catalog_class=catalog_class,
        )

    def setup(self):
        self.policy = nn.Sequential(
            nn.Linear(self.observation_space.shape[0], self.model_config["fcnet_hiddens"][0]),
            nn.ReLU(),
            nn.Linear(self.model_config["fcnet_hiddens"][0], self.action_space.n),
        )

    def _forward_inference(self, batch: dict[str, Any]) -> dict[str, Any]:
        with torch.no_grad():
            return {"actions": self.policy(batch["obs"]).argmax(dim=-1)}

    def _forward_exploration(self, batch: dict[str, Any]) -> dict[str, Any]:
        # As in the tutorial: no torch.no_grad() here, so the output keeps its grad_fn.
        return {"action_dist_inputs": torch.distributions.Categorical(logits=self.policy(batch["obs"]))}

    def _forward_train(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {"action_dist_inputs": torch.distributions.Categorical(logits=self.policy(batch["obs"]))}


class TargetQModule(TorchRLModule, TargetNetworkAPI, QNetAPI):
    """A DQN-like module: a Q network, a frozen target copy made on demand."""

    def setup(self):
        self.qf = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, self.action_space.n))

    def make_target_networks(self):
        self._target_qf = self.make_target_copy(self.qf)

    def get_target_network_pairs(self):
        return [(self.qf, self._target_qf)]

    def forward_target(self, batch, **kwargs):
        return {"qf_preds": self._target_qf(batch[Columns.OBS])}

    def compute_q_values(self, batch):
        return {"qf_preds": self.qf(batch[Columns.OBS])}

    def _forward(self, batch, **kwargs):
        return {Columns.ACTIONS: self.compute_q_values(batch)["qf_preds"].argmax(-1)}


def build(cls=VPGTorchRLModule, seed: int = 0, **spec_kwargs) -> RLModule:
    torch.manual_seed(seed)
    kwargs = {"observation_space": OBS, "action_space": ACT, "model_config": {"hidden_dim": 16}}
    kwargs.update(spec_kwargs)
    return RLModuleSpec(module_class=cls, **kwargs).build()


# ----------------------------------------------------------------------------- forwards
def test_three_forwards_default_to_forward():
    calls = []

    class Recorder(TorchRLModule):
        def setup(self):
            self.net = nn.Linear(4, 2)

        def _forward(self, batch, **kwargs):
            calls.append(kwargs)
            return {Columns.ACTION_DIST_INPUTS: self.net(batch[Columns.OBS])}

    module = Recorder(observation_space=OBS, action_space=ACT)
    batch = obs_batch()
    outs = [
        module.forward_inference(batch),
        module.forward_exploration(batch, t=3),
        module.forward_train(batch),
    ]
    assert calls == [{}, {"t": 3}, {}]
    for out in outs:
        assert set(out) == {Columns.ACTION_DIST_INPUTS}
        assert out[Columns.ACTION_DIST_INPUTS].shape == (8, 2)
    # nn.Module's __call__ is forward_train, as in RLlib.
    assert module(batch)[Columns.ACTION_DIST_INPUTS].grad_fn is not None


def test_phase_specific_overrides_take_precedence():
    class Phased(TorchRLModule):
        def setup(self):
            self.net = nn.Linear(4, 2)

        def _forward(self, batch, **kwargs):
            return {"phase": "generic"}

        def _forward_inference(self, batch, **kwargs):
            return {"phase": "inference"}

    module = Phased(observation_space=OBS, action_space=ACT)
    batch = obs_batch()
    assert module.forward_inference(batch) == {"phase": "inference"}
    assert module.forward_exploration(batch) == {"phase": "generic"}
    assert module.forward_train(batch) == {"phase": "generic"}


def test_default_inference_and_exploration_run_without_grad_train_with_grad():
    module = build()
    batch = obs_batch()
    for out in (module.forward_inference(batch), module.forward_exploration(batch)):
        logits = out[Columns.ACTION_DIST_INPUTS]
        assert logits.grad_fn is None and not logits.requires_grad
    train_logits = module.forward_train(batch)[Columns.ACTION_DIST_INPUTS]
    assert train_logits.grad_fn is not None
    # Gradients really flow from forward_train into the parameters.
    train_logits.sum().backward()
    assert module._policy_net[0].weight.grad is not None
    # Called under no_grad (as runners do) the defaults work the same.
    with torch.no_grad():
        assert module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS].grad_fn is None
    assert torch.is_grad_enabled()


def test_user_overrides_run_as_written_like_the_tutorial():
    module = build(TutorialStyleModule, model_config={"fcnet_hiddens": [16]})
    batch = {"obs": torch.zeros(4)}  # the tutorial's unbatched observation
    # The tutorial's _forward_exploration has no no_grad: its output keeps grad_fn.
    dist = module.forward_exploration(batch)["action_dist_inputs"]
    assert isinstance(dist, torch.distributions.Categorical)
    assert dist.logits.grad_fn is not None
    # Its _forward_inference uses no_grad itself.
    action = module.forward_inference(batch)["actions"]
    assert action.grad_fn is None and action.dtype == torch.int64
    assert module.forward_train(batch)["action_dist_inputs"].logits.grad_fn is not None


def test_inference_and_exploration_run_in_eval_mode_train_in_train_mode():
    torch.manual_seed(0)
    module = DropoutModule(observation_space=OBS, action_space=ACT)
    batch = obs_batch(64)
    a = module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS]
    b = module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS]
    c = module.forward_exploration(batch)[Columns.ACTION_DIST_INPUTS]
    assert torch.equal(a, b) and torch.equal(a, c)  # dropout off: deterministic
    assert not module.training and not module.net[1].training
    t1 = module.forward_train(batch)[Columns.ACTION_DIST_INPUTS]
    assert module.training and module.net[1].training
    t2 = module.forward_train(batch)[Columns.ACTION_DIST_INPUTS]
    assert not torch.equal(t1, t2)  # dropout on
    # And back: eval again, same outputs as before.
    assert torch.equal(module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS], a)


def test_mode_switch_is_not_a_recursive_eval_on_every_call():
    module = DropoutModule(observation_space=OBS, action_space=ACT)
    counts = {"top": [], "child": []}
    top_train, child_train = module.train, module.net.train

    def spy_top(mode=True):
        counts["top"].append(mode)
        return top_train(mode)

    def spy_child(mode=True):
        counts["child"].append(mode)
        return child_train(mode)

    module.train = spy_top
    module.net.train = spy_child
    batch = obs_batch()
    for _ in range(50):
        module.forward_inference(batch)
        module.forward_exploration(batch)
    assert counts["top"] == [False] and counts["child"] == [False]
    for _ in range(50):
        module.forward_train(batch)
    assert counts["top"] == [False, True] and counts["child"] == [False, True]
    module.forward_inference(batch)
    assert counts["top"] == [False, True, False]


def test_forward_not_implemented_is_explained():
    module = RLModule(observation_space=OBS, action_space=ACT)
    with pytest.raises(NotImplementedError, match="_forward"):
        module.forward_inference(obs_batch())


def test_plain_rl_module_without_torch_works():
    class AlwaysZero(RLModule):
        def _forward(self, batch, **kwargs):
            return {Columns.ACTIONS: np.zeros(len(batch[Columns.OBS]), dtype=np.int64)}

    module = RLModuleSpec(module_class=AlwaysZero, observation_space=OBS, action_space=ACT).build()
    assert not isinstance(module, nn.Module)
    for method in (module.forward_inference, module.forward_exploration, module.forward_train):
        np.testing.assert_array_equal(method(obs_batch(3))[Columns.ACTIONS], [0, 0, 0])
    assert module.get_state() == {}


def test_forward_train_on_inference_only_module_is_an_error():
    module = build(ActorCriticModule, inference_only=True)
    assert module.forward_inference(obs_batch())[Columns.ACTION_DIST_INPUTS].shape == (8, 2)
    with pytest.raises(RuntimeError, match="inference_only"):
        module.forward_train(obs_batch())


# ----------------------------------------------------------------------------- construction
def test_setup_is_called_last_with_all_attributes_set():
    seen = {}

    class Inspect(TorchRLModule):
        def setup(self):
            seen.update(
                observation_space=self.observation_space,
                action_space=self.action_space,
                inference_only=self.inference_only,
                learner_only=self.learner_only,
                model_config=self.model_config,
                catalog_class=self.catalog_class,
            )
            self.net = nn.Linear(4, 2)  # nn.Module is initialised before setup()

    marker = object()
    module = Inspect(
        observation_space=OBS,
        action_space=ACT,
        inference_only=True,
        learner_only=True,
        model_config={"a": 1},
        catalog_class=marker,
    )
    assert seen == {
        "observation_space": OBS,
        "action_space": ACT,
        "inference_only": True,
        "learner_only": True,
        "model_config": {"a": 1},
        "catalog_class": marker,
    }
    assert [name for name, _ in module.named_parameters()] == ["net.weight", "net.bias"]


def test_setup_runs_once():
    count = []

    class Once(TorchRLModule):
        def setup(self):
            count.append(1)

    RLModuleSpec(module_class=Once, observation_space=OBS, action_space=ACT).build()
    assert count == [1]


def test_tutorial_five_parameter_init_builds_from_spec():
    spec = RLModuleSpec(
        module_class=TutorialStyleModule,
        observation_space=OBS,
        action_space=ACT,
        model_config={"fcnet_hiddens": [64]},
        learner_only=True,
    )
    module = spec.build()
    assert isinstance(module, TutorialStyleModule)
    assert module.policy[0].out_features == 64
    assert module.learner_only is True  # set after build although __init__ does not take it
    assert module.inference_only is False
    out = module.forward_inference({"obs": torch.zeros(3, 4)})
    assert out["actions"].shape == (3,)


def test_model_config_defaults_to_an_empty_dict_and_is_a_copy():
    module = TorchRLModule(observation_space=OBS, action_space=ACT)
    assert module.model_config == {} and isinstance(module.model_config, dict)
    assert RLModule().model_config == {}

    seen = []

    class Reads(TorchRLModule):
        def setup(self):
            seen.append(self.model_config)

    RLModuleSpec(module_class=Reads, observation_space=OBS, action_space=ACT).build()
    assert seen == [{}]
    config = {"hidden_dim": 8}
    spec = RLModuleSpec(
        module_class=VPGTorchRLModule, observation_space=OBS, action_space=ACT, model_config=config
    )
    module = spec.build()
    module.model_config["hidden_dim"] = 99
    assert config == {"hidden_dim": 8} and spec.model_config == {"hidden_dim": 8}


def test_dataclass_model_config_becomes_a_dict():
    @dataclasses.dataclass
    class ModelConfig:  # like RLlib's DefaultModelConfig
        hidden_dim: int = 8

    module = RLModuleSpec(
        module_class=VPGTorchRLModule, observation_space=OBS, action_space=ACT, model_config=ModelConfig(4)
    ).build()
    assert module.model_config == {"hidden_dim": 4}
    assert VPGTorchRLModule(
        observation_space=OBS, action_space=ACT, model_config=ModelConfig()
    ).model_config == {"hidden_dim": 8}


def test_unknown_kwargs_are_a_clear_type_error():
    with pytest.raises(TypeError, match=r"unexpected keyword arguments: hidden_dim.*model_config"):
        VPGTorchRLModule(observation_space=OBS, action_space=ACT, hidden_dim=8)
    with pytest.raises(TypeError, match="model_config must be a dict"):
        VPGTorchRLModule(observation_space=OBS, action_space=ACT, model_config=[8])


def test_torch_rl_module_is_an_rl_module_and_an_nn_module():
    module = build()
    assert (
        isinstance(module, RLModule) and isinstance(module, nn.Module) and isinstance(module, TorchRLModule)
    )
    assert isinstance(module, ValueFunctionAPI)
    assert module.framework == "torch"
    assert module.unwrapped() is module
    assert len(list(module.parameters())) == 8


# ----------------------------------------------------------------------------- distributions
@pytest.mark.parametrize(
    "space, expected, width",
    [
        (gym.spaces.Discrete(3), TorchCategorical, 3),
        (gym.spaces.MultiDiscrete([2, 3]), TorchMultiCategorical, 5),
        (gym.spaces.Box(-1.0, 1.0, (3,), np.float32), TorchDiagGaussian, 6),
    ],
)
def test_action_dist_cls_follows_the_action_space(space, expected, width):
    module = RLModule(observation_space=OBS, action_space=space)
    for getter in (
        module.get_inference_action_dist_cls,
        module.get_exploration_action_dist_cls,
        module.get_train_action_dist_cls,
    ):
        cls = getter()
        base = cls.dist_cls if isinstance(cls, PartialDistCls) else cls
        assert base is expected
        assert cls.required_input_dim(space) == width
        dist = cls.from_logits(torch.zeros(5, width))
        actions = dist.sample()
        assert actions.shape == (5, *space.shape)
        assert dist.logp(actions).shape == (5,)
        assert dist.entropy().shape == (5,)
        assert dist.kl(cls.from_logits(torch.zeros(5, width))).shape == (5,)
        greedy = dist.to_deterministic().sample()
        assert greedy.shape == actions.shape


def test_action_dist_cls_errors_and_override():
    with pytest.raises(ValueError, match="no action_space"):
        RLModule(observation_space=OBS).get_train_action_dist_cls()
    with pytest.raises(ValueError, match="No action distribution"):
        RLModule(observation_space=OBS, action_space=gym.spaces.Text(5)).get_train_action_dist_cls()

    class Custom(TorchRLModule):
        def setup(self):
            # RLlib modules may pick their distribution class in setup().
            self.action_dist_cls = TorchDiagGaussian

    module = Custom(observation_space=OBS, action_space=ACT)
    assert module.get_inference_action_dist_cls() is TorchDiagGaussian
    assert module.get_train_action_dist_cls() is TorchDiagGaussian


# ----------------------------------------------------------------------------- recurrent state
def test_initial_state_and_is_stateful():
    assert build().get_initial_state() == {}
    assert build().is_stateful() is False

    class Recurrent(TorchRLModule):
        def setup(self):
            self.cell = nn.GRUCell(4, 3)

        def get_initial_state(self):
            return {"h": torch.zeros(3)}

        def _forward(self, batch, **kwargs):
            h = self.cell(batch[Columns.OBS], batch[Columns.STATE_IN]["h"])
            return {Columns.ACTION_DIST_INPUTS: h[:, :2], Columns.STATE_OUT: {"h": h}}

    module = Recurrent(observation_space=OBS, action_space=ACT)
    assert module.is_stateful() is True
    state = module.get_initial_state()
    batch = {Columns.OBS: torch.zeros(2, 4), Columns.STATE_IN: {"h": state["h"].expand(2, 3)}}
    assert module.forward_inference(batch)[Columns.STATE_OUT]["h"].shape == (2, 3)


# ----------------------------------------------------------------------------- state
def _logits(module, batch):
    return module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS]


def test_get_state_set_state_round_trip_gives_identical_outputs():
    a, b = build(seed=1), build(seed=2)
    batch = obs_batch()
    assert not torch.equal(_logits(a, batch), _logits(b, batch))
    state = a.get_state()
    assert set(state) == {k for k, _ in a.state_dict().items()}
    assert all(isinstance(v, np.ndarray) for v in state.values())
    b.set_state(state)
    assert torch.equal(_logits(a, batch), _logits(b, batch))
    assert torch.equal(a.compute_values(batch), b.compute_values(batch))
    # get_state returns copies: changing them does not change the module.
    state["_policy_net.0.weight"][:] = 0
    assert torch.equal(_logits(a, batch), _logits(b, batch))
    # Tensors are accepted too.
    b.set_state({k: torch.zeros_like(v) for k, v in a.state_dict().items()})
    assert torch.count_nonzero(_logits(b, batch)) == 0


def test_get_state_components_and_not_components():
    module = build(ActorCriticModule)
    full = set(module.get_state())
    assert full == {
        "encoder.actor_encoder.weight",
        "encoder.actor_encoder.bias",
        "encoder.critic_encoder.weight",
        "encoder.critic_encoder.bias",
        "vf.weight",
        "vf.bias",
        "pi.weight",
        "pi.bias",
    }
    assert set(module.get_state(components="pi")) == {"pi.weight", "pi.bias"}
    assert set(module.get_state(components=["pi", "vf"])) == {"pi.weight", "pi.bias", "vf.weight", "vf.bias"}
    assert set(module.get_state(components="encoder.critic_encoder")) == {
        "encoder.critic_encoder.weight",
        "encoder.critic_encoder.bias",
    }
    assert set(module.get_state(not_components=["encoder"])) == {
        "pi.weight",
        "pi.bias",
        "vf.weight",
        "vf.bias",
    }
    # A name is a path prefix, not a string prefix: "p" matches nothing.
    assert module.get_state(components="p") == {}


def test_get_state_inference_only_drops_non_inference_attributes():
    module = build(ActorCriticModule)
    state = module.get_state(inference_only=True)
    assert set(state) == {
        "encoder.actor_encoder.weight",
        "encoder.actor_encoder.bias",
        "pi.weight",
        "pi.bias",
    }


def test_inference_only_module_from_the_same_spec_accepts_the_full_state():
    learner_module = build(ActorCriticModule, seed=1)
    runner_module = build(ActorCriticModule, seed=2, inference_only=True)
    assert not hasattr(runner_module, "vf")
    batch = obs_batch()
    assert not torch.equal(_logits(learner_module, batch), _logits(runner_module, batch))
    runner_module.set_state(learner_module.get_state())  # the full state, with the critic
    assert torch.equal(_logits(learner_module, batch), _logits(runner_module, batch))
    runner_module.set_state(build(ActorCriticModule, seed=3).get_state(inference_only=True))
    assert not torch.equal(_logits(learner_module, batch), _logits(runner_module, batch))


def test_set_state_errors_name_the_problem():
    module = build()
    bigger = build(model_config={"hidden_dim": 32})
    with pytest.raises(
        ValueError, match=r"'_policy_net\.0\.weight' has shape \(32, 4\) in the state but \(16, 4\)"
    ):
        module.set_state(bigger.get_state())
    with pytest.raises(ValueError, match="unknown parameter names"):
        module.set_state({"nope.weight": np.zeros(3)})
    with pytest.raises(TypeError, match="expects a dict"):
        module.set_state([1, 2])


# ----------------------------------------------------------------------------- spec
def test_rl_module_spec_fields_and_defaults():
    fields = [(f.name, f.default) for f in dataclasses.fields(RLModuleSpec)]
    assert fields == [
        ("module_class", None),
        ("observation_space", None),
        ("action_space", None),
        ("inference_only", False),
        ("learner_only", False),
        ("model_config", None),
        ("catalog_class", None),
        ("load_state_path", None),
    ]
    # Positional order as in RLlib.
    spec = RLModuleSpec(VPGTorchRLModule, OBS, ACT, True, False, {"hidden_dim": 4})
    module = spec.build()
    assert (module.observation_space, module.action_space) == (OBS, ACT)
    assert module.inference_only is True and module.model_config == {"hidden_dim": 4}


def test_rl_module_spec_build_errors():
    with pytest.raises(ValueError, match="module_class is None"):
        RLModuleSpec(observation_space=OBS, action_space=ACT).build()
    with pytest.raises(TypeError, match="must be a subclass of RLModule"):
        RLModuleSpec(module_class=nn.Linear, observation_space=OBS, action_space=ACT).build()
    with pytest.raises(TypeError, match="must be a subclass of RLModule"):
        RLModuleSpec(module_class=build(), observation_space=OBS, action_space=ACT).build()
    with pytest.raises(TypeError, match="observation_space must be a gymnasium.Space"):
        RLModuleSpec(module_class=VPGTorchRLModule, observation_space=(4,), action_space=ACT).build()
    with pytest.raises(TypeError, match="model_config must be a dict"):
        RLModuleSpec(
            module_class=VPGTorchRLModule, observation_space=OBS, action_space=ACT, model_config=3
        ).build()


def test_rl_module_spec_load_state_path_loads_weights(tmp_path):
    trained = build(seed=1)
    trained.save_to_path(tmp_path / "ckpt")
    spec = RLModuleSpec(
        module_class=VPGTorchRLModule,
        observation_space=OBS,
        action_space=ACT,
        model_config={"hidden_dim": 16},
        load_state_path=str(tmp_path / "ckpt"),
    )
    torch.manual_seed(2)
    loaded = spec.build()
    batch = obs_batch()
    assert torch.equal(_logits(trained, batch), _logits(loaded, batch))


def test_rl_module_spec_from_module_update_and_multi():
    module = build()
    spec = RLModuleSpec.from_module(module)
    assert spec.module_class is VPGTorchRLModule and spec.model_config == {"hidden_dim": 16}
    assert spec.build().get_state().keys() == module.get_state().keys()
    partial = RLModuleSpec(model_config={"hidden_dim": 4})
    partial.update(spec, override=False)
    assert partial.module_class is VPGTorchRLModule and partial.model_config == {"hidden_dim": 4}
    partial.update(spec)
    assert partial.model_config == {"hidden_dim": 16}
    multi_spec = spec.as_multi_rl_module_spec()
    assert list(multi_spec.rl_module_specs) == ["default_policy"]


# ----------------------------------------------------------------------------- APIs
def test_vpg_docs_style_module_runs():
    module = build()
    batch = obs_batch(5)
    for out in (
        module.forward_inference(batch),
        module.forward_exploration(batch),
        module.forward_train(batch),
    ):
        assert out[Columns.ACTION_DIST_INPUTS].shape == (5, 2)
    values = module.compute_values(batch)
    assert values.shape == (5,)
    dist = module.get_exploration_action_dist_cls().from_logits(
        module.forward_exploration(batch)[Columns.ACTION_DIST_INPUTS]
    )
    assert dist.sample().shape == (5,)


def test_api_mixins_are_abstract():
    class NoValues(TorchRLModule, ValueFunctionAPI):
        pass

    with pytest.raises(TypeError, match="compute_values"):
        NoValues(observation_space=OBS, action_space=ACT)


def test_target_network_api_hard_and_polyak_updates():
    module = build(TargetQModule)
    module.make_target_networks()
    ((main, target),) = module.get_target_network_pairs()
    assert target is not main
    assert all(not p.requires_grad for p in target.parameters())
    assert all(p.requires_grad for p in main.parameters())
    batch = obs_batch()
    assert torch.equal(module.forward_target(batch)["qf_preds"], module.compute_q_values(batch)["qf_preds"])

    with torch.no_grad():
        for p in main.parameters():
            p.add_(1.0)
    old = [t.detach().clone() for t in target.parameters()]
    module.update_target_networks(tau=0.1)
    for t, o, m in zip(target.parameters(), old, main.parameters()):
        torch.testing.assert_close(t, 0.1 * m + 0.9 * o)
    module.update_target_networks()  # tau=1: hard copy
    for t, m in zip(target.parameters(), main.parameters()):
        assert torch.equal(t, m)
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="tau"):
            module.update_target_networks(bad)


def test_target_networks_and_state():
    module = build(TargetQModule)
    # Before make_target_networks() there is nothing to drop.
    assert set(module.get_state(inference_only=True)) == {
        "qf.0.weight",
        "qf.0.bias",
        "qf.2.weight",
        "qf.2.bias",
    }
    module.make_target_networks()
    assert "_target_qf.0.weight" in module.get_state()
    assert set(module.get_state(inference_only=True)) == {
        "qf.0.weight",
        "qf.0.bias",
        "qf.2.weight",
        "qf.2.bias",
    }
    # A fresh module (as from_checkpoint builds it) takes the learner's state, targets included.
    with torch.no_grad():
        module._target_qf[0].weight.fill_(0.5)
    fresh = build(TargetQModule, seed=5)
    fresh.set_state(module.get_state())
    assert torch.equal(fresh._target_qf[0].weight, module._target_qf[0].weight)
    batch = obs_batch()
    assert torch.equal(fresh.forward_target(batch)["qf_preds"], module.forward_target(batch)["qf_preds"])
    # An inference-only runner copy ignores the targets.
    runner = build(TargetQModule, inference_only=True)
    runner.set_state(module.get_state())
    assert not hasattr(runner, "_target_qf")
    assert torch.equal(
        runner.forward_inference(batch)[Columns.ACTIONS], module.forward_inference(batch)[Columns.ACTIONS]
    )


def test_qnet_api():
    module = build(TargetQModule)
    q = module.compute_q_values(obs_batch(3))["qf_preds"]
    assert q.shape == (3, 2)
    assert isinstance(module, QNetAPI)
    with pytest.raises(NotImplementedError, match="distributional"):
        module.compute_advantage_distribution(obs_batch())


# ----------------------------------------------------------------------------- Columns
def test_columns_match_rllib_names():
    expected = {
        "OBS": "obs",
        "INFOS": "infos",
        "ACTIONS": "actions",
        "ACTIONS_FOR_ENV": "actions_for_env",
        "REWARDS": "rewards",
        "TERMINATEDS": "terminateds",
        "TRUNCATEDS": "truncateds",
        "NEXT_OBS": "new_obs",
        "EPS_ID": "eps_id",
        "AGENT_ID": "agent_id",
        "MODULE_ID": "module_id",
        "SEQ_LENS": "seq_lens",
        "T": "t",
        "STATE_IN": "state_in",
        "STATE_OUT": "state_out",
        "EMBEDDINGS": "embeddings",
        "ACTION_DIST_INPUTS": "action_dist_inputs",
        "ACTION_PROB": "action_prob",
        "ACTION_LOGP": "action_logp",
        "VF_PREDS": "vf_preds",
        "VALUES_BOOTSTRAPPED": "values_bootstrapped",
        "ADVANTAGES": "advantages",
        "VALUE_TARGETS": "value_targets",
        "INTRINSIC_REWARDS": "intrinsic_rewards",
        "LOSS_MASK": "loss_mask",
    }
    assert {name: getattr(Columns, name) for name in expected} == expected


def test_rl_module_file_alone_wraps_into_multi_classes_and_saves_through_module_io(tmp_path):
    """rl_module.py imports neither multi_rl_module.py nor anything that imports it back, yet
    importing it alone (in a fresh process) gives the full API: as_multi_rl_module(),
    as_multi_rl_module_spec() and a MultiRLModule checkpoint loaded through RLModule."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        f"""
        import gymnasium as gym
        from tripod.core.rl_module.rl_module import RLModule, RLModuleSpec

        spec = RLModuleSpec(module_class=RLModule, observation_space=gym.spaces.Box(-1, 1, (2,)))
        multi = spec.build().as_multi_rl_module()
        assert type(multi).__name__ == "MultiRLModule" and list(multi) == ["default_policy"]
        assert type(spec.as_multi_rl_module_spec()).__name__ == "MultiRLModuleSpec"
        multi.save_to_path({str(tmp_path / "m")!r})
        assert type(RLModule.from_checkpoint({str(tmp_path / "m")!r})).__name__ == "MultiRLModule"
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
