"""Determinism between objects: each algorithm, env runner and learner draws from RNGs it owns.

Two algorithms built from one config and seed give the same weights whether they are
trained one after the other or interleaved, also when user modules draw from the global
RNGs (``nn.Linear`` init, ``torch.distributions`` sampling, ``np.random``), and a run
resumed from a checkpoint continues exactly like the uninterrupted run.
"""

from __future__ import annotations

import random

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from tripod.algorithms.algorithm import Algorithm
from tripod.algorithms.dqn import DQNConfig
from tripod.algorithms.ppo import PPOConfig
from tripod.algorithms.sac import SACConfig
from tripod.core import Columns, MultiRLModuleSpec, RLModuleSpec, TorchRLModule
from tripod.core.rl_module.rl_module import RLModule
from tripod.env import SingleAgentEnvRunner
from tripod.env.multi_agent_env import MultiAgentEnv
from tripod.env.multi_agent_env_runner import MultiAgentEnvRunner
from tripod.envs import MultiAgentCartPole
from tripod.io.checkpoint import CheckpointError
from tripod.io.seeding import GlobalRNGScope, seed_everything


# ----------------------------------------------------------------------------- configs
def tiny_ppo(**rl_module):
    return (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_envs_per_env_runner=2)
        .training(train_batch_size_per_learner=128, minibatch_size=64, num_epochs=2)
        .rl_module(**(rl_module or {"model_config": {"fcnet_hiddens": [16]}}))
        .debugging(seed=3)
    )


def tiny_dqn():
    return (
        DQNConfig()
        .environment("CartPole-v1")
        .training(
            train_batch_size_per_learner=16,
            replay_buffer_capacity=1000,
            num_steps_sampled_before_learning_starts=32,
            training_intensity=0.25,
            target_network_update_freq=50,
            epsilon=[[0, 1.0], [200, 0.3]],
        )
        .reporting(min_sample_timesteps_per_iteration=64)
        .rl_module(model_config={"fcnet_hiddens": [16]})
        .debugging(seed=3)
    )


def tiny_sac():
    return (
        SACConfig()
        .environment("Pendulum-v1")
        .training(
            train_batch_size_per_learner=16,
            replay_buffer_capacity=1000,
            num_steps_sampled_before_learning_starts=32,
            training_intensity=0.25,
        )
        .reporting(min_sample_timesteps_per_iteration=64)
        .rl_module(model_config={"fcnet_hiddens": [16]})
        .debugging(seed=3)
    )


def weights(algo: Algorithm) -> dict[str, np.ndarray]:
    return {k: np.array(v, copy=True) for k, v in algo.get_module().get_state().items()}


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def sequential_and_interleaved(make_config, iterations: int = 3):
    """Weights of a run trained alone, and of two runs trained interleaved."""
    alone = make_config().build_algo()
    for _ in range(iterations):
        alone.train()
    a, b = make_config().build_algo(), make_config().build_algo()
    for _ in range(iterations):
        a.train()
        b.train()
    return weights(alone), weights(a), weights(b)


# ----------------------------------------------------------------------------- user modules
class SamplingModule(TorchRLModule):
    """RLlib style: nn.Linear's default init and torch.distributions sampling, both global RNGs."""

    def setup(self):
        self.net = nn.Linear(self.observation_space.shape[0], self.action_space.n)

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.net(batch[Columns.OBS])}

    def _forward_exploration(self, batch, **kwargs):
        with torch.no_grad():
            logits = self.net(batch[Columns.OBS])
            dist = torch.distributions.Categorical(logits=logits)
            actions = dist.sample()
            return {
                Columns.ACTIONS: actions,
                Columns.ACTION_LOGP: dist.log_prob(actions),
                Columns.ACTION_DIST_INPUTS: logits,
            }


class HeuristicModule(RLModule):
    """No torch at all: random actions from NumPy's and Python's global generators."""

    def setup(self):
        self.n = self.action_space.n

    def _forward(self, batch, **kwargs):
        rows = len(batch[Columns.OBS])
        actions = np.random.randint(self.n, size=rows)
        if random.random() < 0.5:
            actions = (actions + 1) % self.n
        return {Columns.ACTIONS: actions}


class FixedLengthEnv(gym.Env):
    """Episodes of exactly 8 steps whose start never depends on the seed: a fresh reset equals an autoreset."""

    observation_space = gym.spaces.Box(-10.0, 10.0, (3,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.x = 0, 0.0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        self.x += 0.25 if int(action) == 1 else -0.25
        reward = 1.0 - abs(self.x - 0.5)
        return self._obs(), reward, self.t >= 8, False, {}

    def _obs(self):
        return np.array([self.x, self.t / 8.0, 1.0], dtype=np.float32)


# ----------------------------------------------------------------------------- interleaved training
def test_interleaved_ppo_equals_sequential():
    alone, a, b = sequential_and_interleaved(tiny_ppo)
    assert_same_weights(a, b)
    assert_same_weights(alone, a)


def test_interleaved_dqn_equals_sequential():
    alone, a, b = sequential_and_interleaved(tiny_dqn, iterations=2)
    assert_same_weights(a, b)
    assert_same_weights(alone, a)


def test_interleaved_sac_equals_sequential():
    alone, a, b = sequential_and_interleaved(tiny_sac, iterations=2)
    assert_same_weights(a, b)
    assert_same_weights(alone, a)


def test_user_module_with_global_rng_init_and_sampling():
    def make():
        spec = RLModuleSpec(module_class=SamplingModule)
        return tiny_ppo(rl_module_spec=spec).training(use_critic=False)

    alone, a, b = sequential_and_interleaved(make)
    assert_same_weights(a, b)
    assert_same_weights(alone, a)


def test_user_draws_from_global_rngs_do_not_change_training():
    def run(disturb: bool):
        algo = tiny_ppo().build_algo()
        for _ in range(2):
            if disturb:
                torch.rand(7), np.random.rand(5), random.random()
            algo.train()
        return weights(algo)

    assert_same_weights(run(False), run(True))


def test_evaluation_between_iterations_does_not_change_training():
    quiet, evaluating = tiny_ppo().build_algo(), tiny_ppo().build_algo()
    for _ in range(2):
        quiet.train()
        evaluating.train()
        evaluating.evaluate(2)
    assert_same_weights(weights(quiet), weights(evaluating))


def test_heuristic_module_drawing_from_numpy_runs_the_same_in_two_runners():
    def runner():
        spec = RLModuleSpec(module_class=HeuristicModule)
        return SingleAgentEnvRunner("CartPole-v1", module_spec=spec, num_envs=2, seed=4)

    alone = runner()
    expected = [alone.sample(num_timesteps=20)[Columns.ACTIONS] for _ in range(3)]
    a, b = runner(), runner()
    for want in expected:
        np.testing.assert_array_equal(a.sample(num_timesteps=20)[Columns.ACTIONS], want)
        np.testing.assert_array_equal(b.sample(num_timesteps=20)[Columns.ACTIONS], want)
    assert len({str(x.tolist()) for x in expected}) > 1  # the module really draws


def test_runner_module_built_in_its_own_scope():
    def first_layer(seed):
        spec = RLModuleSpec(module_class=SamplingModule)
        return SingleAgentEnvRunner("CartPole-v1", module_spec=spec, seed=seed).module.net.weight.clone()

    torch.manual_seed(0)
    a = first_layer(5)
    torch.rand(3)  # the global RNG moved on: the runner's own seed decides
    torch.testing.assert_close(first_layer(5), a, rtol=0, atol=0)
    assert not torch.equal(first_layer(6), a)


def map_by_index(agent_id, episode, **kwargs):
    return f"p{agent_id}"


def test_interleaved_multi_agent_ppo_equals_sequential():
    def make():
        return (
            PPOConfig()
            .environment(MultiAgentCartPole)
            .env_runners(num_envs_per_env_runner=2)
            .training(train_batch_size_per_learner=128, minibatch_size=64, num_epochs=2)
            .rl_module(model_config={"fcnet_hiddens": [16]})
            .multi_agent(policies={"p0", "p1"}, policy_mapping_fn=map_by_index)
            .debugging(seed=3)
        )

    def all_weights(algo):
        return {
            f"{mid}/{k}": np.array(v)
            for mid in ("p0", "p1")
            for k, v in algo.get_module(mid).get_state().items()
        }

    alone = make().build_algo()
    for _ in range(2):
        alone.train()
    a, b = make().build_algo(), make().build_algo()
    for _ in range(2):
        a.train()
        b.train()
    assert_same_weights(all_weights(a), all_weights(b))
    assert_same_weights(all_weights(alone), all_weights(a))


class ConstantTwoAgentEnv(MultiAgentEnv):
    """Agents "x" and "y" act on every step and always see ``[1.0]``: actions depend on RNGs only."""

    def __init__(self, config=None):
        self.possible_agents = self.agents = ["x", "y"]
        self.observation_spaces = {a: gym.spaces.Box(-2.0, 2.0, (1,), np.float32) for a in self.agents}
        self.action_spaces = {a: gym.spaces.Discrete(5) for a in self.agents}

    def reset(self, *, seed=None, options=None):
        return {a: np.ones(1, np.float32) for a in self.agents}, {}

    def step(self, action_dict):
        obs = {a: np.ones(1, np.float32) for a in self.agents}
        return obs, dict.fromkeys(self.agents, 0.0), {"__all__": False}, {"__all__": False}, {}


class LogitsModule(TorchRLModule):
    """Returns logits only, so the runner samples the actions (its categorical sampler)."""

    def setup(self):
        self.net = nn.Linear(1, self.action_space.n)

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.net(batch[Columns.OBS])}


def test_multi_agent_runner_rng_state_round_trip():
    specs = {"x": RLModuleSpec(module_class=LogitsModule), "y": RLModuleSpec(module_class=SamplingModule)}
    runner = MultiAgentEnvRunner(
        ConstantTwoAgentEnv, module_spec=MultiRLModuleSpec(rl_module_specs=specs), num_envs=2, seed=1
    )
    runner.sample(num_timesteps=10)
    state = runner.get_rng_state()

    def draws():
        with runner.global_rng:
            inside = torch.rand(2)
        explored = runner.sample(num_timesteps=40)  # x: the runner's sampler; y: torch.distributions
        random_actions = runner.sample(num_timesteps=40, random_actions=True)  # the action-space RNG
        return [b[mid][Columns.ACTIONS] for b in (explored, random_actions) for mid in ("x", "y")], inside

    first = draws()
    runner.sample(num_timesteps=10, random_actions=True)
    runner.set_rng_state(state)
    again = draws()
    assert torch.equal(first[1], again[1])
    for a, b in zip(first[0], again[0], strict=True):
        assert len(np.unique(a)) > 1  # real draws, not a constant
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- resume
def resume_config(make_config):
    return make_config().environment(FixedLengthEnv)


@pytest.mark.parametrize("make_config", [tiny_ppo, tiny_dqn], ids=["ppo", "dqn"])
def test_resume_continues_like_the_uninterrupted_run(tmp_path, make_config):
    config = resume_config(make_config)
    if isinstance(config, DQNConfig):
        config.training(checkpoint_replay_buffer=True)
    uninterrupted = config.copy().build_algo()
    for _ in range(2):
        uninterrupted.train()
    path = uninterrupted.save_to_path(tmp_path / "ckpt")
    results = [uninterrupted.train()["learners"] for _ in range(2)]
    torch.rand(5), np.random.rand(3)  # the process moved on in between
    resumed = Algorithm.from_checkpoint(path, config_overrides={"env": FixedLengthEnv})
    assert [resumed.train()["learners"] for _ in range(2)] == results
    assert_same_weights(weights(uninterrupted), weights(resumed))


# ----------------------------------------------------------------------------- damaged RNG states
def test_damaged_owned_rng_states_are_named():
    algo = tiny_ppo().build_algo()
    good = algo.get_rng_state()
    with pytest.raises(
        ValueError, match=r"SingleAgentEnvRunner.set_rng_state\(\): expected a dict with 'sampler'"
    ):
        algo.set_rng_state({**good, "owned": {**good["owned"], "env_runner": {"global": 1}}})
    with pytest.raises(
        ValueError, match=r"PPOLearner.set_rng_state\(\): the shuffle generator state is damaged"
    ):
        learner = {**good["owned"]["learner"], "shuffle": torch.zeros(3, dtype=torch.uint8)}
        algo.set_rng_state({**good, "owned": {**good["owned"], "learner": learner}})
    with pytest.raises(
        ValueError, match=r"PPOLearner.set_rng_state\(\): expected a dict with 'shuffle' and 'global'"
    ):
        algo.learner_group.set_rng_state([])
    with pytest.raises(ValueError, match=r"the RNG state is damaged"):
        numpy_state = {**good["owned"]["algorithm"]["numpy"], "keys": np.zeros(10, dtype=np.uint32)}
        broken = {**good["owned"]["algorithm"], "numpy": numpy_state}
        algo.global_rng.set_state(broken)
    runner = algo.env_runner_group
    with pytest.raises(
        ValueError, match=r"holds 0 action-space generators, this runner has 1; it comes from another"
    ):
        runner.set_rng_state({**good["owned"]["env_runner"], "spaces": []})
    with pytest.raises(
        ValueError, match=r"SingleAgentEnvRunner.set_rng_state\(\): a generator state is damaged"
    ):
        runner.set_rng_state({**good["owned"]["env_runner"], "sampler": {"bit_generator": "PCG64"}})
    with pytest.raises(ValueError, match=r"the 'owned' RNG states lack 'learner'"):
        algo.set_rng_state({**good, "owned": {"algorithm": 1, "env_runner": 2}})
    algo.set_rng_state(good)  # the good state still loads
    legacy = {k: v for k, v in good.items() if k != "owned"}  # checkpoints of older tripod versions
    algo.set_rng_state(legacy)


def test_checkpoint_with_a_damaged_owned_rng_state_names_the_file(tmp_path, monkeypatch):
    algo = tiny_ppo().build_algo()
    good = algo.get_rng_state()
    learner = {**good["owned"]["learner"], "shuffle": np.zeros(3, dtype=np.uint8)}
    monkeypatch.setattr(
        algo, "get_rng_state", lambda: {**good, "owned": {**good["owned"], "learner": learner}}
    )
    path = algo.save_to_path(tmp_path / "ckpt")
    with pytest.raises(CheckpointError, match=r"rng_state.*is damaged.*shuffle generator state is damaged"):
        tiny_ppo().build_algo().restore_from_path(path)


# ----------------------------------------------------------------------------- the scope itself
def test_scope_keeps_its_own_global_states_and_restores_the_callers():
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    outside = torch.rand(2), np.random.rand(2), random.random()
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    first, second = GlobalRNGScope(9), GlobalRNGScope(9)
    with first:
        a = torch.rand(2), np.random.rand(2), random.random()
    with second:
        b = torch.rand(2), np.random.rand(2), random.random()
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
    # The caller's generators did not move.
    after = torch.rand(2), np.random.rand(2), random.random()
    assert (
        torch.equal(after[0], outside[0]) and np.array_equal(after[1], outside[1]) and after[2] == outside[2]
    )
    with first:  # a scope continues where it stopped
        c = torch.rand(2)
    assert not torch.equal(c, a[0])


def test_scope_state_round_trip_and_nesting():
    scope = GlobalRNGScope(2)
    saved = scope.get_state()
    with scope, scope:  # re-entering is a no-op
        first = torch.rand(3), np.random.rand(3), random.random()
    scope.set_state(saved)
    with scope:
        again = torch.rand(3), np.random.rand(3), random.random()
    assert torch.equal(first[0], again[0]) and np.array_equal(first[1], again[1]) and first[2] == again[2]
    with pytest.raises(ValueError, match="GlobalRNGScope.set_state.*'numpy'"):
        scope.set_state({"torch": saved["torch"], "python": saved["python"]})


def test_unseeded_scope_forks_the_global_generators():
    seed_everything(4)
    a = GlobalRNGScope(None)
    seed_everything(4)
    b = GlobalRNGScope(None)
    with a:
        x = torch.rand(2)
    with b:
        y = torch.rand(2)
    assert torch.equal(x, y)
    with GlobalRNGScope(None):  # the fork moved the global generators on: the next one differs
        z = torch.rand(2)
    assert not torch.equal(x, z)


def _numpy_legacy_of(scope: GlobalRNGScope) -> np.random.RandomState:
    """A plain RandomState holding ``scope``'s NumPy state (the reference stream)."""
    n = scope.get_state()["numpy"]
    reference = np.random.RandomState()
    reference.set_state((n["kind"], n["keys"], n["pos"], n["has_gauss"], n["cached"]))
    return reference


def test_scopes_keep_numpy_gaussian_caches_apart():
    """The legacy Gaussian cache (filled by odd-sized normal draws) belongs to its stream.

    Scopes swap NumPy's words without get_state/set_state while the cache is provably empty;
    every interleaving below must still equal three separate RandomState streams.
    """
    np.random.seed(5)
    outer_ref = np.random.RandomState(5)
    a, b = GlobalRNGScope(1), GlobalRNGScope(2)
    ref_a, ref_b = _numpy_legacy_of(a), _numpy_legacy_of(b)
    draws = [
        ("a", "randn", 1), ("out", "randn", 1), ("b", "rand", 2), ("a", "randn", 1), ("out", "rand", 1),
        ("a", "randn", 3), ("b", "randn", 1), ("out", "randn", 1), ("out", "randn", 1), ("b", "randn", 1),
        ("a", "rand", 1), ("b", "rand", 1), ("out", "randn", 2), ("a", "randn", 2), ("b", "randn", 1),
    ]  # fmt: skip
    scopes, refs = {"a": a, "b": b}, {"a": ref_a, "b": ref_b, "out": outer_ref}
    for who, method, n in draws:
        if who == "out":
            got = getattr(np.random, method)(n)
        else:
            with scopes[who]:
                got = getattr(np.random, method)(n)
        assert np.array_equal(got, getattr(refs[who], method)(n)), (who, method, n)
    # Checkpointed states carry the cache: a restored scope continues the same stream.
    saved = a.get_state()
    assert saved["numpy"]["has_gauss"] == 1  # a drew 1 + 1 + 3 + 2 normals: one cached
    copy = GlobalRNGScope(0)
    copy.set_state(saved)
    with copy:
        assert np.array_equal(np.random.randn(3), ref_a.randn(3))
    # Outside code that reseeds or sets the state between scope entries is respected.
    np.random.seed(11)
    with a:
        np.random.rand(1)
    assert np.array_equal(np.random.rand(2), np.random.RandomState(11).rand(2))
    state = np.random.get_state()
    with b:
        np.random.randn(1)
    np.random.set_state(state)
    with a:
        np.random.randn(1)
    assert np.array_equal(np.random.rand(2), np.random.RandomState(11).rand(4)[2:])
