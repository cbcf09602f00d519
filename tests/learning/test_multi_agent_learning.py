"""Learning tests: multi-agent PPO with one module per agent, and one module shared by all agents.

- Two CartPoles (``MultiAgentCartPole``), modules ``p0`` and ``p1``: each agent's greedy
  evaluation return must reach 300 (of 500; random play: about 22). About 30 s.
- MPE2 ``simple_spread_v3`` (PettingZoo, 3 agents), one shared module, 80k env steps:
  random play returns about -81 (episode return summed over agents; measured in the
  test over 200 episodes); the greedy evaluation (100 episodes) must reach -62 and beat
  random by 12. Seeds 0, 1, 2: random -81.4, -82.6, -81.3; trained -55.8, -50.7, -52.6. About 60-80 s.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.learning

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example(name: str):
    sys.path.insert(0, str(EXAMPLES))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(EXAMPLES))


def test_two_cartpoles_one_module_each_both_learn():
    algo = _example("multi_agent_cartpole").build_config(seed=0).build_algo()
    for _ in range(60):
        per_agent = algo.train()["env_runners"]["agent_episode_returns_mean"]
        if per_agent and min(per_agent.values()) >= 400:
            break
    evaluation = algo.evaluate(10)["env_runners"]["agent_episode_returns_mean"]
    assert set(evaluation) == {"0", "1"}
    assert min(evaluation.values()) >= 300, evaluation


def test_simple_spread_shared_module_beats_random():
    pytest.importorskip("mpe2")
    algo = _example("pettingzoo_spread").build_config(seed=0).build_algo()
    random = float(
        np.mean(algo.env_runner_group.sample(num_episodes=200, random_actions=True)["episode_returns"])
    )
    assert -90 < random < -72, random  # about -81
    while True:
        result = algo.train()
        if result["num_env_steps_sampled_lifetime"] >= 80_000:
            break
    assert set(result["learners"]) == {"default_policy"}
    trained = algo.evaluate(100)["env_runners"]["episode_return_mean"]
    assert trained >= -62 and trained >= random + 12, (random, trained)
