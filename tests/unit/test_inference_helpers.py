"""Inference helpers: tripod.data.inference.compute_actions and Algorithm.compute_single_action /
compute_actions / predict."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from tripod.algorithms import PPOConfig
from tripod.core import Columns, TorchRLModule
from tripod.data.inference import compute_actions


@pytest.fixture(scope="module")
def cartpole_algo():
    algo = PPOConfig().environment("CartPole-v1").rl_module(model_config={"fcnet_hiddens": [16]}).build_algo()
    yield algo
    algo.stop()


def test_single_observation_gives_one_int_like_action(cartpole_algo):
    module = cartpole_algo.get_module()
    action = compute_actions(module, np.zeros(4, np.float32))
    assert np.ndim(action) == 0 and int(action) in (0, 1)
    assert module.action_space.contains(int(action))


def test_batch_gives_one_action_per_row(cartpole_algo):
    obs = np.random.default_rng(0).normal(size=(7, 4))  # float64 is accepted
    actions = compute_actions(cartpole_algo.get_module(), obs)
    assert actions.shape == (7,)


def test_greedy_is_argmax_of_logits(cartpole_algo):
    module = cartpole_algo.get_module()
    obs = np.random.default_rng(1).normal(size=(32, 4)).astype(np.float32)
    with torch.no_grad():
        logits = module.forward_inference({Columns.OBS: torch.from_numpy(obs)})[Columns.ACTION_DIST_INPUTS]
    np.testing.assert_array_equal(compute_actions(module, obs), logits.argmax(-1).numpy())
    explored = compute_actions(module, obs, explore=True)
    assert explored.shape == (32,) and set(np.unique(explored)) <= {0, 1}


def test_algorithm_methods_agree(cartpole_algo):
    obs = np.random.default_rng(2).normal(size=(5, 4)).astype(np.float32)
    batch = cartpole_algo.compute_actions(obs)
    single = [cartpole_algo.compute_single_action(o) for o in obs]
    np.testing.assert_array_equal(batch, single)
    actions, state = cartpole_algo.predict(obs)
    assert state is None
    np.testing.assert_array_equal(actions, batch)
    action, state_out, extra = cartpole_algo.compute_single_action(obs[0], full_fetch=True)
    assert action == batch[0] and state_out == [] and extra == {}
    assert cartpole_algo.compute_single_action(obs[0], policy_id="default_policy") == batch[0]


def test_wrong_shape_is_a_clear_value_error(cartpole_algo):
    module = cartpole_algo.get_module()
    with pytest.raises(ValueError, match=r"shape \(3,\).*expected \(4,\).*\(B, 4\)"):
        compute_actions(module, np.zeros(3))
    with pytest.raises(ValueError, match=r"shape \(2, 5\)"):
        cartpole_algo.predict(np.zeros((2, 5)))


def test_box_actions_have_the_space_shape_and_bounds():
    algo = PPOConfig().environment("Pendulum-v1").rl_module(model_config={"fcnet_hiddens": [8]}).build_algo()
    try:
        module = algo.get_module()
        space = module.action_space
        obs = np.random.default_rng(3).normal(size=(64, 3)).astype(np.float32) * 100
        for explore in (False, True):
            actions = compute_actions(module, obs, explore=explore)
            assert actions.shape == (64, 1) and actions.dtype == space.dtype
            assert np.all(actions >= space.low) and np.all(actions <= space.high)
        assert algo.compute_single_action(obs[0]).shape == (1,)
    finally:
        algo.stop()


class MaskedEnv(gym.Env):
    """A Dict observation with an action mask that allows one random action of six."""

    n = 6

    def __init__(self, config=None):
        box = gym.spaces.Box(0.0, 1.0, (self.n,), np.float32)
        self.observation_space = gym.spaces.Dict({"observations": box, "action_mask": box})
        self.action_space = gym.spaces.Discrete(self.n)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, True, {}


def test_dict_observation_action_mask_is_respected():
    algo = PPOConfig().environment(MaskedEnv).rl_module(model_config={"fcnet_hiddens": [8]}).build_algo()
    try:
        module = algo.get_module()
        rng = np.random.default_rng(4)
        B = 200
        allowed = rng.integers(MaskedEnv.n, size=B)
        mask = np.zeros((B, MaskedEnv.n), np.float32)
        mask[np.arange(B), allowed] = 1.0
        obs = {"observations": rng.random((B, MaskedEnv.n)).astype(np.float32), "action_mask": mask}
        for explore in (False, True):
            np.testing.assert_array_equal(compute_actions(module, obs, explore=explore), allowed)
        single = {k: v[0] for k, v in obs.items()}
        assert int(algo.compute_single_action(single)) == allowed[0]
        with pytest.raises(ValueError, match="leaf"):
            compute_actions(module, {"observations": np.zeros(3), "action_mask": mask[0]})
    finally:
        algo.stop()


class ActionModule(TorchRLModule):
    """Tutorial style: forward_inference returns the actions themselves."""

    def setup(self):
        self.pi = nn.Linear(self.observation_space.shape[0], self.action_space.n)

    def _forward_inference(self, batch, **kwargs):
        return {Columns.ACTIONS: self.pi(batch[Columns.OBS]).argmax(-1)}

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.pi(batch[Columns.OBS])}


def test_module_returning_actions():
    module = ActionModule(
        observation_space=gym.spaces.Box(-1.0, 1.0, (4,), np.float32), action_space=gym.spaces.Discrete(3)
    )
    obs = np.random.default_rng(5).uniform(-1, 1, size=(10, 4)).astype(np.float32)
    with torch.no_grad():
        expected = module.pi(torch.from_numpy(obs)).argmax(-1).numpy()
    np.testing.assert_array_equal(compute_actions(module, obs), expected)
    assert compute_actions(module, obs[0]) == expected[0]


class CounterModule(TorchRLModule):
    """Stateful: the state counts the steps seen; the greedy action is the count's parity."""

    def setup(self):
        pass

    def get_initial_state(self):
        return {"count": torch.zeros(1)}

    def _forward(self, batch, **kwargs):
        obs = batch[Columns.OBS]
        assert obs.ndim == 3, "a stateful module gets [B, T, ...] observations"
        count = batch[Columns.STATE_IN]["count"] + obs.shape[1]
        parity = torch.remainder(count, 2.0)
        logits = torch.cat([1.0 - parity, parity], dim=-1)[:, None] * 10.0
        return {Columns.ACTION_DIST_INPUTS: logits, Columns.STATE_OUT: {"count": count}}


def test_stateful_module_threads_and_resets_state():
    module = CounterModule(
        observation_space=gym.spaces.Box(-1.0, 1.0, (2,), np.float32), action_space=gym.spaces.Discrete(2)
    )
    obs = np.zeros((3, 2), np.float32)
    actions, state = compute_actions(module, obs)
    np.testing.assert_array_equal(actions, [1, 1, 1])
    np.testing.assert_array_equal(state["count"], [[1.0], [1.0], [1.0]])
    actions, state = compute_actions(module, obs, state=state)
    np.testing.assert_array_equal(actions, [0, 0, 0])
    actions, state = compute_actions(module, obs, state=state, episode_start=[False, True, False])
    np.testing.assert_array_equal(actions, [1, 1, 1])
    np.testing.assert_array_equal(state["count"][:, 0], [3.0, 1.0, 3.0])
    # A single observation: unbatched state in and out.
    action, one = compute_actions(module, obs[0])
    assert np.ndim(action) == 0 and one["count"].shape == (1,)
    action, one = compute_actions(module, obs[0], state=one)
    assert action == 0 and one["count"][0] == 2.0
    with pytest.raises(ValueError, match="episode_start"):
        compute_actions(module, obs, state=state, episode_start=[True])


class _FakeAlgo:
    """Just what the Algorithm's inference methods use: get_module(), connector_pipeline() and config."""

    def __init__(self, module):
        self.module = module
        self.config = PPOConfig()

    def get_module(self, module_id="default_policy"):
        return self.module

    def connector_pipeline(self, cached=False, module_id=None):
        return None  # no env-to-module connectors


def test_algorithm_methods_with_a_stateful_module():
    from tripod.algorithms.algorithm import Algorithm

    module = CounterModule(
        observation_space=gym.spaces.Box(-1.0, 1.0, (2,), np.float32), action_space=gym.spaces.Discrete(2)
    )
    algo = _FakeAlgo(module)
    obs = np.zeros(2, np.float32)
    action, state_out, extra = Algorithm.compute_single_action(algo, obs)
    assert action == 1 and state_out["count"].shape == (1,) and extra == {}
    action, state_out, _ = Algorithm.compute_single_action(algo, obs, state_out)
    assert action == 0 and state_out["count"][0] == 2.0
    algo.compute_actions = lambda *a, **k: Algorithm.compute_actions(algo, *a, **k)
    actions, state = Algorithm.predict(algo, np.zeros((2, 2), np.float32))
    actions, state = Algorithm.predict(algo, np.zeros((2, 2), np.float32), state, np.array([False, True]))
    np.testing.assert_array_equal(actions, [0, 1])
    np.testing.assert_array_equal(state["count"][:, 0], [2.0, 1.0])
