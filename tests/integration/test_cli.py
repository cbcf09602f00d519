"""The ``tripod`` command line, run as ``python -m tripod.cli`` in subprocesses."""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tripod.algorithms.presets import get_preset, list_presets
from tripod.algorithms.registry import (
    UnknownAlgorithmError,
    algorithm_name,
    get_config_class,
    known_algorithms,
)
from tripod.cli import CliError, main, parse_overrides

TINY = [
    "--num-envs", "2",
    "--set", "train_batch_size_per_learner=500",
    "--set", "minibatch_size=100",
    "--set", "num_epochs=1",
]  # fmt: skip


def tripod(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tripod.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    run = tmp_path_factory.mktemp("cli") / "run"
    proc = tripod(
        "train", "ppo", "CartPole-v1", "--stop-steps", 2000, "--seed", 0, "--out", run,
        "--checkpoint-every", 1, "--keep-checkpoints", 2, "--eval-episodes", 3, *TINY,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return run, proc


def test_train_writes_the_run_directory(trained_run):
    run, proc = trained_run
    assert "tuned preset" in proc.stdout and "Stopped by steps after 4 iterations" in proc.stdout
    assert "Traceback" not in proc.stderr
    rows = metrics(run)
    assert [r["training_iteration"] for r in rows] == [1, 2, 3, 4]
    assert [r["num_env_steps_sampled_lifetime"] for r in rows] == [500, 1000, 1500, 2000]
    assert "learners/default_policy/policy_loss" in rows[-1]
    assert isinstance(rows[-1]["env_runners/episode_return_mean"], float)

    with open(run / "progress.csv", newline="") as f:
        csv_rows = list(csv.DictReader(f))
    assert [int(r["training_iteration"]) for r in csv_rows] == [1, 2, 3, 4]
    assert "env_runners/episode_return_mean" in csv_rows[0]

    config = json.loads((run / "config.json").read_text())
    assert config["env"] == "CartPole-v1" and config["train_batch_size_per_learner"] == 500
    assert config["num_envs_per_env_runner"] == 2 and config["seed"] == 0
    assert config["model_config"] == {"fcnet_hiddens": [64, 64]}  # from the preset

    result = json.loads((run / "result.json").read_text())
    assert result["stopped_by"] == "steps"
    assert result["iterations"] == 4 and result["env_steps"] == 2000
    assert result["eval_episodes"] == 3
    assert 8 <= result["eval_return_mean"] <= 500 and result["eval_return_std"] >= 0
    assert result["train_return_mean"] == rows[-1]["env_runners/episode_return_mean"]
    assert result["wall_s"] > 0
    assert Path(result["checkpoint"]).name == "iter_000004"

    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert checkpoints == ["iter_000003", "iter_000004"]  # --keep-checkpoints 2
    assert (run / "checkpoints" / "iter_000004" / "metadata.json").is_file()
    assert list(run.glob("events.out.tfevents.*"))
    assert (run / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_prints_return(trained_run, capsys):
    run, _ = trained_run
    assert main(["evaluate", str(run / "checkpoints" / "iter_000004"), "--episodes", "2", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Return ") and "over 2 greedy episodes" in out
    assert float(out.split()[1]) >= 8  # a CartPole episode lasts at least ~8 steps


def test_export_writes_a_loadable_module(trained_run, tmp_path):
    import torch

    from tripod.core.rl_module.rl_module import RLModule

    run, _ = trained_run
    assert main(["export", str(run), "--out", str(tmp_path / "module")]) == 0
    module = RLModule.from_checkpoint(tmp_path / "module")
    out = module.forward_inference({"obs": torch.zeros(3, 4)})
    assert out["action_dist_inputs"].shape == (3, 2)


def test_resume_continues_counters_and_files(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run[0], run)
    before = metrics(run)
    proc = tripod("train", "--resume", run, "--stop-steps", 3000, "--eval-episodes", 1, "--quiet")
    assert proc.returncode == 0, proc.stderr
    after = metrics(run)
    assert after[: len(before)] == before
    resumed = after[len(before) :]
    assert [r["training_iteration"] for r in resumed] == [5, 6]
    steps = resumed[0]["num_env_steps_sampled_lifetime"]
    assert steps > before[-1]["num_env_steps_sampled_lifetime"]
    with open(run / "progress.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 6
    result = json.loads((run / "result.json").read_text())
    assert result["resumed"] is True and result["iterations"] == 6 and result["env_steps"] == 3000
    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert checkpoints == ["iter_000003", "iter_000004", "iter_000006"]  # default --keep-checkpoints 3


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_saves_checkpoint_and_result(tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "tripod.cli", "train", "ppo", "CartPole-v1", "--stop-steps", "10000000",
           "--out", str(run), "--checkpoint-every", "0", *TINY]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while not ((run / "metrics.jsonl").is_file() and (run / "metrics.jsonl").read_text().strip()):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no iteration finished in time"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    result = json.loads((run / "result.json").read_text())
    assert result["stopped_by"] == "interrupt"
    assert result["eval_return_mean"] is None
    checkpoint = Path(result["checkpoint"])
    assert checkpoint.name == f"iter_{result['iterations']:06d}"
    assert (checkpoint / "metadata.json").is_file()
    assert len(metrics(run)) == result["iterations"]


def user_error(capsys, *argv) -> str:
    """Run ``main(argv)`` in this process; assert exit code 2 and return the one-line message."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tripod: error: ") and err.count("\n") == 1, err
    return err


def test_train_refuses_to_mix_runs_in_one_directory(trained_run, capsys):
    err = user_error(capsys, "train", "ppo", "CartPole-v1", "--out", trained_run[0])
    assert "already holds a run" in err and "--resume" in err


def test_bad_set_key_is_a_one_line_error(capsys):
    err = user_error(capsys, "train", "ppo", "CartPole-v1", "--set", "lrr=0.1")
    assert "has no setting 'lrr'" in err and "Did you mean 'lr'" in err


def test_bad_set_value_is_a_one_line_error(capsys):
    err = user_error(capsys, "train", "ppo", "CartPole-v1", "--no-preset", "--set", "gamma=2")
    assert "gamma must be a number in [0, 1], got 2" in err
    err = user_error(capsys, "train", "pg", "CartPole-v1", "--set", "minibatch_size=5000")
    assert "minibatch_size (5000) is larger than train_batch_size_per_learner" in err


def test_unknown_env_is_a_one_line_error(capsys):
    err = user_error(capsys, "train", "ppo", "CartPol-v1")
    assert "Unknown env 'CartPol-v1'" in err and "'CartPole-v1'" in err


def test_evaluate_missing_checkpoint_is_a_one_line_error(tmp_path, capsys):
    assert "no checkpoint found" in user_error(capsys, "evaluate", tmp_path)


def test_resume_without_checkpoint_is_a_one_line_error(tmp_path, capsys):
    assert "no checkpoint in" in user_error(capsys, "train", "--resume", tmp_path)
    assert "--out cannot be combined" in user_error(capsys, "train", "--resume", tmp_path, "--out", tmp_path)


def test_unknown_algorithm_lists_known_ones():
    # In a subprocess: the real exit code and stderr, with no traceback.
    proc = tripod("train", "ppp", "CartPole-v1")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "unknown algorithm 'ppp'" in proc.stderr and "Did you mean 'ppo'" in proc.stderr
    assert "Known algorithms: dqn, pg, ppo, sac" in proc.stderr


def test_version():
    proc = tripod("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("tripod ")


def test_parse_overrides_values_and_dotted_keys():
    base = {"model_config": {"fcnet_hiddens": [64, 64], "fcnet_activation": "tanh"}}
    values = parse_overrides(
        [
            "lr=0.001",
            "grad_clip=None",
            "use_critic=false",
            "vectorize_mode=sync",
            "model_config.fcnet_hiddens=[32]",
        ],
        base,
    )
    assert values == {
        "lr": 0.001,
        "grad_clip": None,
        "use_critic": False,
        "vectorize_mode": "sync",
        "model_config": {"fcnet_hiddens": [32], "fcnet_activation": "tanh"},
    }
    assert base["model_config"]["fcnet_hiddens"] == [64, 64]  # not modified
    with pytest.raises(CliError, match="key=value"):
        parse_overrides(["lr"], {})
    with pytest.raises(CliError, match="not a dict"):
        parse_overrides(["lr.x=1"], {"lr": 0.1})


def test_registry_and_presets():
    assert {"ppo", "pg"} <= set(known_algorithms())
    assert get_config_class("PPO").__name__ == "PPOConfig"
    assert algorithm_name(get_config_class("pg")) == "pg"
    with pytest.raises(UnknownAlgorithmError, match="Known algorithms: .*ppo"):
        get_config_class("nope")
    assert get_preset("ppo", "NoSuchEnv-v0") is None
    for algo, env in list_presets():
        config = get_config_class(algo)().environment(env).update_from_dict(get_preset(algo, env))
        config.validate()
    preset = get_preset("ppo", "CartPole-v1")
    preset["model_config"]["fcnet_hiddens"].append(1)
    assert get_preset("ppo", "CartPole-v1")["model_config"]["fcnet_hiddens"] == [64, 64]


def test_help_does_not_import_torch():
    code = "import sys; from tripod import cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
