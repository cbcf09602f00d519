"""entropy_coeff takes a schedule [[env_step, value], ...] like lr (PPO and PG)."""

from __future__ import annotations

import pytest

from tripod.algorithms.algorithm_config import ConfigError
from tripod.algorithms.pg.pg import PGConfig
from tripod.algorithms.ppo.ppo import PPOConfig


def _coeffs(config, iterations: int) -> list[tuple[int, float]]:
    algo = (
        config.environment("CartPole-v1")
        .training(train_batch_size_per_learner=100, minibatch_size=100, num_epochs=1)
        .debugging(seed=0)
        .build_algo()
    )
    try:
        out = []
        for _ in range(iterations):
            r = algo.train()
            out.append(
                (r["num_env_steps_sampled_lifetime"], r["learners"]["default_policy"]["curr_entropy_coeff"])
            )
        return out
    finally:
        algo.stop()


def test_a_schedule_from_0_1_to_0_is_reported_at_each_update():
    config = PPOConfig().training(entropy_coeff=[[0, 0.1], [400, 0.0]])
    got = _coeffs(config, 5)
    assert [s for s, _ in got] == [100, 200, 300, 400, 500]
    assert [c for _, c in got] == pytest.approx([0.075, 0.05, 0.025, 0.0, 0.0])


def test_a_constant_still_works_and_pg_takes_a_schedule_too():
    assert [c for _, c in _coeffs(PPOConfig().training(entropy_coeff=0.01), 2)] == pytest.approx([0.01, 0.01])
    got = _coeffs(PGConfig().training(entropy_coeff=[[100, 0.2], [300, 0.0]]), 3)
    assert [c for _, c in got] == pytest.approx([0.2, 0.1, 0.0])


@pytest.mark.parametrize("cls", [PPOConfig, PGConfig])
def test_bad_schedules_get_the_same_errors_as_lr(cls):
    name = cls.__name__
    with pytest.raises(ConfigError, match=rf"{name}: entropy_coeff must be >= 0.0, got -1"):
        cls().training(entropy_coeff=-1)
    with pytest.raises(ConfigError, match=rf"{name}: entropy_coeff must be a number or a schedule"):
        cls().training(entropy_coeff="0.01")
    with pytest.raises(ConfigError, match=r"entropy_coeff schedule .* must have increasing env steps"):
        cls().training(entropy_coeff=[[100, 0.1], [0, 0.0]])
    with pytest.raises(ConfigError, match=r"entropy_coeff .*finite"):
        cls().training(entropy_coeff=[[0, 0.1], [100, float("nan")]])
