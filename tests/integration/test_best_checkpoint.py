"""Keeping the best model: checkpoints/best follows the best greedy evaluation, --stop-eval-return
stops on a greedy evaluation, and a run's best checkpoint is what evaluate and export load."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tripod.algorithms.algorithm import Algorithm
from tripod.algorithms.ppo import PPOConfig
from tripod.run.checkpoint_choice import best_checkpoint, resolve_checkpoint_arg
from tripod.run.run_dir import RunDir
from tripod.run.train_run import StopCriteria, train_run


def cartpole(**evaluation) -> PPOConfig:
    return (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_envs_per_env_runner=8)
        .training(train_batch_size_per_learner=1024, minibatch_size=256, num_epochs=6, lr=2e-3)
        .evaluation(evaluation_duration=5, **evaluation)
        .debugging(seed=0)
    )


def test_best_checkpoint_follows_the_best_greedy_evaluation(tmp_path):
    algo = cartpole(evaluation_interval=1).build_algo()
    run = RunDir(tmp_path / "run")
    summary = train_run(algo, run, StopCriteria(iterations=6), eval_episodes=0, checkpoint_every=3)
    rows = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    greedy = [row["evaluation/env_runners/episode_return_mean"] for row in rows]
    best_iteration = max(range(len(greedy)), key=lambda i: (greedy[i], -i)) + 1  # the first of the best
    record = json.loads((run.path / "checkpoints" / "best.json").read_text())
    assert record == {"iteration": best_iteration, "eval_return_mean": max(greedy)}
    assert summary["best_eval_return"] == max(greedy)
    best = run.path / "checkpoints" / "best"
    assert summary["best_checkpoint"] == str(best)
    assert resolve_checkpoint_arg(run.path) == best == best_checkpoint(run.path)
    assert resolve_checkpoint_arg(run.path / "best") == best
    assert Algorithm.from_checkpoint(str(best)).iteration == best_iteration
    # the best checkpoint is not one of the numbered ones, so pruning never touches it
    assert sorted(p.name for p in (run.path / "checkpoints").iterdir()) == [
        "best", "best.json", "iter_000003", "iter_000006"
    ]  # fmt: skip
    algo.stop()


def test_stop_eval_return_stops_on_a_greedy_evaluation_run_when_training_gets_there(tmp_path):
    algo = cartpole().build_algo()  # no periodic evaluation: evaluated once the training return is there
    run = RunDir(tmp_path / "run")
    summary = train_run(algo, run, StopCriteria(eval_return=150.0, env_steps=60_000), eval_episodes=0)
    rows = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    evaluated = [row for row in rows if "evaluation/env_runners/episode_return_mean" in row]
    assert evaluated, "the training return never reached 150"
    assert all(row["env_runners/episode_return_mean"] >= 150.0 for row in evaluated)
    assert summary["stopped_by"] == "eval_return"
    assert evaluated[-1]["evaluation/env_runners/episode_return_mean"] >= 150.0
    assert summary["best_eval_return"] == max(r["evaluation/env_runners/episode_return_mean"] for r in evaluated)
    algo.stop()


def test_cli_keeps_the_best_and_evaluate_says_it_uses_it(tmp_path):
    run = tmp_path / "run"
    train = [
        sys.executable, "-m", "tripod.cli", "train", "ppo", "CartPole-v1", "--seed", "0", "--quiet",
        "--out", str(run), "--eval-every", "2", "--stop-iters", "4", "--eval-episodes", "0",
    ]  # fmt: skip
    out = subprocess.run(train, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Best checkpoint: " in out.stdout and (run / "checkpoints" / "best" / "metadata.json").is_file()
    evaluate = [sys.executable, "-m", "tripod.cli", "evaluate", str(run), "--episodes", "2"]
    out = subprocess.run(evaluate, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    record = json.loads((run / "checkpoints" / "best.json").read_text())
    assert f"Using the run's best checkpoint {run / 'checkpoints' / 'best'} (greedy return " in out.stdout
    assert f"at iteration {record['iteration']})" in out.stdout


@pytest.mark.parametrize("flag", ["--stop-eval-return", "--eval-every"])
def test_new_train_flags_are_checked(flag, tmp_path):
    bad = "nan" if flag == "--stop-eval-return" else "0"
    cmd = [sys.executable, "-m", "tripod.cli", "train", "ppo", "CartPole-v1", flag, bad, "--out", str(tmp_path / "r")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and flag in out.stderr
