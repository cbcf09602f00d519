"""Learning tests for DQN and SAC with their tuned presets, seeded; and proof that prioritized
replay and n-step returns are used (they change what the learner sees and what it learns).

The learning tests train until a greedy evaluation (10 episodes, every 5000 env steps) reaches
the stated return, within a step budget.
"""

from __future__ import annotations

import numpy as np
import pytest

from tripod.algorithms.presets import get_preset
from tripod.algorithms.registry import get_config_class
from tripod.core.columns import Columns
from tripod.core.rl_module.rl_module import DEFAULT_MODULE_ID

pytestmark = pytest.mark.learning


def preset_algo(algo: str, env: str, seed: int, **overrides):
    config = get_config_class(algo)().environment(env).debugging(seed=seed)
    return config.update_from_dict({**get_preset(algo, env), **overrides}).build_algo()


def evaluate_until(algo, *, threshold: float, max_steps: int, every: int = 5000) -> tuple[int, float]:
    """Train; every ``every`` env steps evaluate greedily; stop at ``threshold`` or ``max_steps``."""
    next_eval, best = every, -np.inf
    while algo.num_env_steps_sampled_lifetime < max_steps:
        algo.train()
        if algo.num_env_steps_sampled_lifetime >= next_eval:
            next_eval += every
            best = max(best, algo.evaluate(10)["env_runners"]["episode_return_mean"])
            if best >= threshold:
                break
    return algo.num_env_steps_sampled_lifetime, best


def test_dqn_cartpole_learns():
    """Stated: greedy eval >= 300 within 100k steps; trained on to 475 (seed 0 reaches it at ~41k
    with the preset's decaying lr)."""
    algo = preset_algo("dqn", "CartPole-v1", seed=0)
    steps, best = evaluate_until(algo, threshold=475, max_steps=100_000)
    assert best >= 300, (steps, best)


def test_sac_pendulum_learns():
    """Stated: greedy eval >= -250 within 25k steps; trained on to -200 (seed 0 reaches it at ~4k)."""
    algo = preset_algo("sac", "Pendulum-v1", seed=0)
    steps, best = evaluate_until(algo, threshold=-200, max_steps=25_000, every=1000)
    assert best >= -250, (steps, best)


def spy_batches(algo) -> list[dict]:
    """Record the replay batches the learner trains on."""
    seen, update = [], algo.learner_group.update_from_replay

    def recording(batch, **kwargs):
        seen.append(batch[DEFAULT_MODULE_ID])
        return update(batch, **kwargs)

    algo.learner_group.update_from_replay = recording
    return seen


def short_dqn(**overrides):
    settings = {
        "num_steps_sampled_before_learning_starts": 500,
        "min_sample_timesteps_per_iteration": 1000,
        **overrides,
    }
    algo = preset_algo("dqn", "CartPole-v1", seed=0, **settings)
    seen = spy_batches(algo)
    for _ in range(3):
        algo.train()
    return algo, seen


@pytest.fixture(scope="module")
def baseline():
    algo, _ = short_dqn(prioritized_replay=False, n_step=1)
    return algo.get_module().get_state()


def differs(state_a: dict, state_b: dict) -> bool:
    return any(not np.array_equal(state_a[k], state_b[k]) for k in state_a)


def test_prioritized_replay_is_used(baseline):
    algo, seen = short_dqn(prioritized_replay=True, n_step=1)
    weights = np.concatenate([b["weights"] for b in seen])
    assert weights.min() < 0.9 and weights.max() == pytest.approx(1.0, abs=1e-6)  # importance weights applied
    priorities = algo.replay_buffer.get_state()["priorities"][: len(algo.replay_buffer)]
    assert priorities.max() / priorities.min() > 2  # TD errors became priorities
    counts = np.bincount(np.concatenate([b["indices"] for b in seen[-200:]]), minlength=len(priorities))
    uniform = len(seen[-200:]) * seen[0]["indices"].size / len(priorities)
    assert counts.max() > 4 * uniform  # sampling follows the priorities, not uniform
    assert differs(algo.get_module().get_state(), baseline)


def test_n_step_returns_are_used(baseline):
    algo, seen = short_dqn(prioritized_replay=False, n_step=3)
    discounts = np.concatenate([b["discounts"] for b in seen])
    rewards = np.concatenate([b[Columns.REWARDS] for b in seen])
    gamma = algo.config.gamma
    assert np.mean(np.isclose(discounts, gamma**3)) > 0.9  # most windows are complete
    assert rewards.max() == pytest.approx(1 + gamma + gamma**2)  # three CartPole rewards summed
    assert differs(algo.get_module().get_state(), baseline)
