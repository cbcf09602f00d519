"""next_obs_from_bootstrap: next observations from a runner batch, checked by hand and against a real env."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from tripod.core.columns import Columns
from tripod.core.rl_module.rl_module import RLModuleSpec
from tripod.core.rl_module.torch.torch_rl_module import TorchRLModule
from tripod.data.transitions import next_obs_from_bootstrap, with_next_obs
from tripod.env.single_agent_env_runner import SingleAgentEnvRunner
from tripod.learner.optim import Adam
from tripod.learner.optimizer_group import OptimizerGroup


def test_next_obs_by_hand():
    # T=3, N=2; env 1 is truncated after row 0 (its next obs is in bootstrap_obs), last row of each too.
    obs = np.array([[[0.0], [10.0]], [[1.0], [20.0]], [[2.0], [21.0]]], dtype=np.float32)
    batch = {
        Columns.OBS: obs,
        "bootstrap_obs": np.array([[11.0], [3.0], [22.0]], dtype=np.float32),
        "bootstrap_index": np.array([0 * 2 + 1, 2 * 2 + 0, 2 * 2 + 1]),
    }
    nxt = next_obs_from_bootstrap(batch)
    np.testing.assert_array_equal(nxt[..., 0], [[1.0, 11.0], [2.0, 21.0], [3.0, 22.0]])
    assert nxt.dtype == np.float32 and obs[0, 1, 0] == 10.0  # input untouched


def test_next_obs_nested_and_one_row():
    batch = {
        Columns.OBS: {"a": np.zeros((1, 2, 3)), "b": (np.ones((1, 2), np.int64),)},
        "bootstrap_obs": {"a": np.full((2, 3), 7.0), "b": (np.array([5, 6]),)},
        "bootstrap_index": np.array([0, 1]),
    }
    nxt = with_next_obs(batch)[Columns.NEXT_OBS]
    np.testing.assert_array_equal(nxt["a"], np.full((1, 2, 3), 7.0))
    np.testing.assert_array_equal(nxt["b"][0], [[5, 6]])


def test_next_obs_needs_bootstrap_entries():
    with pytest.raises(KeyError, match="bootstrap_obs"):
        next_obs_from_bootstrap({Columns.OBS: np.zeros((2, 1))})


class Counter(gym.Env):
    """obs = steps taken in this episode; terminates after 5 steps unless truncated first."""

    observation_space = gym.spaces.Box(0, 100, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([self.t], np.float32), 1.0, self.t == 5, False, {}


class ZeroAction(TorchRLModule):
    def _forward(self, batch, **kwargs):
        return {Columns.ACTIONS: torch.zeros(batch[Columns.OBS].shape[0], dtype=torch.int64)}


@pytest.mark.parametrize("limit", [2, 7])
def test_next_obs_matches_the_env(limit):
    """Every real row's next obs is obs + 1, across episode ends and fragments.

    Limit 2 truncates every episode (bootstrapped from the final obs); limit 7 lets them terminate,
    where tripod's SAME_STEP vector env gives the next episode's first obs instead (unused: a TD
    target multiplies it by 1 - terminated = 0).
    """
    runner = SingleAgentEnvRunner(
        lambda cfg: gym.wrappers.TimeLimit(Counter(), limit),
        module_spec=RLModuleSpec(module_class=ZeroAction),
        num_envs=2,
        vectorize_mode="sync",
        seed=0,
    )
    ended = 0
    for _ in range(3):
        batch = runner.sample(num_timesteps=14)
        nxt = next_obs_from_bootstrap(batch)
        rows = batch[Columns.LOSS_MASK] & ~batch[Columns.TERMINATEDS]
        np.testing.assert_array_equal(nxt[rows], batch[Columns.OBS][rows] + 1)
        assert np.isfinite(nxt).all()
        ended += int((batch[Columns.TERMINATEDS] | batch[Columns.TRUNCATEDS]).sum())
    assert ended > 4
    runner.stop()


def test_optimizer_group_steps_saves_and_loads_all():
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(3))
    group = OptimizerGroup({"actor": Adam([a], lr=0.1), "critic": Adam([b], lr=0.01)})
    (a.sum() + b.sum()).backward()
    group.step()
    assert a.detach()[0] == pytest.approx(0.9) and b.detach()[0] == pytest.approx(0.99)
    group.zero_grad()
    assert a.grad is None and b.grad is None
    assert [g["lr"] for g in group.param_groups] == [0.1, 0.01] and "actor" in group
    state = group.state_dict()
    other = OptimizerGroup({"actor": Adam([a], lr=1.0), "critic": Adam([b], lr=1.0)})
    other.load_state_dict(state)
    assert other["critic"].param_groups[0]["lr"] == 0.01
    with pytest.raises(ValueError, match="saved optimizers are"):
        OptimizerGroup({"actor": Adam([a])}).load_state_dict(state)
