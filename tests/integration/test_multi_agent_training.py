"""Multi-agent PPO/PG on the common Algorithm: configs, shared and independent modules, untrained
modules, per-agent and per-module results, checkpoints, the CLI, and config errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tripod.algorithms.algorithm import Algorithm
from tripod.algorithms.algorithm_config import ConfigError
from tripod.algorithms.pg import PGConfig
from tripod.algorithms.ppo import DefaultPPOTorchRLModule, PPOConfig
from tripod.core import Columns, MultiRLModuleSpec, RLModule, RLModuleSpec
from tripod.env.env_checks import EnvAPIError
from tripod.envs import CartPoleHeuristicModule, MultiAgentCartPole
from tripod.io.checkpoint import CheckpointError

SMALL = {"train_batch_size_per_learner": 256, "minibatch_size": 128, "num_epochs": 2}


def map_by_index(agent_id, episode, **kwargs):
    """Agent i -> module "p{i}" (module level, so checkpoints can store it as an import path)."""
    return f"p{agent_id}"


def cartpole_config(**multi_agent) -> PPOConfig:
    return (
        PPOConfig()
        .environment(MultiAgentCartPole)
        .env_runners(num_envs_per_env_runner=2)
        .training(**SMALL)
        .rl_module(model_config={"fcnet_hiddens": [16]})
        .multi_agent(**multi_agent)
        .debugging(seed=0)
    )


def test_independent_modules_get_their_own_losses_and_returns():
    algo = cartpole_config(policies={"p0", "p1"}, policy_mapping_fn=map_by_index).build_algo()
    result = algo.train()
    assert set(result["learners"]) == {"p0", "p1"}
    for stats in result["learners"].values():
        assert {"policy_loss", "vf_loss", "entropy", "total_loss"} <= set(stats)
    runners = result["env_runners"]
    assert set(runners["agent_episode_returns_mean"]) == {"0", "1"}
    assert set(runners["module_episode_returns_mean"]) == {"p0", "p1"}
    assert runners["num_agent_steps_sampled"] > runners["num_env_steps_sampled"] == 256
    assert algo.get_module("p0") is not algo.get_module("p1")
    evaluation = algo.evaluate(2)["env_runners"]
    assert set(evaluation["agent_episode_returns_mean"]) == {"0", "1"} and evaluation["num_episodes"] == 2


def test_shared_module_for_all_agents():
    algo = cartpole_config(policies=["shared"]).build_algo()  # one module: every agent maps to it
    result = algo.train()
    assert set(result["learners"]) == {"shared"}
    assert set(result["env_runners"]["agent_episode_returns_mean"]) == {"0", "1"}


def test_multi_rl_module_spec_as_in_rllib():
    spec = MultiRLModuleSpec(
        rl_module_specs={
            "p0": RLModuleSpec(model_config={"fcnet_hiddens": [8]}),
            "p1": RLModuleSpec(module_class=DefaultPPOTorchRLModule, model_config={"fcnet_hiddens": [32]}),
        }
    )
    config = (
        PPOConfig()
        .environment(MultiAgentCartPole)
        .training(**SMALL)
        .rl_module(rl_module_spec=spec)
        .multi_agent(policy_mapping_fn=map_by_index)
    )
    algo = config.build_algo()
    widths = {mid: algo.get_module(mid).encoder.out_dim for mid in ("p0", "p1")}
    assert widths == {"p0": 8, "p1": 32}
    assert set(algo.train()["learners"]) == {"p0", "p1"}


def test_modules_not_trained_keep_their_weights():
    """Agent 0 learns, agent 1 is a fixed non-torch heuristic, agent 2 a frozen torch module."""
    config = cartpole_config(
        policies={
            "learner": None,
            "heuristic": RLModuleSpec(module_class=CartPoleHeuristicModule),
            "frozen": None,
        },
        policy_mapping_fn=lambda agent_id, episode, **kw: ["learner", "heuristic", "frozen"][agent_id],
        policies_to_train=["learner"],
    ).environment(env_config={"num_agents": 3})
    algo = config.build_algo()
    frozen = {k: v.clone() for k, v in algo.get_module("frozen").state_dict().items()}
    learner = {k: v.clone() for k, v in algo.get_module("learner").state_dict().items()}
    result = algo.train()
    assert set(result["learners"]) == {"learner"}
    assert set(result["env_runners"]["num_module_steps_sampled"]) == {"learner", "heuristic", "frozen"}
    for k, v in algo.get_module("frozen").state_dict().items():
        assert torch.equal(v, frozen[k])
    assert any(not torch.equal(v, learner[k]) for k, v in algo.get_module("learner").state_dict().items())
    runner_frozen = algo.env_runner_group.get_state()["env_runner"]["rl_module"]["frozen"]
    assert runner_frozen and all(np.array_equal(v, frozen[k].numpy()) for k, v in runner_frozen.items())


def test_checkpoint_holds_every_module_and_restores_any_one_alone(tmp_path):
    config = cartpole_config(
        policies={"p0": None, "p1": RLModuleSpec(module_class=CartPoleHeuristicModule)},
        policy_mapping_fn=map_by_index,
    )
    algo = config.build_algo()
    algo.train()
    path = tmp_path / "ckpt"
    algo.save_to_path(path)
    obs = {Columns.OBS: torch.randn(5, 4)}
    alone = RLModule.from_checkpoint(path / "module" / "p0")
    expected = algo.get_module("p0").forward_inference(obs)[Columns.ACTION_DIST_INPUTS]
    torch.testing.assert_close(alone.forward_inference(obs)[Columns.ACTION_DIST_INPUTS], expected)
    heuristic = RLModule.from_checkpoint(path / "module" / "p1")
    assert isinstance(heuristic, CartPoleHeuristicModule)

    with pytest.raises(CheckpointError, match=r"'policy_mapping_fn' function .*map_by_index' was not loaded"):
        Algorithm.from_checkpoint(path)  # a function is never called unless passed in (or trusted=True)
    restored = Algorithm.from_checkpoint(path, config_overrides={"policy_mapping_fn": map_by_index})
    assert restored.config.is_multi_agent and set(restored.learner_group.module_ids) == {"p0", "p1"}
    for k, v in algo.get_module("p0").state_dict().items():
        assert torch.equal(restored.get_module("p0").state_dict()[k], v)
    assert restored.get_state()["agent_windows"] == algo.get_state()["agent_windows"]
    assert set(restored.train()["learners"]) == {"p0"}


def test_seeded_runs_repeat():
    def run():
        algo = cartpole_config(policies={"p0", "p1"}, policy_mapping_fn=map_by_index).build_algo()
        result = algo.train()
        return result["learners"]["p1"]["policy_loss"], result["env_runners"]["agent_episode_returns_mean"]

    assert run() == run()


def test_pg_trains_multi_agent_too():
    config = (
        PGConfig()
        .environment(MultiAgentCartPole)
        .training(train_batch_size_per_learner=256)
        .multi_agent(policies={"p0", "p1"}, policy_mapping_fn=map_by_index)
    )
    assert set(config.build_algo().train()["learners"]) == {"p0", "p1"}


def test_turn_based_pettingzoo_game_with_action_masks():
    pytest.importorskip("pettingzoo.classic.tictactoe_v3")
    config = (
        PPOConfig()
        .environment("pettingzoo:pettingzoo.classic.tictactoe_v3")
        .training(**SMALL)
        .multi_agent(policies={"player_1", "player_2"})  # agent "player_1" -> module "player_1"
    )
    algo = config.build_algo()
    result = algo.train()
    assert set(result["learners"]) == {"player_1", "player_2"}
    returns = result["env_runners"]["agent_episode_returns_mean"]
    assert abs(returns["player_1"] + returns["player_2"]) < 1e-6  # a zero-sum game


def test_pettingzoo_env_id_alone_means_shared_parameters():
    pytest.importorskip("mpe2")
    config = PPOConfig().environment("pettingzoo:mpe2.simple_spread_v3").training(**SMALL)
    assert config.is_multi_agent
    result = config.build_algo().train()
    assert set(result["learners"]) == {"default_policy"}
    assert set(result["env_runners"]["agent_episode_returns_mean"]) == {"agent_0", "agent_1", "agent_2"}


def test_cli_trains_a_pettingzoo_env(tmp_path):
    pytest.importorskip("mpe2")
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "tripod.cli", "train", "ppo", "pettingzoo:mpe2.simple_spread_v3",
         "--stop-iters", "1", "--eval-episodes", "2", "--quiet", "--out", str(out),
         "--set", "train_batch_size_per_learner=200", "--set", "minibatch_size=100"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "agent_episode_returns_mean/agent_0" in (out / "metrics.jsonl").read_text()


# ------------------------------------------------------------------ bad configs
def test_policies_to_train_must_name_modules():
    with pytest.raises(ConfigError, match=r"policies_to_train names \['p9'\].*modules are \['p0', 'p1'\]"):
        cartpole_config(policies={"p0", "p1"}, policies_to_train=["p9"]).validate()


def test_policies_must_be_ids_or_specs():
    with pytest.raises(ConfigError, match="policies must be None, a set/list of module ids"):
        PPOConfig().multi_agent(policies={"p0": "not a spec"})


def test_module_spec_ids_must_be_in_policies():
    spec = MultiRLModuleSpec(rl_module_specs={"p0": RLModuleSpec(), "extra": RLModuleSpec()})
    config = cartpole_config(policies={"p0"}).rl_module(rl_module_spec=spec)
    with pytest.raises(ConfigError, match=r"modules \['extra'\] that are not in policies"):
        config.validate()


def test_unknown_module_from_the_mapping_fails_at_build_naming_agent_and_id():
    config = cartpole_config(
        policies={"p0"}, policy_mapping_fn=lambda agent_id, episode, **kw: f"q{agent_id}"
    )
    with pytest.raises(ValueError, match=r"mapped agent 0 to module 'q0'.*modules are \['p0'\]"):
        config.build_algo()


def test_multi_agent_env_without_multi_agent_config_says_what_to_do():
    config = PPOConfig().environment(lambda cfg: MultiAgentCartPole(cfg)).training(**SMALL)
    with pytest.raises(EnvAPIError, match=r"multi-agent env.*\.multi_agent\(policies="):
        config.build_algo()


def test_random_and_trained_returns_are_reported_per_agent():
    algo = cartpole_config(policies={"p0", "p1"}, policy_mapping_fn=map_by_index).build_algo()
    out = algo.env_runner_group.sample(num_episodes=4, random_actions=True)
    assert np.mean(out["agent_episode_returns"]["0"]) < 60  # random CartPole: about 22


# ------------------------------------------------------------------ examples
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run_example(name: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_multi_agent_cartpole_example_fast():
    out = _run_example("multi_agent_cartpole.py", "--fast")
    assert out.count("iter ") == 3 and "policy loss p0" in out and "p1" in out
    assert "module p0 restored alone gives the same logits: True" in out
    out = _run_example("multi_agent_cartpole.py", "--fast", "--frozen")
    assert "policy loss p0" in out and "p1 " not in out.split("policy loss")[1].splitlines()[0]


def test_pettingzoo_spread_example_fast():
    pytest.importorskip("mpe2")
    out = _run_example("pettingzoo_spread.py", "--fast")
    assert "random return: -" in out and "greedy evaluation return: -" in out


def test_a_module_no_agent_maps_to_is_kept_and_left_untrained():
    """A module in ``policies`` that the mapping never picks gets no rows: the others train as usual."""
    import gymnasium as gym

    spare = RLModuleSpec(
        observation_space=gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
        action_space=gym.spaces.Discrete(2),
    )
    algo = cartpole_config(
        policies={"p0": None, "spare": spare}, policy_mapping_fn=lambda aid, ep, **kw: "p0"
    )
    algo = algo.build_algo()
    before = {k: v.copy() for k, v in algo.get_weights(["spare"])["spare"].items()}
    for _ in range(2):
        result = algo.train()
    assert sorted(result["learners"]) == ["p0"]
    assert np.isfinite(result["learners"]["p0"]["total_loss"])
    after = algo.get_weights(["spare"])["spare"]
    assert all(np.array_equal(before[k], after[k]) for k in before)
    algo.stop()
