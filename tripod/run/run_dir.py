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
        .lock                held (``flock``) while a run uses the directory

A run directory is locked while a run uses it (:meth:`RunDir.lock`): a second run
into the same directory fails at once with :class:`RunLockedError`. The lock is an
OS file lock, so a killed run never leaves a stale lock behind.
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
import uuid
from pathlib import Path
from typing import Any

from tripod.io.checkpoint import (
    METADATA_FILE,
    CheckpointError,
    CheckpointSaveError,
    checkpoint_kind,
    find_leftovers,
    read_json,
    recover_leftovers,
    write_json,
)
from tripod.run.loggers import CsvLogger, JsonlLogger, MultiLogger, TensorBoardLogger

try:  # POSIX; elsewhere run directories are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

CHECKPOINT_PATTERN = re.compile(r"^iter_(\d+)$")
#: The checkpoint with the best greedy evaluation return, and its record, in ``checkpoints/``.
BEST_NAME = "best"
BEST_RECORD = "best.json"
_LEFTOVER_PATTERN = re.compile(r"^\.(iter_\d+)\.(?:tmp|old)-")
_DISCARDED_PATTERN = re.compile(r"^\.iter_\d+\.del-[0-9a-f]+$")
LOCK_FILE = ".lock"
#: Entries that mark a directory as a tripod run (a new run may also go into an empty directory).
_RUN_MARKERS = (LOCK_FILE, "metrics.jsonl", "checkpoints", "result.json")


class RunDirError(Exception):
    """A run directory cannot be used: it cannot be created, or holds files that are not a tripod run."""


class RunLockedError(RunDirError):
    """Another process is using the run directory (it holds the directory's lock)."""


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
        """Write ``algo``'s checkpoint for ``iteration``, then delete the ones beyond ``keep``.

        Only complete algorithm checkpoints ``iter_NNNNNN`` are ever deleted, and only
        after the new one is complete; leftovers of interrupted saves are cleaned up
        (:meth:`recover`).

        Raises:
            CheckpointSaveError: If the checkpoint cannot be written (the message names
                the path and the OS error); nothing was deleted, ``algo`` is unchanged.
        """
        path = self.directory / f"iter_{iteration:06d}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            reason = err.strerror or str(err)
            if self.directory.exists() and not self.directory.is_dir():
                reason = "it is a file, not a directory"
            raise CheckpointSaveError(
                f"cannot write checkpoint {path}: {reason} ({self.directory})", path
            ) from err
        algo.save_to_path(path)
        if self.keep is not None:
            for old in self.list()[: -self.keep]:
                if old != path and checkpoint_kind(old) == "algorithm":
                    _discard(old)
        self.recover()
        return path

    # ------------------------------------------------------------------ the best checkpoint
    def best(self) -> Path | None:
        """``checkpoints/best`` (the checkpoint with the best greedy evaluation), or None."""
        path = self.directory / BEST_NAME
        return path if (path / METADATA_FILE).is_file() else None

    def best_record(self) -> dict[str, Any]:
        """``{"iteration": N, "eval_return_mean": R}`` of :meth:`best` (``{}`` without one, or when
        ``best.json`` does not describe the checkpoint that is there: a save cut short)."""
        best = self.best()
        try:
            record = json.loads((self.directory / BEST_RECORD).read_text(encoding="utf-8"))
            saved = json.loads((best / METADATA_FILE).read_text(encoding="utf-8"))["state"]["iteration"]
        except (OSError, ValueError, KeyError, TypeError):
            return {}
        if best is None or not isinstance(record, dict) or record.get("iteration") != saved:
            return {}
        return record

    def save_best(self, algo: Any, iteration: int, eval_return: float) -> Path:
        """Write ``algo`` as ``checkpoints/best`` (replacing the previous best) and record its greedy
        return in ``checkpoints/best.json``.

        Raises:
            CheckpointSaveError: If it cannot be written (the previous best stays).
        """
        path = self.directory / BEST_NAME
        self.directory.mkdir(parents=True, exist_ok=True)
        recover_leftovers(path)  # a best save cut short before
        algo.save_to_path(path)
        record = {"iteration": int(iteration), "eval_return_mean": float(eval_return)}
        _replace_text(self.directory / BEST_RECORD, json.dumps(record) + "\n")
        return path

    def recover(self) -> list[Path]:
        """Clean up after saves that were interrupted (killed, power loss); call it only under the run lock.

        For every checkpoint ``iter_N`` with leftovers ``.iter_N.tmp-*`` / ``.iter_N.old-*``:
        if ``iter_N`` is missing but a backup survives (a save died between its two
        renames), the backup is put back (with a warning); the leftovers are deleted
        once a complete checkpoint ``iter_M`` with ``M >= N`` exists. Nothing else in
        the directory is touched.

        Returns:
            The checkpoints that were put back.
        """
        if not self.directory.is_dir():
            return []
        for trash in self.directory.glob(".iter_*.del-*"):  # pruned checkpoints whose deletion was cut short
            if _DISCARDED_PATTERN.match(trash.name) and trash.is_dir() and not trash.is_symlink():
                shutil.rmtree(trash, ignore_errors=True)
        names = {m.group(1) for p in self.directory.iterdir() if (m := _LEFTOVER_PATTERN.match(p.name))}
        restored = []
        for name in sorted(names):
            target = self.directory / name
            if recover_leftovers(target) is not None:
                restored.append(target)
        latest = self.latest()
        newest = -1 if latest is None else int(CHECKPOINT_PATTERN.match(latest.name).group(1))
        for name in sorted(names):
            if not (self.directory / name).exists() and int(name.split("_")[1]) <= newest:
                for leftover in sum(find_leftovers(self.directory / name), []):
                    shutil.rmtree(leftover, ignore_errors=True)
        return restored


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
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except FileExistsError as err:
            raise RunDirError(
                f"{self.path} exists and is not a directory; choose another run directory."
            ) from err
        except OSError as err:
            raise RunDirError(
                f"cannot create run directory {self.path}: {err.strerror or err}"
                f"{f' ({err.filename})' if err.filename else ''}; choose another run directory."
            ) from err
        self._lock_fd: int | None = None
        self.config_path = self.path / "config.json"
        self.metrics_path = self.path / "metrics.jsonl"
        self.csv_path = self.path / "progress.csv"
        self.plot_path = self.path / "learning_curve.png"
        self.result_path = self.path / "result.json"
        self.checkpoints = CheckpointManager(self.path / "checkpoints", keep=keep_checkpoints)

    @property
    def locked(self) -> bool:
        """Whether this object holds the directory's lock."""
        return self._lock_fd is not None

    def lock(self) -> None:
        """Lock the directory for this run until :meth:`unlock` or the process ends.

        A directory that holds files but is not a tripod run is refused, so a run
        never mixes its files with others'. The lock is ``flock`` on ``.lock``; the OS
        releases it when the process dies, so a killed run leaves no stale lock.

        Raises:
            RunLockedError: If another process holds the lock.
            RunDirError: If the directory holds files that are not a tripod run.
        """
        if self._lock_fd is not None:
            return
        check_run_dir(self.path, existing_run_ok=True)
        try:
            fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise RunDirError(f"cannot create the lock file in {self.path}: {err.strerror or err}") from err
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                os.close(fd)
                raise _locked_error(self.path) from err
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def unlock(self) -> None:
        """Release the lock taken by :meth:`lock` (the ``.lock`` file stays: it marks a tripod run)."""
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            os.close(fd)  # closing the descriptor releases the flock

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


def _discard(checkpoint: Path) -> None:
    """Delete a checkpoint so that no half-deleted copy can ever be listed: rename it away first."""
    trash = checkpoint.parent / f".{checkpoint.name}.del-{uuid.uuid4().hex[:12]}"
    try:
        os.rename(checkpoint, trash)
    except OSError:
        return  # it stays a complete checkpoint; the next save tries again
    shutil.rmtree(trash, ignore_errors=True)


def is_run_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a directory that a tripod run wrote (or an empty one)."""
    path = Path(path)
    return path.is_dir() and (not any(path.iterdir()) or any((path / m).exists() for m in _RUN_MARKERS))


def check_run_dir(path: str | os.PathLike, *, existing_run_ok: bool) -> None:
    """Raise unless a run may use ``path`` now; creates nothing.

    Args:
        path: The run directory (it may not exist yet).
        existing_run_ok: Whether ``path`` may already hold a tripod run (a resumed run).

    Raises:
        RunLockedError: If another process is using the directory.
        RunDirError: If ``path`` is a file, holds files that are not a tripod run, or
            (unless ``existing_run_ok``) already holds a run.
    """
    path = Path(path)
    if not path.exists():
        return
    if not path.is_dir():
        raise RunDirError(f"{path} exists and is not a directory; choose another run directory.")
    if fcntl is not None and (path / LOCK_FILE).is_file():
        try:
            fd = os.open(path / LOCK_FILE, os.O_RDONLY)
        except OSError:
            fd = None
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError as err:
                raise _locked_error(path) from err
            finally:
                os.close(fd)
    if not is_run_dir(path):
        shown = ", ".join(sorted(p.name for p in path.iterdir())[:3])
        raise RunDirError(
            f"{path} holds files that are not a tripod run ({shown}, ...); a new run needs a new or empty "
            "directory. Choose another run directory."
        )
    if not existing_run_ok and any((path / m).exists() for m in ("metrics.jsonl", "checkpoints")):
        raise RunDirError(
            f"{path} already holds a run: continue it with --resume {path}, or choose another --out."
        )


def _locked_error(path: Path) -> RunLockedError:
    try:
        pid = (path / LOCK_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        pid = ""
    owner = f" (pid {pid})" if pid.isdigit() else ""
    return RunLockedError(
        f"{path} is in use by another tripod run{owner}; wait for it to finish or choose another run directory."
    )


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
