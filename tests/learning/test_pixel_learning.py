"""PPO learns from pixels: the MinAtar Breakout preset (10x10x4 frames, the default CNN) in CI time.

Random play scores about 0.4 per episode; the preset reaches a training return of 4.5 by 75k env
steps and 5.5 by 150k on seed 0 (about a minute here). The test asks for 3.5 within 150k steps and
a greedy evaluation above 3.
"""

from __future__ import annotations

import pytest

from tripod.algorithms.ppo import PPOConfig
from tripod.algorithms.presets import get_preset

pytest.importorskip("minatar")


def test_ppo_minatar_breakout_preset_learns():
    config = PPOConfig().environment("MinAtar/Breakout-v1").debugging(seed=0)
    config.update_from_dict(get_preset("ppo", "MinAtar/Breakout-v1"))
    algo = config.build()
    best = 0.0
    while algo.num_env_steps_sampled_lifetime < 150_000:
        best = max(best, algo.train()["env_runners"]["episode_return_mean"])
        if best >= 3.5:
            break
    greedy = algo.evaluate(10)["env_runners"]["episode_return_mean"]
    algo.stop()
    assert best >= 3.5, f"training return {best:.2f} after {algo.num_env_steps_sampled_lifetime} env steps"
    assert greedy > 3.0
