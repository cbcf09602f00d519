"""MultiRLModule and MultiRLModuleSpec: a mapping of module ids to RL modules."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from tripod.core import Columns, MultiRLModule, MultiRLModuleSpec, RLModule, RLModuleSpec, TorchRLModule
from tripod.core.rl_module.rl_module import DEFAULT_MODULE_ID

OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT2 = gym.spaces.Discrete(2)
ACT3 = gym.spaces.Discrete(3)


class Policy(TorchRLModule):
    def setup(self):
        self.net = nn.Sequential(
            nn.Linear(self.observation_space.shape[0], self.model_config.get("hidden", 8)),
            nn.Dropout(0.5),
            nn.Linear(self.model_config.get("hidden", 8), self.action_space.n),
        )

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.net(batch[Columns.OBS])}


class Heuristic(RLModule):
    """A fixed, non-torch policy: always action 1."""

    def _forward(self, batch, **kwargs):
        return {Columns.ACTIONS: np.ones(len(batch[Columns.OBS]), dtype=np.int64)}


def make_spec(**kwargs) -> MultiRLModuleSpec:
    return MultiRLModuleSpec(
        rl_module_specs={
            "p0": RLModuleSpec(module_class=Policy, observation_space=OBS, action_space=ACT2),
            "p1": RLModuleSpec(
                module_class=Policy, observation_space=OBS, action_space=ACT3, model_config={"hidden": 4}
            ),
            "fixed": RLModuleSpec(module_class=Heuristic, observation_space=OBS, action_space=ACT2),
        },
        **kwargs,
    )


def obs(n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {Columns.OBS: torch.rand(n, 4, generator=g)}


def test_build_from_spec_and_forwards_over_module_ids():
    torch.manual_seed(0)
    multi = make_spec().build()
    assert isinstance(multi, MultiRLModule)
    assert list(multi.keys()) == ["p0", "p1", "fixed"]
    batch = {"p0": obs(5), "p1": obs(3), "fixed": obs(2)}
    for method in (multi.forward_inference, multi.forward_exploration, multi.forward_train):
        out = method(batch)
        assert set(out) == {"p0", "p1", "fixed"}
        assert out["p0"][Columns.ACTION_DIST_INPUTS].shape == (5, 2)
        assert out["p1"][Columns.ACTION_DIST_INPUTS].shape == (3, 3)
        np.testing.assert_array_equal(out["fixed"][Columns.ACTIONS], [1, 1])
    # Only the ids in the batch run.
    assert set(multi.forward_inference({"p1": obs()})) == {"p1"}
    # Each sub-module gets its phase's mode and gradient default.
    inf = multi.forward_inference({"p0": obs()})["p0"][Columns.ACTION_DIST_INPUTS]
    assert inf.grad_fn is None and not multi["p0"].training
    assert torch.equal(inf, multi.forward_inference({"p0": obs()})["p0"][Columns.ACTION_DIST_INPUTS])
    train = multi.forward_train({"p0": obs()})["p0"][Columns.ACTION_DIST_INPUTS]
    assert train.grad_fn is not None and multi["p0"].training


def test_forward_errors():
    multi = make_spec().build()
    with pytest.raises(KeyError, match=r"no module 'p9'.*\['fixed', 'p0', 'p1'\]"):
        multi.forward_inference({"p9": obs()})
    with pytest.raises(TypeError, match=r"\{module_id: batch\}"):
        multi.forward_inference([obs()])


def test_mapping_methods():
    multi = make_spec().build()
    assert len(multi) == 3
    assert "p0" in multi and "zz" not in multi
    assert list(multi) == ["p0", "p1", "fixed"]
    assert isinstance(multi["p1"], Policy) and isinstance(multi["fixed"], Heuristic)
    assert multi.get("zz") is None and multi.get("zz", 5) == 5 and multi.get("p0") is multi["p0"]
    assert [mid for mid, _ in multi.items()] == ["p0", "p1", "fixed"]
    assert list(multi.values())[1] is multi["p1"]
    assert multi.foreach_module(lambda mid, m: type(m).__name__) == ["Policy", "Policy", "Heuristic"]
    assert multi.foreach_module(lambda mid, m: mid.upper(), return_dict=True) == {
        "p0": "P0",
        "p1": "P1",
        "fixed": "FIXED",
    }
    with pytest.raises(KeyError, match="holds"):
        multi["zz"]
    assert "p0: Policy" in repr(multi)


def test_add_and_remove_module():
    multi = make_spec().build()
    extra = RLModuleSpec(module_class=Policy, observation_space=OBS, action_space=ACT2).build()
    multi.add_module("p2", extra)
    assert multi["p2"] is extra and "p2" in multi.rl_module_specs
    with pytest.raises(ValueError, match="already exists.*override=True"):
        multi.add_module("p2", extra)
    replacement = RLModuleSpec(module_class=Heuristic, observation_space=OBS, action_space=ACT2).build()
    multi.add_module("p2", replacement, override=True)
    assert multi["p2"] is replacement
    # The torch registry follows: the replaced torch module's parameters are gone.
    assert not any(name.startswith("_torch_modules.p2.") for name, _ in multi.named_parameters())
    with pytest.raises(TypeError, match="expected an RLModule"):
        multi.add_module("p3", nn.Linear(2, 2))
    with pytest.raises(ValueError, match="module_id must be"):
        multi.add_module("a.b", extra)
    multi.remove_module("p2")
    assert "p2" not in multi and "p2" not in multi.rl_module_specs
    with pytest.raises(KeyError, match="p2"):
        multi.remove_module("p2")
    multi.remove_module("p2", raise_err_if_not_found=False)


def test_parameters_cover_torch_sub_modules_only():
    multi = make_spec().build()
    params = list(multi.parameters())
    expected = list(multi["p0"].parameters()) + list(multi["p1"].parameters())
    assert len(params) == len(expected) == 8
    assert {id(p) for p in params} == {id(p) for p in expected}
    # .to() / .train() reach them.
    multi.to(torch.float64)
    assert multi["p1"].net[0].weight.dtype == torch.float64


def test_get_state_set_state_by_module_id():
    torch.manual_seed(1)
    a = make_spec().build()
    torch.manual_seed(2)
    b = make_spec().build()
    batch = {"p0": obs(), "p1": obs()}

    def logits(m):
        out = m.forward_inference(batch)
        return [out[mid][Columns.ACTION_DIST_INPUTS] for mid in ("p0", "p1")]

    state = a.get_state()
    assert set(state) == {"p0", "p1", "fixed"} and state["fixed"] == {}
    assert set(a.get_state(components=["p0"])) == {"p0"}
    assert set(a.get_state(components="p1")) == {"p1"}
    assert set(a.get_state(not_components=["p0"])) == {"p1", "fixed"}
    with pytest.raises(KeyError, match="zz"):
        a.get_state(components=["zz"])
    # Loading only p0 leaves p1 alone.
    b.set_state(a.get_state(components=["p0"]))
    la, lb = logits(a), logits(b)
    assert torch.equal(la[0], lb[0]) and not torch.equal(la[1], lb[1])
    b.set_state(state)
    assert all(torch.equal(x, y) for x, y in zip(logits(a), logits(b)))


def test_get_state_inference_only_reaches_sub_modules():
    class WithCritic(Policy):
        def setup(self):
            super().setup()
            if not self.inference_only:
                self.vf = nn.Linear(4, 1)

        def get_non_inference_attributes(self):
            return ["vf"]

    spec = MultiRLModuleSpec(rl_module_specs={"a": RLModuleSpec(WithCritic, OBS, ACT2)})
    learner = spec.build()
    assert "vf.weight" in learner.get_state()["a"]
    assert "vf.weight" not in learner.get_state(inference_only=True)["a"]
    runner = MultiRLModuleSpec(
        rl_module_specs={"a": RLModuleSpec(WithCritic, OBS, ACT2)}, inference_only=True
    ).build()
    assert runner["a"].inference_only and not hasattr(runner["a"], "vf")
    runner.set_state(learner.get_state())
    b = {"a": obs()}
    assert torch.equal(
        runner.forward_inference(b)["a"][Columns.ACTION_DIST_INPUTS],
        learner.forward_inference(b)["a"][Columns.ACTION_DIST_INPUTS],
    )


def test_spec_build_single_module_and_helpers():
    spec = make_spec()
    p1 = spec.build("p1")
    assert isinstance(p1, Policy) and p1.action_space == ACT3
    with pytest.raises(KeyError, match="zz"):
        spec.build("zz")
    assert "p0" in spec and spec["p0"].module_class is Policy
    spec.add_modules(
        {"p0": RLModuleSpec(module_class=Heuristic, observation_space=OBS, action_space=ACT2)}, override=False
    )
    assert spec["p0"].module_class is Policy
    spec.remove_modules("fixed")
    assert "fixed" not in spec
    assert spec.as_multi_rl_module_spec() is spec
    # One RLModuleSpec means the default module id.
    single = MultiRLModuleSpec(
        rl_module_specs=RLModuleSpec(module_class=Policy, observation_space=OBS, action_space=ACT2)
    )
    assert list(single.build().keys()) == [DEFAULT_MODULE_ID]
    with pytest.raises(TypeError, match="rl_module_specs"):
        MultiRLModuleSpec(rl_module_specs=[1, 2])
    with pytest.raises(TypeError, match=r"rl_module_specs\['x'\] must be an RLModuleSpec"):
        MultiRLModule(rl_module_specs={"x": Policy})


def test_spec_from_module_rebuilds():
    multi = make_spec().build()
    rebuilt = MultiRLModuleSpec.from_module(multi).build()
    assert list(rebuilt.keys()) == list(multi.keys())
    assert [type(m) for m in rebuilt.values()] == [type(m) for m in multi.values()]


def test_as_multi_rl_module():
    module = RLModuleSpec(module_class=Policy, observation_space=OBS, action_space=ACT2).build()
    multi = module.as_multi_rl_module()
    assert isinstance(multi, MultiRLModule)
    assert list(multi.keys()) == [DEFAULT_MODULE_ID] and multi[DEFAULT_MODULE_ID] is module
    assert multi.as_multi_rl_module() is multi


def test_stateful_sub_modules():
    class Recurrent(Policy):
        def get_initial_state(self):
            return {"h": torch.zeros(2)}

    multi = MultiRLModule(
        rl_module_specs={"a": RLModuleSpec(Policy, OBS, ACT2), "r": RLModuleSpec(Recurrent, OBS, ACT2)}
    )
    assert multi.is_stateful()
    init = multi.get_initial_state()
    assert init["a"] == {} and torch.equal(init["r"]["h"], torch.zeros(2))
    multi.remove_module("r")
    assert not multi.is_stateful()


# --------------------------------------------------- RLlib's custom MultiRLModule pattern
SHARED_ENCODER_ID = "shared_encoder"


class SharedEncoder(TorchRLModule):
    def setup(self):
        self._net = nn.Linear(self.observation_space.shape[0], self.model_config["embedding_dim"])

    def _forward(self, batch, **kwargs):
        return {"encoder_embeddings": self._net(batch[Columns.OBS])}


class PolicyAfterSharedEncoder(TorchRLModule):
    def setup(self):
        self._pi_head = nn.Sequential(
            nn.Linear(self.model_config["embedding_dim"], 8),
            nn.Dropout(0.5),
            nn.Linear(8, self.action_space.n),
        )

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self._pi_head(batch["encoder_embeddings"])}


class MultiRLModuleWithSharedEncoder(MultiRLModule):
    """As in RLlib's docs: ``setup`` finds the encoder, ``_forward`` routes the batches."""

    def setup(self):
        super().setup()
        assert SHARED_ENCODER_ID in self._rl_modules and len(self._rl_modules) > 1
        self.encoder = self._rl_modules[SHARED_ENCODER_ID]

    def _forward(self, batch, **kwargs):
        outputs = {}
        for policy_id, policy_batch in batch.items():
            self._check_module_exists(policy_id)
            rl_module = self._rl_modules[policy_id]
            policy_batch = dict(policy_batch)
            policy_batch["encoder_embeddings"] = self.encoder._forward(policy_batch)["encoder_embeddings"]
            outputs[policy_id] = rl_module._forward(policy_batch, **kwargs)
        return outputs


def shared_encoder_spec():
    cfg = {"embedding_dim": 6}
    return MultiRLModuleSpec(
        multi_rl_module_class=MultiRLModuleWithSharedEncoder,
        rl_module_specs={
            SHARED_ENCODER_ID: RLModuleSpec(
                module_class=SharedEncoder, observation_space=OBS, model_config=cfg
            ),
            "p0": RLModuleSpec(module_class=PolicyAfterSharedEncoder, action_space=ACT2, model_config=cfg),
            "p1": RLModuleSpec(module_class=PolicyAfterSharedEncoder, action_space=ACT3, model_config=cfg),
        },
    )


def test_custom_multi_rl_module_forward_override_is_used():
    multi = shared_encoder_spec().build()
    assert isinstance(multi, MultiRLModuleWithSharedEncoder)
    batch = {"p0": obs(4), "p1": obs(2)}
    out = multi.forward_inference(batch)
    assert out["p0"][Columns.ACTION_DIST_INPUTS].shape == (4, 2)
    assert out["p1"][Columns.ACTION_DIST_INPUTS].shape == (2, 3)
    # Inference: eval mode everywhere (dropout off) and no grad, like a single module's default.
    assert out["p0"][Columns.ACTION_DIST_INPUTS].grad_fn is None
    assert not any(m.training for m in multi.modules())
    again = multi.forward_exploration(batch)
    assert torch.equal(out["p0"][Columns.ACTION_DIST_INPUTS], again["p0"][Columns.ACTION_DIST_INPUTS])
    train = multi.forward_train(batch)
    assert train["p0"][Columns.ACTION_DIST_INPUTS].grad_fn is not None
    assert all(m.training for m in multi.modules())
    # Gradients reach the shared encoder.
    train["p0"][Columns.ACTION_DIST_INPUTS].sum().backward()
    assert multi.encoder._net.weight.grad is not None
    with pytest.raises(KeyError, match="zz"):
        multi.forward_inference({"zz": obs()})
    # A sub-module switched on its own is brought back into eval mode.
    multi["p0"].forward_train({"encoder_embeddings": torch.zeros(2, 6)})
    multi.forward_inference(batch)
    assert not multi["p0"].training
