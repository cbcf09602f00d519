"""EnvRunnerGroup and LearnerGroup: the two seams between an algorithm and its runners and learners."""

from __future__ import annotations

import ast
import dataclasses
import functools
import pickle
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from tripod.algorithms import scale_out
from tripod.algorithms.dqn import DQNConfig
from tripod.algorithms.ppo import PPOConfig
from tripod.algorithms.ppo.ppo_learner import PPOLearner
from tripod.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
from tripod.core.columns import Columns
from tripod.core.rl_module.multi_rl_module import MultiRLModuleSpec
from tripod.core.rl_module.rl_module import DEFAULT_MODULE_ID, RLModuleSpec
from tripod.env.env_runner_group import EnvRunnerGroup
from tripod.env.multi_agent_env_runner import MultiAgentEnvRunner
from tripod.env.single_agent_env_runner import SingleAgentEnvRunner
from tripod.envs import MultiAgentCartPole
from tripod.learner.learner_group import LearnerGroup

TRIPOD = Path(__file__).resolve().parents[2] / "tripod"
SPEC = RLModuleSpec(module_class=DefaultPPOTorchRLModule, model_config={"fcnet_hiddens": [8]})


def make_single(worker_index: int, *, seed: int = 0) -> SingleAgentEnvRunner:
    return SingleAgentEnvRunner(
        "CartPole-v1", module_spec=SPEC, num_envs=2, seed=seed, worker_index=worker_index
    )


def make_multi(worker_index: int) -> MultiAgentEnvRunner:
    spec = MultiRLModuleSpec(rl_module_specs={"0": SPEC, "1": SPEC})
    return MultiAgentEnvRunner(MultiAgentCartPole, module_spec=spec, seed=0, worker_index=worker_index)


def weights_of(group: EnvRunnerGroup) -> dict:
    return group.get_state()["env_runner"]["rl_module"]


# ------------------------------------------------------------------ EnvRunnerGroup
def test_env_runner_group_samples_single_agent_batches_keyed_by_module_id():
    group = EnvRunnerGroup(functools.partial(make_single, seed=1))
    batch = group.sample(num_timesteps=20)
    assert list(batch) == [DEFAULT_MODULE_ID] and batch[DEFAULT_MODULE_ID][Columns.OBS].shape == (10, 2, 4)
    metrics = group.get_metrics()
    assert metrics["num_env_steps_sampled"] == int(batch[DEFAULT_MODULE_ID][Columns.LOSS_MASK].sum())
    assert metrics["num_env_restarts"] == 0 and metrics["num_env_restarts_lifetime"] == 0
    assert group.get_spaces()[1].n == 2
    assert group.foreach_env_runner(lambda runner: runner.worker_index) == [0]
    assert group.healthy_env_runner_ids() == [0] and group.num_healthy_env_runners == 1
    assert group.probe_unhealthy_env_runners() == []
    episodes = group.sample(num_episodes=2, explore=False)
    assert len(episodes["episode_returns"]) == 2
    group.stop()


def test_env_runner_group_holds_multi_agent_runners_behind_the_same_interface():
    group = EnvRunnerGroup(make_multi)
    batch = group.sample(num_timesteps=40)
    assert set(batch) == {"0", "1"}
    metrics = group.get_metrics()
    assert metrics["num_env_steps_sampled"] == 40 and "num_agent_steps_sampled" in metrics
    observation_spaces, _ = group.get_spaces()
    assert set(observation_spaces) == {"0", "1"}
    # {module_id: weights}: a module not named keeps its weights.
    zeros = {name: np.zeros_like(value) for name, value in weights_of(group)["0"].items()}
    before = weights_of(group)["1"]
    group.sync_weights({"rl_module": {"0": zeros}})
    after = weights_of(group)
    assert all(not value.any() for value in after["0"].values())
    assert all(np.array_equal(after["1"][name], value) for name, value in before.items())
    group.stop()


def test_sync_weights_copies_weights_and_exploration_values_into_the_runner():
    group = EnvRunnerGroup(make_single)
    env = gym.make("CartPole-v1")
    source = dataclasses.replace(
        SPEC, observation_space=env.observation_space, action_space=env.action_space
    ).build()
    weights = {DEFAULT_MODULE_ID: source.get_state(inference_only=True)}
    group.sync_weights({"rl_module": weights, "exploration": {"epsilon": 0.25}})
    got = weights_of(group)
    assert set(got) == set(weights[DEFAULT_MODULE_ID])
    for name, value in weights[DEFAULT_MODULE_ID].items():
        np.testing.assert_array_equal(got[name], value)
    name = next(iter(got))
    weights[DEFAULT_MODULE_ID][name] += 1.0  # the runner got a copy, not the sender's arrays
    assert not np.array_equal(weights_of(group)[name], weights[DEFAULT_MODULE_ID][name])
    assert group.foreach_env_runner(lambda runner: runner.module.epsilon) == [0.25]
    # A single-agent runner also takes its module's weights unkeyed (as RLlib's does).
    zeros = {k: np.zeros_like(v) for k, v in got.items()}
    group.sync_weights({"rl_module": zeros})
    assert all(not v.any() for v in weights_of(group).values())
    group.stop()


def test_env_runner_group_state_round_trip():
    group = EnvRunnerGroup(make_single)
    group.sample(num_timesteps=10)
    state = pickle.loads(pickle.dumps(group.get_state()))  # plain data: it can cross a process boundary
    assert state["env_runner"]["num_env_steps_sampled_lifetime"] == 10
    first = group.sample(num_timesteps=40, random_actions=True)[DEFAULT_MODULE_ID][Columns.ACTIONS]
    group.set_state(state)
    assert group.get_state()["env_runner"]["num_env_steps_sampled_lifetime"] == 10
    again = group.sample(num_timesteps=40, random_actions=True)[DEFAULT_MODULE_ID][Columns.ACTIONS]
    np.testing.assert_array_equal(first, again)  # the runner's generators draw the same again
    group.stop()


def test_runner_factory_is_picklable_for_remote_groups():
    factory = functools.partial(make_single, seed=3)
    runner = pickle.loads(pickle.dumps(factory))(0)
    assert runner.seed == 3
    runner.stop()


def test_scale_out_picks_the_local_group_without_remote_runners():
    config = PPOConfig().environment("CartPole-v1")
    group = scale_out.env_runner_group(config, make_single, num_env_runners=0)
    try:
        assert type(group) is EnvRunnerGroup and group.local_env_runner is not None
    finally:
        group.stop()


# ------------------------------------------------------------------ LearnerGroup
def learner_group() -> LearnerGroup:
    config = PPOConfig().training(minibatch_size=8, num_epochs=1, train_batch_size_per_learner=20)
    env = gym.make("CartPole-v1")
    spec = RLModuleSpec(
        module_class=DefaultPPOTorchRLModule,
        model_config={"fcnet_hiddens": [8]},
        observation_space=env.observation_space,
        action_space=env.action_space,
    )
    return LearnerGroup(PPOLearner, config=config, module_spec=spec)


def test_learner_group_update_get_weights_and_state_round_trip():
    group = learner_group()
    runners = EnvRunnerGroup(make_single)
    batch = runners.sample(num_timesteps=20)
    before = group.get_weights()
    results = group.update(batch, num_env_steps_sampled_lifetime=20)
    assert np.isfinite(results[DEFAULT_MODULE_ID]["policy_loss"]) and group.num_env_steps_trained == 20
    after = group.get_weights()
    assert set(after) == {DEFAULT_MODULE_ID} and group.get_weights(module_ids=[]) == {}
    assert any(
        not np.array_equal(after[DEFAULT_MODULE_ID][k], v) for k, v in before[DEFAULT_MODULE_ID].items()
    )
    # State and RNG state round trip: the same update again gives the same loss and weights.
    state, rng = pickle.loads(pickle.dumps((group.get_state(), group.get_rng_state())))
    first = group.update(batch)[DEFAULT_MODULE_ID]
    trained = group.get_weights()
    group.set_state(state)
    group.set_rng_state(rng)
    assert group.num_env_steps_trained == 20
    for name, value in group.get_weights()[DEFAULT_MODULE_ID].items():
        np.testing.assert_array_equal(value, after[DEFAULT_MODULE_ID][name])
    assert group.update(batch)[DEFAULT_MODULE_ID]["policy_loss"] == first["policy_loss"]
    for name, value in group.get_weights()[DEFAULT_MODULE_ID].items():
        np.testing.assert_array_equal(value, trained[DEFAULT_MODULE_ID][name])
    group.set_weights(before)
    for name, value in group.get_weights()[DEFAULT_MODULE_ID].items():
        np.testing.assert_array_equal(value, before[DEFAULT_MODULE_ID][name])
    assert group.foreach_learner(lambda learner: type(learner).__name__) == ["PPOLearner"] and group.is_local
    runners.stop()


def test_learner_group_weights_are_copies():
    group = learner_group()
    weights = group.get_weights()
    name = next(iter(weights[DEFAULT_MODULE_ID]))
    weights[DEFAULT_MODULE_ID][name] += 1.0
    assert not np.array_equal(group.get_weights()[DEFAULT_MODULE_ID][name], weights[DEFAULT_MODULE_ID][name])


# ------------------------------------------------------------------ Algorithm on the groups
def test_algorithm_get_and_set_weights_reach_the_env_runners():
    config = PPOConfig().environment("CartPole-v1")
    algo = config.training(train_batch_size_per_learner=64, minibatch_size=32).build_algo()
    weights = algo.get_weights()
    zeros = {DEFAULT_MODULE_ID: {k: np.zeros_like(v) for k, v in weights[DEFAULT_MODULE_ID].items()}}
    algo.set_weights(zeros)
    assert all(not v.any() for v in algo.get_weights()[DEFAULT_MODULE_ID].values())
    assert all(not v.any() for v in weights_of(algo.env_runner_group).values())
    trained = algo.get_module().get_state()
    assert all(not trained[name].any() for name in zeros[DEFAULT_MODULE_ID])
    algo.stop()


def test_dqn_sends_epsilon_with_the_weights():
    config = DQNConfig().environment("CartPole-v1").debugging(seed=0)
    config.training(epsilon=[[0, 1.0], [100, 0.5]], num_steps_sampled_before_learning_starts=50)
    algo = config.reporting(min_sample_timesteps_per_iteration=100).build_algo()
    epsilon = algo.env_runner_group.foreach_env_runner(lambda runner: runner.module.epsilon)
    assert epsilon == [1.0]
    algo.train()
    epsilon = algo.env_runner_group.foreach_env_runner(lambda runner: runner.module.epsilon)
    assert epsilon == [pytest.approx(0.5)]
    algo.stop()


# ------------------------------------------------------------------ the seams, checked from the source
def _attribute_chains(path: Path) -> list[str]:
    """Every dotted attribute chain in a file, e.g. ``self.learner.module``."""
    chains = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute):
            parts, inner = [node.attr], node.value
            while isinstance(inner, ast.Attribute):
                parts.append(inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name):
                parts.append(inner.id)
            chains.append(".".join(reversed(parts)))
    return chains


ALGORITHM_FILES = sorted(p for p in (TRIPOD / "algorithms").rglob("*.py"))


def _reaches_in(chain: str) -> bool:
    """``x.env_runner.y``, ``x.learner.y`` (the groups replace them), a group's private attribute,
    or the in-process runner (``local_env_runner``, which a remote group does not have)."""
    parts = chain.split(".")
    for part, nxt in zip(parts, parts[1:]):
        if part in ("env_runner", "learner", "_eval_runner", "local_env_runner"):
            return True
        if part in ("env_runner_group", "learner_group") and nxt.startswith("_"):
            return True
    return False


@pytest.mark.parametrize("path", ALGORITHM_FILES, ids=lambda p: str(p.relative_to(TRIPOD)))
def test_algorithms_touch_runners_and_learners_only_through_the_groups(path):
    bad = sorted({chain for chain in _attribute_chains(path) if _reaches_in(chain)})
    assert not bad, f"{path.name} reaches into runners or learners: {bad}"
    source = path.read_text()
    for pattern in ("learner.module", "env_runner.module", "learner.device", ".env_runner.", "share_weights"):
        assert pattern not in source, f"{path.name} holds {pattern!r}"


def test_algorithm_has_no_multi_agent_branches():
    source = (TRIPOD / "algorithms" / "algorithm.py").read_text()
    assert "is_multi_agent" not in source and "MultiRLModule" not in source


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_circle_between_algorithm_config_multi_agent_and_learner():
    algorithms = TRIPOD / "algorithms"
    assert "tripod.algorithms.algorithm" not in _imports(algorithms / "multi_agent.py")
    config_imports = _imports(algorithms / "algorithm_config.py")
    assert not {"tripod.algorithms.multi_agent", "tripod.algorithms.algorithm"} & config_imports
    spec_imports = _imports(algorithms / "multi_agent_spec.py")
    assert not any(name.startswith("tripod.algorithms") for name in spec_imports)
    for path in (TRIPOD / "learner").rglob("*.py"):
        assert not any(name.startswith("tripod.algorithms") for name in _imports(path)), path.name
