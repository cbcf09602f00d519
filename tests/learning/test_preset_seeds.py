"""Presets on seeds they were not tuned on, run as `tripod train ALGO ENV --seed S` runs them:
the preset, then the env's default stop (a 10-episode greedy evaluation reaching the solved return,
within the step budget), through :func:`tripod.run.train_run.train_run`.

`benchmarks/preset_seeds.py` runs five such seeds per preset for docs/results.md; these are two of
them, cheap enough for the suite (about 10 s each on one core).
"""

from __future__ import annotations

import pytest

from tripod.algorithms.presets import default_stop, get_preset
from tripod.algorithms.registry import get_config_class
from tripod.run.progress import ProgressDisplay
from tripod.run.run_dir import RunDir
from tripod.run.train_run import StopCriteria, train_run

pytestmark = pytest.mark.learning


def train_with_default_stop(algo_name: str, env: str, seed: int, run_path) -> dict:
    config = get_config_class(algo_name)().environment(env).debugging(seed=seed)
    algo = config.update_from_dict(get_preset(algo_name, env)).build_algo()
    stops = default_stop(env)
    stop = StopCriteria(env_steps=stops["stop_steps"], eval_return=stops["stop_return"])
    try:
        return train_run(algo, RunDir(run_path), stop, display=ProgressDisplay(live=False, print_every=1000))
    finally:
        algo.stop()


@pytest.mark.parametrize(
    ("algo_name", "env", "seed", "max_steps"),
    [
        ("dqn", "CartPole-v1", 101, 60_000),  # measured: 30,720 env steps (greedy 500)
        ("sac", "Pendulum-v1", 100, 6_000),  # measured: 2,000 env steps (greedy -179)
    ],
)
def test_preset_solves_an_unseen_seed_by_greedy_evaluation(algo_name, env, seed, max_steps, tmp_path):
    summary = train_with_default_stop(algo_name, env, seed, tmp_path / "run")
    threshold = default_stop(env)["stop_return"]
    assert summary["stopped_by"] == "eval_return", summary
    assert summary["best_eval_return"] >= threshold
    assert summary["env_steps"] <= max_steps, summary
    assert (tmp_path / "run" / "checkpoints" / "best").is_dir()  # the solving policy is kept
