"""Each setting declared once (issue 10 §3) and RLlib's DefaultModelConfig / policies_to_train function (§6).

The declarations (``setting(...)`` fields) drive validation, the fluent keywords, the
"did you mean" suggestions and the tables of docs/training.md; these tests hold the
code and the docs to them.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from tripod.algorithms.algorithm_config import FLUENT_METHODS, AlgorithmConfig, ConfigError, NotProvided
from tripod.algorithms.config_checks import fluent_keywords, number, setting, settings_of
from tripod.algorithms.config_docs import TABLES, render_tables, settings_table
from tripod.algorithms.config_io import config_from_dict, config_to_dict
from tripod.algorithms.dqn import DQNConfig
from tripod.algorithms.dqn.torch.default_dqn_torch_rl_module import DefaultDQNTorchRLModule
from tripod.algorithms.off_policy_config import OffPolicyConfig
from tripod.algorithms.pg import PGConfig
from tripod.algorithms.ppo import DefaultPPOTorchRLModule, PPOConfig
from tripod.algorithms.sac import SACConfig
from tripod.core import RLModuleSpec
from tripod.core.networks import DEFAULT_MODEL_CONFIG, resolve_model_config
from tripod.core.rl_module.default_model_config import DefaultModelConfig, model_config_dict
from tripod.envs import MultiAgentCartPole
from tripod.io.checkpoint import CheckpointError
from tripod.io.checkpoint_trust import UntrustedCheckpointError
from tripod.learner.schedules import schedule_value

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = [AlgorithmConfig, PPOConfig, PGConfig, OffPolicyConfig, DQNConfig, SACConfig]
OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT = gym.spaces.Discrete(2)


# ------------------------------------------------------------------ a new setting is one declaration
@dataclasses.dataclass
class DummyConfig(PPOConfig):
    """PPO plus one new hyperparameter: one declaration and its keyword."""

    aux_coeff: float = setting(
        0.25, check=number(0, 1), doc="weight of a made-up auxiliary loss", method="training"
    )

    def training(self, *, aux_coeff: Any = NotProvided, **common: Any) -> DummyConfig:
        super().training(**common)
        return self._fluent("training", locals())


def test_a_new_setting_gets_its_default_check_keyword_and_suggestions():
    config = DummyConfig()
    assert config.aux_coeff == 0.25
    assert config.training(aux_coeff=0.5, lr=1e-3).aux_coeff == 0.5 and config.lr == 1e-3
    with pytest.raises(ConfigError, match=r"DummyConfig: aux_coeff must be a number in \[0, 1\], got 2\."):
        config.training(aux_coeff=2)
    assert config.aux_coeff == 0.5  # a rejected value is not kept
    with pytest.raises(ConfigError, match=r"DummyConfig: aux_coeff must be a finite number, got nan"):
        config.training(aux_coeff=float("nan"))
    with pytest.raises(
        ConfigError, match=r"DummyConfig.training\(\) has no setting 'aux_coef'. Did you mean 'aux_coeff'"
    ):
        config.training(aux_coef=0.1)
    with pytest.raises(AttributeError, match=r"has no setting 'aux_coef'. Did you mean 'aux_coeff'"):
        config.aux_coef = 0.1
    with pytest.raises(ConfigError, match=r"aux_coeff must be a number in \[0, 1\]"):
        config.update_from_dict({"aux_coeff": -1})
    config.aux_coeff = 3  # direct assignment is checked by validate()
    with pytest.raises(ConfigError, match=r"aux_coeff must be a number in \[0, 1\], got 3"):
        config.environment("CartPole-v1").validate()
    assert "| `.training()` | `aux_coeff` | `0.25` | weight of a made-up auxiliary loss |" in settings_table(
        DummyConfig
    )


def test_a_changed_default_keeps_the_base_declaration():
    assert PGConfig().lr == 1e-3 and settings_of(PGConfig)["lr"] is settings_of(AlgorithmConfig)["lr"]
    with pytest.raises(ConfigError, match=r"PGConfig: lr must be >= 0.0, got -1"):
        PGConfig().training(lr=-1)
    assert SACConfig().lr is None  # SAC declares lr anew: None allowed (it has per-network rates)
    with pytest.raises(ConfigError, match=r"PPOConfig: lr must be a number or a schedule"):
        PPOConfig().training(lr=None)


def test_every_field_of_every_config_is_declared():
    for cls in CONFIGS:
        undeclared = {f.name for f in dataclasses.fields(cls)} - set(settings_of(cls))
        assert not undeclared, f"{cls.__name__}: fields without a setting(...) declaration: {undeclared}"
        for name, decl in settings_of(cls).items():
            assert decl.doc and decl.check is not None, f"{cls.__name__}.{name} needs a doc and a check"
            assert decl.method in FLUENT_METHODS, (
                f"{cls.__name__}.{name}: unknown fluent method {decl.method}"
            )


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_fluent_keywords_and_declared_settings_match(cls):
    """Typed keywords for IDEs stay in the signatures; each maps to exactly one declared setting."""
    for method in FLUENT_METHODS:
        signature = set(cls._fluent_params(method)) - set(cls.compound_keywords)
        declared = set(fluent_keywords(cls, method))
        assert signature == declared, (
            f"{cls.__name__}.{method}(): keywords without a setting {signature - declared}, "
            f"settings without a keyword {declared - signature}"
        )
        for klass in cls.__mro__:  # every keyword defaults to NotProvided (so "not passed" is visible)
            func = klass.__dict__.get(method)
            if func is not None:
                params = list(inspect.signature(func).parameters.values())[1:]
                assert all(p.default is NotProvided for p in params if p.kind is p.KEYWORD_ONLY)
    for keyword, method in cls.compound_keywords.items():
        assert keyword in cls._fluent_params(method) and keyword not in fluent_keywords(cls, method)


def test_existing_messages_are_kept():
    with pytest.raises(ConfigError, match=r"PPOConfig: gamma must be a number in \[0, 1\], got 1.5\."):
        PPOConfig().training(gamma=1.5)
    with pytest.raises(ConfigError, match=r"PPOConfig: num_epochs must be an int >= 1, got '10'\."):
        PPOConfig().training(num_epochs="10")
    with pytest.raises(
        ConfigError, match=r"vectorize_mode must be 'auto', 'sync', 'async' or 'vector', got 'ray'"
    ):
        PPOConfig().env_runners(vectorize_mode="ray")
    with pytest.raises(
        ConfigError, match=r"lr schedule \[\[100, 0.001\], \[0, 0.0001\]\] must have increasing"
    ):
        PPOConfig().training(lr=[[100, 1e-3], [0, 1e-4]])
    with pytest.raises(ConfigError, match=r"evaluation_duration must be an int >= 1 \(episodes\)"):
        PPOConfig().evaluation(evaluation_duration=0)
    with pytest.raises(ConfigError, match=r"PGConfig: use_baseline must be None, True or False"):
        PGConfig().training(use_baseline=1)
    with pytest.raises(
        ConfigError, match=r"DQNConfig: epsilon must be a probability in \[0, 1\] or a schedule"
    ):
        DQNConfig().training(epsilon=[[0, 1.5]])
    with pytest.raises(ConfigError, match=r"tau must be a number in \(0, 1\]"):
        SACConfig().training(tau=0)
    with pytest.raises(ConfigError, match=r"'lr' is set with .training\(lr=...\), not .env_runners\(\)"):
        PPOConfig().env_runners(lr=1e-3)
    assert PPOConfig().reporting(metrics_num_episodes_for_smoothing=7).metrics_window == 7


def test_schedule_value_lives_in_the_learner_layer():
    from tripod.algorithms import algorithm_config

    assert algorithm_config.schedule_value is schedule_value  # the old import path still works
    assert schedule_value([[0, 1.0], [10, 0.0]], 5) == pytest.approx(0.5) and schedule_value(0.3, 99) == 0.3


# ------------------------------------------------------------------ the docs tables come from the code
def test_the_tables_in_training_md_equal_the_generated_ones():
    page = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    for name in TABLES:
        assert f"<!-- table: {name} -->" in page, f"docs/training.md lacks the {name!r} table"
    assert render_tables(page) == page, (
        "docs/training.md is out of date with the code: run python -m tripod.algorithms.config_docs docs/training.md"
    )
    assert "has no effect** in this release" not in page


def test_the_presets_table_lists_every_preset():
    from tripod.algorithms.presets import list_presets

    table = TABLES["presets"]()
    for algo, env in list_presets():
        assert f"| `{algo}`, `{env}` |" in table
    assert "lambda_=0.94" in table and "epsilon=[[0, 1.0], [8000, 0.04]]" in table


# ------------------------------------------------------------------ DefaultModelConfig
def test_default_model_config_is_the_one_declaration_of_the_keys():
    assert dataclasses.asdict(DefaultModelConfig()) == DEFAULT_MODEL_CONFIG
    assert DEFAULT_MODEL_CONFIG["vf_share_layers"] is False  # tripod's default (RLlib: True)
    assert model_config_dict(DefaultModelConfig(fcnet_hiddens=[32])) == {"fcnet_hiddens": [32]}
    cfg = DefaultModelConfig([16])
    cfg.free_log_std = True
    assert model_config_dict(cfg) == {"fcnet_hiddens": [16], "free_log_std": True}
    with pytest.raises(
        AttributeError, match="DefaultModelConfig has no field 'fcnet_hidden'. Did you mean 'fcnet_hiddens'"
    ):
        cfg.fcnet_hidden = [8]
    with pytest.raises(
        TypeError, match="DefaultModelConfig has no field 'fcnet_activaton'. Did you mean 'fcnet_activation'"
    ):
        DefaultModelConfig(fcnet_activaton="relu")


def test_fields_tripod_does_not_implement_are_refused_unless_left_at_their_default():
    assert resolve_model_config(DefaultModelConfig(log_std_clip_param=20.0))["log_std_clip_param"] == 20.0
    with pytest.raises(
        ValueError, match=r"model_config\['fcnet_kernel_initializer'\] = 'orthogonal_'.*do not implement"
    ):
        resolve_model_config(DefaultModelConfig(fcnet_kernel_initializer="orthogonal_"))
    config = (
        PPOConfig()
        .environment("CartPole-v1")
        .rl_module(model_config=DefaultModelConfig(fcnet_use_layernorm=True))
    )
    with pytest.raises(ConfigError, match="fcnet_use_layernorm"):
        config.validate()


def _weights(algo) -> dict[str, torch.Tensor]:
    return algo.get_module().state_dict()


@pytest.mark.parametrize("config_class", [PPOConfig, DQNConfig])
def test_default_model_config_in_rl_module_builds_the_same_network_as_the_dict(config_class):
    def build(model_config):
        config = config_class().environment("CartPole-v1").debugging(seed=3)
        return config.training(train_batch_size_per_learner=64, minibatch_size=32).rl_module(
            model_config=model_config
        )

    from_dataclass = build(DefaultModelConfig(fcnet_hiddens=[32]))
    assert from_dataclass.model_config == {"fcnet_hiddens": [32]}
    a, b = _weights(from_dataclass.build_algo()), _weights(build({"fcnet_hiddens": [32]}).build_algo())
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(v.shape[0] == 32 for v in a.values())


@pytest.mark.parametrize("module_class", [DefaultPPOTorchRLModule, DefaultDQNTorchRLModule])
def test_default_model_config_in_rl_module_spec_builds_the_same_network_as_the_dict(module_class):
    def build(model_config):
        torch.manual_seed(0)
        spec = RLModuleSpec(
            module_class=module_class, observation_space=OBS, action_space=ACT, model_config=model_config
        )
        return spec.build()

    a = build(DefaultModelConfig(fcnet_hiddens=[8], head_fcnet_hiddens=[4]))
    b = build({"fcnet_hiddens": [8], "head_fcnet_hiddens": [4]})
    assert a.model_config == b.model_config
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert str(a) == str(b)  # same layers and activations (DQN keeps its relu default)


def test_default_model_config_is_saved_as_a_dict():
    spec = RLModuleSpec(
        module_class=DefaultPPOTorchRLModule, model_config=DefaultModelConfig(fcnet_hiddens=[8])
    )
    config = (
        PPOConfig()
        .environment("CartPole-v1")
        .rl_module(rl_module_spec=spec, model_config=DefaultModelConfig([4]))
    )
    saved = json.loads(json.dumps(config_to_dict(config)))
    assert saved["model_config"] == {"fcnet_hiddens": [4]}
    assert saved["rl_module_spec"]["model_config"] == {"fcnet_hiddens": [8]}
    loaded = config_from_dict(saved, config_base=PPOConfig)
    assert loaded.model_config == {"fcnet_hiddens": [4]}
    assert loaded.rl_module_spec.model_config == {"fcnet_hiddens": [8]}


# ------------------------------------------------------------------ policies_to_train as a function
def train_only_p0(module_id, batch=None):
    """Module level, so a checkpoint can name it."""
    return module_id == "p0"


def map_by_index(agent_id, episode, **kwargs):
    return f"p{agent_id}"


def multi_agent_config(policies_to_train) -> PPOConfig:
    return (
        PPOConfig()
        .environment(MultiAgentCartPole)
        .env_runners(num_envs_per_env_runner=2)
        .training(train_batch_size_per_learner=128, minibatch_size=64, num_epochs=1)
        .rl_module(model_config={"fcnet_hiddens": [8]})
        .multi_agent(
            policies={"p0", "p1"}, policy_mapping_fn=map_by_index, policies_to_train=policies_to_train
        )
        .debugging(seed=0)
    )


def test_a_policies_to_train_function_trains_only_the_modules_it_accepts():
    asked = []

    def only_p1(module_id, batch=None):
        asked.append((module_id, batch))
        return module_id == "p1"

    config = multi_agent_config(only_p1)
    assert config.modules_to_train(["p0", "p1"]) == ["p1"]
    algo = config.build_algo()
    before = {
        mid: {k: v.clone() for k, v in algo.get_module(mid).state_dict().items()} for mid in ("p0", "p1")
    }
    result = algo.train()
    assert set(result["learners"]) == {"p1"}
    after = {mid: algo.get_module(mid).state_dict() for mid in ("p0", "p1")}
    assert all(torch.equal(after["p0"][k], v) for k, v in before["p0"].items())
    assert any(not torch.equal(after["p1"][k], v) for k, v in before["p1"].items())
    assert ("p0", None) in asked and ("p1", None) in asked  # asked per module, with batch=None


def test_policies_to_train_lists_and_sets_still_work():
    assert multi_agent_config({"p1"}).policies_to_train == ["p1"]
    assert multi_agent_config(None).modules_to_train(["p0", "p1"]) == ["p0", "p1"]
    with pytest.raises(
        ConfigError, match=r"policies_to_train must be None, a list of module ids or a function"
    ):
        PPOConfig().multi_agent(policies_to_train="p0")


def test_a_policies_to_train_function_is_saved_by_name_and_refused_on_load():
    saved = json.loads(json.dumps(config_to_dict(multi_agent_config(train_only_p0))))
    assert saved["policies_to_train"] == {"__function__": {"module": __name__, "qualname": "train_only_p0"}}
    overrides = {"env": MultiAgentCartPole, "policy_mapping_fn": map_by_index}
    with pytest.raises(UntrustedCheckpointError, match=r"'policies_to_train' function.*config_overrides="):
        config_from_dict(saved, overrides, config_base=PPOConfig)
    passed = config_from_dict(saved, {**overrides, "policies_to_train": train_only_p0}, config_base=PPOConfig)
    assert passed.policies_to_train is train_only_p0
    trusted = config_from_dict(saved, overrides, config_base=PPOConfig, trusted=True)
    assert trusted.policies_to_train is train_only_p0
    lam = json.loads(json.dumps(config_to_dict(multi_agent_config(lambda mid, batch=None: True))))
    with pytest.raises(CheckpointError, match=r"'policies_to_train' was .*<lambda>.*Pass it again"):
        config_from_dict(lam, overrides, config_base=PPOConfig)


def test_log_std_init_starts_the_free_log_std_and_needs_it():
    config = PPOConfig().environment("Pendulum-v1").rl_module(model_config={"free_log_std": True, "log_std_init": -2.0})
    algo = config.build()
    assert torch.equal(algo.get_module().log_std.detach(), torch.tensor([-2.0]))
    algo.stop()
    with pytest.raises(ValueError, match="needs model_config\\['free_log_std'\\] = True"):
        PPOConfig().environment("Pendulum-v1").rl_module(model_config={"log_std_init": -2.0}).build()
    with pytest.raises(ConfigError, match="log_std_init.*finite number"):
        PPOConfig().environment("Pendulum-v1").rl_module(model_config={"log_std_init": float("nan")}).build()
