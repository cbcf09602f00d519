"""Learning tests: PPO and PG reach stated returns within step budgets, seeded.

Each test trains until the mean training return over the last 100 episodes
passes a stop value (or a step budget runs out), then asserts a greedy
evaluation threshold.
"""

from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from tripod.algorithms.ppo import PPOConfig
from tripod.algorithms.presets import get_preset

pytestmark = pytest.mark.learning

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def train_until(algo, *, stop_return: float, max_steps: int) -> dict:
    """Train until the windowed training return reaches ``stop_return`` or ``max_steps`` pass."""
    while True:
        result = algo.train()
        if result["env_runners"]["episode_return_mean"] >= stop_return:
            return result
        if result["num_env_steps_sampled_lifetime"] >= max_steps:
            return result


def preset_config(algo: str, env: str, seed: int) -> PPOConfig:
    config = PPOConfig().environment(env).debugging(seed=seed)
    return config.update_from_dict(get_preset(algo, env))


def test_ppo_cartpole_solves():
    algo = preset_config("ppo", "CartPole-v1", seed=0).build_algo()
    result = train_until(algo, stop_return=475, max_steps=150_000)
    assert result["env_runners"]["episode_return_mean"] >= 475, result["env_runners"]
    assert algo.evaluate(10)["env_runners"]["episode_return_mean"] >= 475


def test_pg_trains_the_tutorial_module():
    sys.path.insert(0, str(EXAMPLES))
    try:
        from pg_tutorial_module import build_config
    finally:
        sys.path.remove(str(EXAMPLES))
    algo = build_config(seed=0).build_algo()
    result = train_until(algo, stop_return=175, max_steps=120_000)
    assert result["env_runners"]["episode_return_mean"] >= 150, result["env_runners"]
    assert algo.evaluate(10)["env_runners"]["episode_return_mean"] >= 150


def test_ppo_acrobot():
    algo = preset_config("ppo", "Acrobot-v1", seed=0).build_algo()
    result = train_until(algo, stop_return=-95, max_steps=250_000)
    assert result["env_runners"]["episode_return_mean"] >= -110, result["env_runners"]
    assert algo.evaluate(10)["env_runners"]["episode_return_mean"] >= -120


def test_ppo_pendulum_continuous_actions():
    """Continuous control: Pendulum-v1 from about -1200 (random) to better than -400."""
    algo = preset_config("ppo", "Pendulum-v1", seed=0).build_algo()
    train_until(algo, stop_return=-300, max_steps=150_000)
    assert algo.evaluate(10)["env_runners"]["episode_return_mean"] >= -400


class MaskedPicker(gym.Env):
    """Each step shows a one-hot target among 6 actions and a mask of allowed actions.

    Picking the target pays +1. Half of the other actions are masked each step;
    taking a masked action is recorded as a violation (and pays -1).
    Episodes last 10 steps, so the best return is 10.
    """

    n = 6

    def __init__(self, config=None):
        self.observation_space = gym.spaces.Dict(
            {
                "observations": gym.spaces.Box(0.0, 1.0, (self.n,), np.float32),
                "action_mask": gym.spaces.Box(0.0, 1.0, (self.n,), np.float32),
            }
        )
        self.action_space = gym.spaces.Discrete(self.n)
        self.violations = 0

    def _obs(self):
        self.target = int(self.np_random.integers(self.n))
        others = [a for a in range(self.n) if a != self.target]
        self.mask = np.ones(self.n, np.float32)
        self.mask[self.np_random.choice(others, size=len(others) // 2, replace=False)] = 0.0
        onehot = np.zeros(self.n, np.float32)
        onehot[self.target] = 1.0
        return {"observations": onehot, "action_mask": self.mask.copy()}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        action = int(action)
        if self.mask[action] == 0:
            MaskedPicker.violations += 1
            reward = -1.0
        else:
            reward = 1.0 if action == self.target else 0.0
        self.t += 1
        return self._obs(), reward, False, self.t >= 10, {}


def test_ppo_dict_observations_with_action_mask():
    MaskedPicker.violations = 0
    config = (
        PPOConfig()
        .environment(MaskedPicker)
        .env_runners(num_envs_per_env_runner=8)
        .training(train_batch_size_per_learner=800, minibatch_size=200, num_epochs=6, lr=3e-3)
        .rl_module(model_config={"fcnet_hiddens": [32]})
        .debugging(seed=0)
    )
    algo = config.build_algo()
    train_until(algo, stop_return=9.5, max_steps=40_000)
    evaluation = algo.evaluate(20)["env_runners"]
    assert evaluation["episode_return_mean"] >= 9.5
    assert MaskedPicker.violations == 0, "a masked action was taken"
