"""Which checkpoint a command means: a checkpoint, a run, ``RUN/checkpoints``, or ``best``.

    resolve_checkpoint_arg("runs/x")                   # checkpoints/best if the run has one, else the newest
    resolve_checkpoint_arg("runs/x/checkpoints")       # the same
    resolve_checkpoint_arg("runs/x/checkpoints/iter_000040")
    resolve_checkpoint_arg("runs/x/best")              # the best checkpoint (see best_checkpoint)
    resolve_checkpoint_arg("runs/x/checkpoints/best")  # the same
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from tripod.io.checkpoint import METADATA_FILE, CheckpointError
from tripod.run.run_dir import CHECKPOINT_PATTERN, CheckpointManager, resolve_checkpoint

__all__ = ["BEST", "best_checkpoint", "resolve_checkpoint_arg"]

BEST = "best"
RETURN_KEY = "env_runners/episode_return_mean"


def resolve_checkpoint_arg(path: str | os.PathLike) -> Path:
    """The checkpoint ``path`` names: a checkpoint directory, a run directory or its
    ``checkpoints`` directory (the newest checkpoint), or ``RUN/best`` / ``RUN/checkpoints/best``
    (:func:`best_checkpoint`), unless a directory of that name exists.

    Raises:
        CheckpointError: If ``path`` names no checkpoint.
    """
    path = Path(path)
    if path.name == BEST and not path.exists():
        run = path.parent.parent if path.parent.name == "checkpoints" else path.parent
        return best_checkpoint(run)
    if not (path / METADATA_FILE).is_file():  # a run (or its checkpoints directory): its best, if kept
        for checkpoints in (path / "checkpoints", path):
            best = CheckpointManager(checkpoints).best()
            if best is not None:
                return best
    return resolve_checkpoint(path)


def best_checkpoint(run_dir: str | os.PathLike) -> Path:
    """The run's best checkpoint: ``checkpoints/best``, kept by training with periodic greedy
    evaluation (the best greedy return so far); without it, of the checkpoints the run kept,
    the one saved at the iteration with the highest mean training return
    (``env_runners/episode_return_mean`` in ``metrics.jsonl``), the newest on a tie.

    Raises:
        CheckpointError: If the run has no checkpoint, or no return was logged for any of them.
    """
    run_dir = Path(run_dir)
    kept_best = CheckpointManager(run_dir / "checkpoints").best()
    if kept_best is not None:
        return kept_best
    checkpoints = CheckpointManager(run_dir / "checkpoints").list()
    if not checkpoints:
        raise CheckpointError(f"{run_dir / BEST}: {run_dir} holds no checkpoints/iter_* to choose from.")
    returns = _returns_by_iteration(run_dir / "metrics.jsonl")
    scored = []
    for checkpoint in checkpoints:
        value = returns.get(int(CHECKPOINT_PATTERN.match(checkpoint.name).group(1)))
        if value is not None:
            scored.append((value, checkpoint.name, checkpoint))
    if not scored:
        raise CheckpointError(
            f"{run_dir / BEST}: no return was logged for the kept checkpoints in {run_dir}/metrics.jsonl "
            "(no episode had ended yet); name a checkpoint instead."
        )
    return max(scored)[2]


def _returns_by_iteration(metrics: Path) -> dict[int, float]:
    returns: dict[int, float] = {}
    if not metrics.is_file():
        return returns
    for line in metrics.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
        value = row.get(RETURN_KEY) if isinstance(row, dict) else None
        if isinstance(value, int | float) and math.isfinite(value) and "training_iteration" in row:
            returns[int(row["training_iteration"])] = float(value)
    return returns
