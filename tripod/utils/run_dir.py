"""A training run's directory: config, metrics, checkpoints, plot and final result.

Layout:

    runs/ppo-CartPole-v1-20250101-120000/
        config.json          the algorithm config (``config.to_dict()``)
        metrics.jsonl        one flat JSON object per iteration
        progress.csv         the same rows as CSV
        events.out.tfevents.*  TensorBoard scalars (when tensorboard is installed)
        learning_curve.png   return vs env steps (when matplotlib is installed)
        checkpoints/iter_000010/ ...  the last N checkpoints
        result.json          the run's summary (evaluation return, steps, stop reason, ...)
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from tripod.utils.checkpoint import METADATA_FILE, CheckpointError, read_json, write_json
from tripod.utils.loggers import CsvLogger, JsonlLogger, MultiLogger, TensorBoardLogger

CHECKPOINT_PATTERN = re.compile(r"^iter_(\d+)$")


class CheckpointManager:
    """Saves algorithm checkpoints as ``<directory>/iter_000010`` and keeps the newest ``keep``.

    Older checkpoints are deleted only after the new one is completely written.

    Args:
        directory: Where the checkpoints go (created on the first save).
        keep: How many checkpoints to keep (None: all).
    """

    def __init__(self, directory: str | os.PathLike, *, keep: int | None = None) -> None:
        if keep is not None and keep < 1:
            raise ValueError(f"keep must be None or >= 1, got {keep}")
        self.directory = Path(directory)
        self.keep = keep

    def list(self) -> list[Path]:
        """The checkpoints, oldest first (by iteration number)."""
        if not self.directory.is_dir():
            return []
        found = []
        for child in self.directory.iterdir():
            match = CHECKPOINT_PATTERN.match(child.name)
            if match and (child / METADATA_FILE).is_file():
                found.append((int(match.group(1)), child))
        return [path for _, path in sorted(found)]

    def latest(self) -> Path | None:
        """The newest checkpoint, or None."""
        checkpoints = self.list()
        return checkpoints[-1] if checkpoints else None

    def save(self, algo: Any, iteration: int) -> Path:
        """Write ``algo``'s checkpoint for ``iteration``, then delete the ones beyond ``keep``."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"iter_{iteration:06d}"
        algo.save_to_path(path)
        if self.keep is not None:
            for old in self.list()[: -self.keep]:
                if old != path:
                    shutil.rmtree(old, ignore_errors=True)
        return path


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint directory itself, or the newest checkpoint of a run directory.

    Raises:
        CheckpointError: If ``path`` holds neither.
    """
    path = Path(path)
    if (path / METADATA_FILE).is_file():
        return path
    for candidate in (path / "checkpoints", path):
        latest = CheckpointManager(candidate).latest()
        if latest is not None:
            return latest
    if not path.exists():
        raise CheckpointError(f"{path} does not exist.")
    raise CheckpointError(
        f"no checkpoint found at {path}: expected a checkpoint directory (with {METADATA_FILE}) "
        "or a run directory with checkpoints/iter_*."
    )


def default_run_dir(algo_name: str, env_id: str, *, base: str | os.PathLike = "runs") -> Path:
    """A new, unused ``<base>/<algo>-<env>-<YYYYmmdd-HHMMSS>`` path (not created)."""
    env_part = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(env_id)).strip("_") or "env"
    stem = f"{algo_name}-{env_part}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = Path(base) / stem, 1
    while path.exists():
        n += 1
        path = Path(base) / f"{stem}-{n}"
    return path


class RunDir:
    """The files of one training run (see the module docstring for the layout).

    Args:
        path: The run directory (created if missing).
        keep_checkpoints: How many checkpoints to keep (None: all).
    """

    def __init__(self, path: str | os.PathLike, *, keep_checkpoints: int | None = None) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.config_path = self.path / "config.json"
        self.metrics_path = self.path / "metrics.jsonl"
        self.csv_path = self.path / "progress.csv"
        self.plot_path = self.path / "learning_curve.png"
        self.result_path = self.path / "result.json"
        self.checkpoints = CheckpointManager(self.path / "checkpoints", keep=keep_checkpoints)

    def write_config(self, config_dict: dict[str, Any]) -> None:
        """Write ``config.json``."""
        write_json(self.config_path, config_dict)

    def write_result(self, result: dict[str, Any]) -> None:
        """Write ``result.json`` atomically (NaN becomes null)."""
        write_json(self.result_path, _json_safe(result))

    def read_result(self) -> dict[str, Any] | None:
        """The previous ``result.json``, or None."""
        try:
            return read_json(self.result_path) if self.result_path.is_file() else None
        except CheckpointError:
            return None

    def open_loggers(self, *, tensorboard: bool = True) -> tuple[MultiLogger, bool]:
        """Loggers appending to ``metrics.jsonl``, ``progress.csv`` and (if available) TensorBoard.

        Returns:
            The logger and whether TensorBoard logging is on.
        """
        tb = TensorBoardLogger.create(self.path) if tensorboard else None
        loggers = [JsonlLogger(self.metrics_path), CsvLogger(self.csv_path), tb]
        return MultiLogger(loggers), tb is not None

    def truncate_metrics(self, iteration: int) -> None:
        """Drop metric rows after ``iteration`` (written after the checkpoint a resume starts from)."""
        if self.metrics_path.is_file():
            kept = []
            for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash
                if row.get("training_iteration", 0) <= iteration:
                    kept.append(line + "\n")
            _replace_text(self.metrics_path, "".join(kept))
        if self.csv_path.is_file():
            with open(self.csv_path, newline="", encoding="utf-8") as f:
                rows = list(csv.reader(f))
            if rows and "training_iteration" in rows[0]:
                col = rows[0].index("training_iteration")
                rows = rows[:1] + [r for r in rows[1:] if _number(r, col) <= iteration]
                buffer = io.StringIO()
                csv.writer(buffer).writerows(rows)
                _replace_text(self.csv_path, buffer.getvalue())


def _number(row: list[str], col: int) -> float:
    try:
        return float(row[col])
    except (IndexError, ValueError):
        return float("inf")


def _replace_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8", newline="")
    os.replace(tmp, path)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
