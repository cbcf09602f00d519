"""W&B and MLflow loggers against the real libraries, offline: W&B ``mode="offline"`` in a temp
``WANDB_DIR`` (read back from its run file with W&B's own protobuf records), MLflow on its
default local backend (SQLite) in a temp directory, and on a ``file:`` store (which MLflow 3.17
keeps only behind ``MLFLOW_ALLOW_FILE_STORE=true``), read back with ``MlflowClient``. Also ``--logger``."""

from __future__ import annotations

import glob
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tripod.algorithms.ppo import PPOConfig
from tripod.run.external_loggers import LoggerSetupError, check_logger_names, open_external_loggers
from tripod.run.run_dir import RunDir
from tripod.run.train_run import StopCriteria, train_run

wandb = pytest.importorskip("wandb")
mlflow = pytest.importorskip("mlflow")

TINY = {"train_batch_size_per_learner": 200, "minibatch_size": 100, "num_epochs": 1}


@pytest.fixture
def offline(tmp_path, monkeypatch) -> Path:
    """W&B offline and MLflow on a local file store, both under ``tmp_path``."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-dir"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


def wandb_records(run_file: Path) -> list:
    """The records of a W&B run file (W&B's block log of ``wandb_internal_pb2.Record`` messages)."""
    from wandb.proto import wandb_internal_pb2

    data, block = run_file.read_bytes(), 32768
    assert data[:4] == b":W&B"
    records, index, pending = [], 7, b""
    while index + 7 <= len(data):
        left = block - index % block
        if left < 7:
            index += left
            continue
        _, length, kind = struct.unpack("<IHB", data[index : index + 7])
        if length == 0 and kind == 0:  # zero padding to the end of the block
            index += left
            continue
        pending += data[index + 7 : index + 7 + length]
        index += 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def wandb_run(wandb_dir: Path) -> tuple[dict, list[dict], dict]:
    """The config, history rows and summary of the one offline run under ``wandb_dir``."""
    (run_file,) = glob.glob(str(wandb_dir / "wandb" / "offline-run-*" / "run-*.wandb"))
    config, history, summary = {}, [], {}
    for record in wandb_records(Path(run_file)):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            config.update({i.key: json.loads(i.value_json) for i in record.run.config.update})
        elif kind == "config":
            config.update({i.key: json.loads(i.value_json) for i in record.config.update})
        elif kind == "history":
            history.append({"/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in record.history.item})
        elif kind == "summary":
            summary.update({"/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in record.summary.update})
    return config, history, summary


def train_tiny(run_path: Path, names: list[str]) -> dict:
    algo = PPOConfig().environment("CartPole-v1").training(**TINY).debugging(seed=0).build_algo()
    try:
        loggers = open_external_loggers(names, run_name=run_path.name, run_dir=run_path)
        return train_run(
            algo, RunDir(run_path), StopCriteria(iterations=3), eval_episodes=0, loggers=loggers
        )
    finally:
        algo.stop()


def test_wandb_offline_gets_config_metrics_by_env_step_and_the_checkpoint(offline):
    summary = train_tiny(offline / "run", ["wandb"])
    config, history, wb_summary = wandb_run(offline / "wandb-dir")
    assert config["lr"] == PPOConfig().lr and config["train_batch_size_per_learner"] == 200
    assert config["env"] == "CartPole-v1" and config["model_config"] == {}
    assert config["metrics_window"] == PPOConfig().metrics_window
    assert [row["_step"] for row in history] == [200, 400, 600]  # the step is env steps
    assert [row["training_iteration"] for row in history] == [1, 2, 3]
    rows = [json.loads(line) for line in (offline / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [h["env_runners/episode_return_mean"] for h in history] == pytest.approx(
        [r["env_runners/episode_return_mean"] for r in rows]
    )
    assert wb_summary["checkpoint"] == str(Path(summary["checkpoint"]).resolve())


def test_mlflow_local_store_gets_params_metrics_by_env_step_and_the_checkpoint_tag(offline):
    from mlflow.tracking import MlflowClient

    summary = train_tiny(offline / "run", ["mlflow"])
    client = MlflowClient(tracking_uri=f"sqlite:///{offline / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("tripod").experiment_id])
    assert run.info.run_name == "run" and run.info.status == "FINISHED"
    assert run.data.params["lr"] == json.dumps(PPOConfig().lr)
    assert run.data.params["train_batch_size_per_learner"] == "200"
    assert run.data.params["env"] == "CartPole-v1"
    assert run.data.params["model_config"] == "{}" and run.data.params["seed"] == "0"
    history = client.get_metric_history(run.info.run_id, "env_runners/episode_return_mean")
    assert [m.step for m in history] == [200, 400, 600]
    rows = [json.loads(line) for line in (offline / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m.value for m in history] == pytest.approx([r["env_runners/episode_return_mean"] for r in rows])
    iters = client.get_metric_history(run.info.run_id, "training_iteration")
    assert [(m.step, m.value) for m in iters] == [(200, 1.0), (400, 2.0), (600, 3.0)]
    assert run.data.tags["tripod.checkpoint"] == str(Path(summary["checkpoint"]).resolve())


def test_logger_names_are_checked_before_anything_starts():
    assert check_logger_names(["wandb", " MLflow", "wandb"]) == ["wandb", "mlflow"]
    with pytest.raises(LoggerSetupError, match=r"unknown logger 'neptune'; the loggers are: mlflow, wandb"):
        check_logger_names(["neptune"])


def test_a_missing_logger_package_names_the_extra(monkeypatch, tmp_path, capsys):
    import importlib.util

    from tripod.cli import main

    real = importlib.util.find_spec  # as if wandb were not installed (the real one is, for the other tests)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(LoggerSetupError, match=r"pip install 'tripod-rl\[wandb\]'"):
        check_logger_names(["wandb"])
    assert main(["train", "ppo", "CartPole-v1", "--out", str(tmp_path / "run"), "--logger", "mlflow,wandb"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "tripod: error: --logger: the wandb logger needs the wandb package: pip install 'tripod-rl[wandb]'"
    ]
    assert not (tmp_path / "run").exists()


def tripod(*args: str, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-m", "tripod.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**{k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "MLFLOW_"))}, **(env or {})},
    )


def test_cli_logger_wandb_and_mlflow_log_a_training_run(tmp_path, monkeypatch):
    env = {
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "MLFLOW_TRACKING_URI": (tmp_path / "mlruns").as_uri(),
        "MLFLOW_ALLOW_FILE_STORE": "true",
    }
    run = tmp_path / "run"
    proc = tripod(
        "train", "ppo", "CartPole-v1", "--stop-iters", 2, "--out", run, "--eval-episodes", 0,
        "--set", "train_batch_size_per_learner=200", "--set", "minibatch_size=100", "--num-envs", 2,
        "--logger", "wandb,mlflow", env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    _, history, wb_summary = wandb_run(run)  # W&B's files go into the run directory
    assert [row["_step"] for row in history] == [200, 400]
    assert wb_summary["checkpoint"].endswith("iter_000002")

    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # reading the file store back needs it too
    client = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    (found,) = client.search_runs([client.get_experiment_by_name("tripod").experiment_id])
    assert found.info.run_name == "run" and found.data.params["train_batch_size_per_learner"] == "200"
    assert [m.step for m in client.get_metric_history(found.info.run_id, "training_iteration")] == [200, 400]


def test_cli_unknown_logger_is_one_line_naming_the_valid_ones(tmp_path):
    proc = tripod("train", "ppo", "CartPole-v1", "--out", tmp_path / "run", "--logger", "wandb,tensorbord")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "tripod: error: --logger: unknown logger 'tensorbord'; the loggers are: mlflow, wandb "
        "(metrics.jsonl, progress.csv and TensorBoard are always written)."
    ]
    assert not (tmp_path / "run").exists()


def test_cli_a_logger_that_cannot_start_is_one_line(tmp_path, monkeypatch, capsys):
    from tripod.cli import main

    # MLflow 3.17 refuses its file store unless MLFLOW_ALLOW_FILE_STORE=true: a real start-up failure
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    argv = ["train", "ppo", "CartPole-v1", "--out", str(tmp_path / "run"), "--logger", "mlflow"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        "tripod: error: --logger: the mlflow logger could not start: MlflowException: The filesystem tracking "
        "backend"
    )
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_importing_the_external_loggers_module_imports_neither_library():
    code = (
        "import sys, tripod.run.external_loggers, tripod.run.train_run, tripod.cli; "
        "print([m for m in ('wandb', 'mlflow') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
