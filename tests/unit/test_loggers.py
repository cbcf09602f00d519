"""Run outputs: result flattening, JSONL/CSV/TensorBoard loggers and the run directory
(plots: tests/integration/test_plots.py)."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

from tripod.run.loggers import CsvLogger, JsonlLogger, MultiLogger, TensorBoardLogger, flatten_result
from tripod.run.run_dir import CheckpointManager, RunDir, default_run_dir, resolve_checkpoint


def _result(iteration: int, ret: float = 10.0, **extra) -> dict:
    return {
        "training_iteration": iteration,
        "num_env_steps_sampled_lifetime": 100 * iteration,
        "env_runners": {"episode_return_mean": ret, "episode_len_mean": 20.5},
        "learners": {"default_policy": {"policy_loss": np.float32(0.25), "lr": 3e-4}},
        **extra,
    }


def test_flatten_result_joins_keys_and_keeps_only_numbers():
    flat = flatten_result(
        {
            "a": {"b": {"c": 1}, "t": torch.tensor(2.5), "arr": np.array([3])},
            "n": np.int64(7),
            "flag": np.bool_(True),
            "episode_returns": [1.0, 2.0],
            "name": "x",
            "vec": np.zeros(3),
        }
    )
    assert flat == {"a/b/c": 1, "a/t": 2.5, "a/arr": 3, "n": 7, "flag": True}
    assert type(flat["n"]) is int and type(flat["a/t"]) is float
    assert flatten_result(flat) == flat  # idempotent


def test_jsonl_logger_writes_strict_json_and_appends(tmp_path):
    path = tmp_path / "sub" / "metrics.jsonl"
    with JsonlLogger(path) as logger:
        logger.log(_result(1, ret=float("nan")))
        logger.log(_result(2, ret=12.0))
    with JsonlLogger(path) as logger:  # resume: append
        logger.log(_result(3, ret=14.0))
    lines = path.read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert "NaN" not in lines[0]
    assert rows[0]["env_runners/episode_return_mean"] is None
    assert [r["training_iteration"] for r in rows] == [1, 2, 3]
    assert rows[2]["learners/default_policy/policy_loss"] == 0.25
    with JsonlLogger(path, append=False) as logger:
        logger.log(_result(9))
    assert len(path.read_text().splitlines()) == 1


def test_csv_logger_widens_header_when_keys_appear_later(tmp_path):
    path = tmp_path / "progress.csv"
    logger = CsvLogger(path)
    logger.log(_result(1))
    logger.log(_result(2, evaluation={"env_runners": {"episode_return_mean": 50.0}}))
    logger.close()
    logger = CsvLogger(path)  # resume: header is read back
    logger.log(_result(3, ret=float("nan")))
    logger.close()
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["training_iteration"] for r in rows] == ["1", "2", "3"]
    assert rows[0]["evaluation/env_runners/episode_return_mean"] == ""
    assert rows[1]["evaluation/env_runners/episode_return_mean"] == "50.0"
    assert rows[2]["env_runners/episode_return_mean"] == ""
    with open(path, newline="") as f:
        assert all(len(r) == len(rows[0]) for r in csv.reader(f))


def test_tensorboard_logger_writes_event_file(tmp_path):
    pytest.importorskip("tensorboard")
    logger = TensorBoardLogger(tmp_path)
    logger.log(_result(1))
    logger.close()
    assert list(tmp_path.glob("events.out.tfevents.*"))


def test_multi_logger_fans_out_and_skips_none(tmp_path):
    logger = MultiLogger([JsonlLogger(tmp_path / "m.jsonl"), None, CsvLogger(tmp_path / "p.csv")])
    logger.log(_result(1))
    logger.close()
    assert json.loads((tmp_path / "m.jsonl").read_text())["training_iteration"] == 1
    assert (tmp_path / "p.csv").read_text().startswith("env_runners/episode_len_mean")


class _FakeAlgo:
    def save_to_path(self, path):
        path.mkdir(parents=True)
        (path / "metadata.json").write_text('{"format_version": 1, "kind": "algorithm"}')
        return path


def test_checkpoint_manager_keeps_last_n(tmp_path):
    manager = CheckpointManager(tmp_path / "checkpoints", keep=2)
    assert manager.latest() is None
    for it in (5, 10, 15, 100):
        manager.save(_FakeAlgo(), it)
    (tmp_path / "checkpoints" / "iter_000200").mkdir()  # no metadata: not a checkpoint
    assert [p.name for p in manager.list()] == ["iter_000015", "iter_000100"]
    assert manager.latest().name == "iter_000100"
    assert resolve_checkpoint(tmp_path) == manager.latest()
    assert resolve_checkpoint(manager.latest()) == manager.latest()
    with pytest.raises(Exception, match="no checkpoint found"):
        resolve_checkpoint(tmp_path / "checkpoints" / "iter_000200")


def test_run_dir_truncates_metrics_after_checkpoint_iteration(tmp_path):
    run = RunDir(tmp_path / "run")
    logger, _ = run.open_loggers(tensorboard=False)
    for i in range(1, 5):
        logger.log(_result(i))
    logger.close()
    run.truncate_metrics(2)
    rows = [json.loads(line) for line in run.metrics_path.read_text().splitlines()]
    assert [r["training_iteration"] for r in rows] == [1, 2]
    with open(run.csv_path, newline="") as f:
        assert [r["training_iteration"] for r in csv.DictReader(f)] == ["1", "2"]
    run.write_result({"eval_return_mean": float("nan"), "path": tmp_path, "x": [math.inf]})
    assert run.read_result() == {"eval_return_mean": None, "path": str(tmp_path), "x": [None]}


def test_default_run_dir_is_unique_and_safe(tmp_path):
    first = default_run_dir("ppo", "ALE/Pong-v5", base=tmp_path)
    assert first.parent == tmp_path and first.name.startswith("ppo-ALE_Pong-v5-")
    first.mkdir()
    second = default_run_dir("ppo", "ALE/Pong-v5", base=tmp_path)
    assert second != first and not second.exists()


class _TrainingFake:
    """The parts of Algorithm that train_run uses; fails at iteration ``fail_at``."""

    class config:  # noqa: N801
        seed = 7

        @staticmethod
        def to_dict():
            return {"env": "Fake-v0"}

    def __init__(self, fail_at=None):
        self.iteration, self.num_env_steps_sampled_lifetime, self.time_total_s = 0, 0, 0.0
        self.fail_at = fail_at

    def train(self):
        if self.iteration + 1 == self.fail_at:
            raise RuntimeError("boom")
        self.iteration += 1
        self.num_env_steps_sampled_lifetime += 100
        return _result(self.iteration, ret=5.0 * self.iteration)

    def save_to_path(self, path):
        return _FakeAlgo().save_to_path(path)

    def evaluate(self, n):
        return {"env_runners": {"episode_return_mean": 9.0, "episode_return_std": 0.5, "num_episodes": n}}


def test_train_run_stops_checkpoints_evaluates_and_summarises(tmp_path):
    from tripod.run.train_run import StopCriteria, train_run

    run = RunDir(tmp_path / "run", keep_checkpoints=2)
    summary = train_run(
        _TrainingFake(), run, StopCriteria(episode_return=20.0, iterations=50), checkpoint_every=3
    )
    assert summary["stopped_by"] == "return" and summary["iterations"] == 4  # 5 * 4 >= 20
    assert summary["env_steps"] == 400 and summary["train_return_mean"] == 20.0
    assert summary["eval_return_mean"] == 9.0 and summary["eval_episodes"] == 10
    assert [p.name for p in run.checkpoints.list()] == ["iter_000003", "iter_000004"]
    assert json.loads(run.result_path.read_text())["checkpoint"] == summary["checkpoint"]
    assert json.loads(run.config_path.read_text()) == {"env": "Fake-v0"}
    assert len(run.metrics_path.read_text().splitlines()) == 4


def test_train_run_records_an_error_and_reraises(tmp_path):
    from tripod.run.train_run import StopCriteria, train_run

    run = RunDir(tmp_path / "run")
    with pytest.raises(RuntimeError, match="boom"):
        train_run(_TrainingFake(fail_at=3), run, StopCriteria(iterations=10), checkpoint_every=0)
    result = json.loads(run.result_path.read_text())
    assert result["stopped_by"] == "error" and "boom" in result["error"] and result["iterations"] == 2
    assert len(run.metrics_path.read_text().splitlines()) == 2
