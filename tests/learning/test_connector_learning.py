"""Observation normalisation earns its keep: CartPole with badly scaled observations (offset 100,
scales 0.02 to 500) is solved by the PPO preset with a MeanStdFilter and not without one."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from tripod.algorithms.ppo import PPOConfig
from tripod.algorithms.presets import get_preset
from tripod.env import register_env


class ScaledCartPole(gym.ObservationWrapper):
    """CartPole whose observations are ``obs * [50, 0.02, 500, 0.05] + 100``."""

    SCALE = np.array([50.0, 0.02, 500.0, 0.05], np.float32)

    def __init__(self, env_config=None):
        super().__init__(gym.make("CartPole-v1"))
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)

    def observation(self, obs):
        return (obs * self.SCALE + 100.0).astype(np.float32)


register_env("ScaledCartPole", ScaledCartPole)


def _train(connector) -> tuple[float, int]:
    config = PPOConfig().environment("ScaledCartPole").debugging(seed=0)
    config.update_from_dict(get_preset("ppo", "CartPole-v1"))
    config.env_runners(env_to_module_connector=connector)
    algo = config.build()
    while algo.num_env_steps_sampled_lifetime < 150_000:
        if algo.train()["env_runners"]["episode_return_mean"] >= 475:
            break
    greedy = algo.evaluate(10)["env_runners"]["episode_return_mean"]
    steps = algo.num_env_steps_sampled_lifetime
    algo.stop()
    return greedy, steps


@pytest.mark.parametrize("connector, solved", [([{"type": "MeanStdFilter"}], True), (None, False)])
def test_mean_std_filter_solves_badly_scaled_cartpole(connector, solved):
    greedy, steps = _train(connector)
    if solved:  # measured: 80k env steps, greedy 500 (seed 0)
        assert greedy >= 475 and steps <= 150_000
    else:  # measured: greedy 47 at the 150k budget
        assert greedy < 150
