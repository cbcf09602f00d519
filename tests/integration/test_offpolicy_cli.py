"""``tripod train dqn|sac``: the same run directory, metrics, checkpoints, resume and evaluate as PPO."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SMALL = [
    "--num-envs", "1",
    "--set", "rollout_fragment_length=10",
    "--set", "min_sample_timesteps_per_iteration=250",
    "--set", "num_steps_sampled_before_learning_starts=200",
    "--set", "train_batch_size_per_learner=32",
    "--set", "replay_buffer_capacity=5000",
    "--set", "checkpoint_replay_buffer=true",
    "--set", "model_config.fcnet_hiddens=[32, 32]",
]  # fmt: skip


def tripod(*args, timeout: float = 180) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "tripod.cli", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module", params=[("dqn", "CartPole-v1", "qf_loss"), ("sac", "Pendulum-v1", "alpha")])
def trained(request, tmp_path_factory):
    algo, env, key = request.param
    run = tmp_path_factory.mktemp(algo) / "run"
    proc = tripod(
        "train", algo, env, "--stop-steps", 1000, "--seed", 0, "--out", run,
        "--checkpoint-every", 2, "--eval-episodes", 2, *SMALL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return algo, run, key, proc


def test_train_writes_metrics_checkpoints_and_plot(trained):
    algo, run, key, proc = trained
    assert "tuned preset" in proc.stdout and "Stopped by steps after 4 iterations" in proc.stdout
    rows = metrics(run)
    assert [r["num_env_steps_sampled_lifetime"] for r in rows] == [250, 500, 750, 1000]
    assert f"learners/default_policy/{key}" in rows[-1]
    assert rows[-1]["learners/default_policy/num_gradient_updates"] > 0
    result = json.loads((run / "result.json").read_text())
    assert result["stopped_by"] == "steps" and result["eval_episodes"] == 2
    checkpoint = Path(result["checkpoint"])
    assert checkpoint.name == "iter_000004" and (checkpoint / "replay_buffer.safetensors").is_file()
    assert (run / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    config = json.loads((run / "config.json").read_text())
    assert config["config_class"].endswith(f"{algo.upper()}Config")


def test_resume_continues_with_the_replay_buffer(trained, tmp_path):
    _, source, _, _ = trained
    run = tmp_path / "run"
    shutil.copytree(source, run)
    proc = tripod("train", "--resume", run, "--stop-steps", 1500, "--eval-episodes", 1, "--quiet")
    assert proc.returncode == 0, proc.stderr
    rows = metrics(run)
    assert [r["training_iteration"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[4]["learners/default_policy/replay_buffer_size"] == 1250  # 1000 restored + 250 new


def test_resume_with_a_missing_buffer_is_a_one_line_error(trained, tmp_path):
    _, source, _, _ = trained
    run = tmp_path / "run"
    shutil.copytree(source, run)
    (run / "checkpoints" / "iter_000004" / "replay_buffer.safetensors").unlink()
    proc = tripod("train", "--resume", run, "--stop-steps", 1500)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "has no replay buffer" in proc.stderr and "checkpoint_replay_buffer=false" in proc.stderr
    proc = tripod("train", "--resume", run, "--stop-steps", 1250, "--set", "checkpoint_replay_buffer=false")
    assert proc.returncode == 0, proc.stderr
    assert "is missing; training continues with an empty replay buffer" in proc.stderr


def test_evaluate_a_checkpoint(trained):
    _, run, _, _ = trained
    proc = tripod("evaluate", run, "--episodes", 2)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # Presets that evaluate periodically (SAC Pendulum) keep checkpoints/best, which evaluate uses and names.
    assert lines[-1].startswith("Return ") and "over 2 greedy episodes" in lines[-1]
    assert len(lines) == 1 or lines[0].startswith("Using the run's best checkpoint")
