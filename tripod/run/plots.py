"""Learning-curve plots from a run's ``metrics.jsonl`` (needs matplotlib).

matplotlib is imported only when a plot is drawn, and only its object-oriented
Agg canvas is used, so plotting never changes the user's pyplot backend.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path

STEP_KEY = "num_env_steps_sampled_lifetime"
RETURN_KEY = "env_runners/episode_return_mean"
EVAL_RETURN_KEY = "evaluation/env_runners/episode_return_mean"


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The rows of a ``metrics.jsonl`` file; a truncated last line (a crash mid-write) is skipped."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def _points(rows: list[dict], y_key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for row in rows:
        x, y = row.get(STEP_KEY), row.get(y_key)
        if isinstance(x, int | float) and isinstance(y, int | float) and math.isfinite(y):
            xs.append(float(x))
            ys.append(float(y))
    return xs, ys


def plot_learning_curve(
    metrics_jsonl_path: str | os.PathLike,
    out_png: str | os.PathLike,
    *,
    title: str | None = None,
    eval_points: Iterable[tuple[float, float]] = (),
) -> Path:
    """Plot training return (and evaluation returns, if any) against env steps.

    Args:
        metrics_jsonl_path: A ``metrics.jsonl`` written by :class:`~tripod.run.loggers.JsonlLogger`.
        out_png: The image to write.
        title: The plot title (default: none).
        eval_points: Extra ``(env_steps, return)`` evaluation points, e.g. the final
            greedy evaluation, drawn with the ``evaluation/...`` points of the file.

    Returns:
        The path of the written image.

    Raises:
        ImportError: If matplotlib is not installed (``pip install matplotlib``).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError("Plotting needs matplotlib: pip install matplotlib") from err

    rows = read_metrics(metrics_jsonl_path)
    train_x, train_y = _points(rows, RETURN_KEY)
    eval_x, eval_y = _points(rows, EVAL_RETURN_KEY)
    for x, y in eval_points:
        if math.isfinite(y):
            eval_x.append(float(x))
            eval_y.append(float(y))

    fig = Figure(figsize=(7, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(train_x, train_y, label="training return (mean of last episodes)", color="tab:blue")
    if eval_x:
        ax.plot(eval_x, eval_y, "o", label="greedy evaluation", color="tab:orange")
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode return")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    if train_x or eval_x:
        ax.legend(loc="best")
    else:
        ax.text(0.5, 0.5, "no finished episodes yet", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out
