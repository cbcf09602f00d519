"""Learning-curve plots from a run's metrics.jsonl (imports matplotlib, 1-2 s; the loggers and
run directory are tested in tests/unit/test_loggers.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tripod.run.loggers import JsonlLogger


def _result(iteration: int, ret: float = 10.0, **extra) -> dict:
    return {
        "training_iteration": iteration,
        "num_env_steps_sampled_lifetime": 100 * iteration,
        "env_runners": {"episode_return_mean": ret, "episode_len_mean": 20.5},
        "learners": {"default_policy": {"policy_loss": np.float32(0.25), "lr": 3e-4}},
        **extra,
    }


def test_plot_learning_curve_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    from tripod.run.plots import plot_learning_curve, read_metrics

    with JsonlLogger(tmp_path / "metrics.jsonl") as logger:
        for i in range(1, 6):
            logger.log(_result(i, ret=float("nan") if i == 1 else 10.0 * i))
        logger.log(_result(6, evaluation={"env_runners": {"episode_return_mean": 70.0}}))
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"truncated": ')  # a crash mid-write must not break plotting
    assert len(read_metrics(tmp_path / "metrics.jsonl")) == 6
    out = plot_learning_curve(
        tmp_path / "metrics.jsonl", tmp_path / "curve.png", title="t", eval_points=[(600, 80)]
    )
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
