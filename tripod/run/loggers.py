"""Result loggers: JSON lines, CSV and TensorBoard, one row per training iteration.

Weights & Biases and MLflow loggers live in :mod:`tripod.run.external_loggers`; they
also get the config (:meth:`Logger.log_config`) and the final checkpoint's path
(:meth:`Logger.log_checkpoint`).

Every logger takes the nested result dict of ``Algorithm.train()`` (or an
already flat one), flattens it with :func:`flatten_result` into ``"/"``-joined
keys such as ``env_runners/episode_return_mean``, and appends it. Files are
opened in append mode, so a resumed run continues the same files.

    logger = MultiLogger([JsonlLogger(run / "metrics.jsonl"), CsvLogger(run / "progress.csv")])
    logger.log(algo.train())
    logger.close()
"""

from __future__ import annotations

import csv
import json
import math
import numbers
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

Scalar = float | int | bool

__all__ = [
    "CsvLogger",
    "JsonlLogger",
    "Logger",
    "MultiLogger",
    "TensorBoardLogger",
    "flatten_config",
    "flatten_result",
]


def _scalar(value: Any) -> Scalar | None:
    """``value`` as a Python number, or None when it is not a single number."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "biuf":
        return _scalar(value.reshape(()).item())
    if type(value).__module__ == "torch" and getattr(value, "numel", lambda: 0)() == 1:
        return _scalar(value.detach().cpu().item())
    return None


def flatten_result(result: Mapping[str, Any], *, sep: str = "/") -> dict[str, Scalar]:
    """Flatten a nested result into ``{"a/b/c": number}``.

    Numbers (Python, numpy and one-element arrays or tensors) are kept as ``int``,
    ``float`` or ``bool``; lists, strings and other values are left out. NaN is
    kept as ``float("nan")`` (loggers decide how to write it). Flattening an
    already flat dict returns it unchanged.

    Args:
        result: The result of ``Algorithm.train()`` (nested dicts).
        sep: The separator between key levels.
    """
    flat: dict[str, Scalar] = {}

    def visit(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                visit(f"{prefix}{sep}{key}" if prefix else str(key), item)
            return
        number = _scalar(value)
        if number is not None:
            flat[prefix] = number

    visit("", result)
    return flat


def flatten_config(config: Mapping[str, Any], *, sep: str = ".") -> dict[str, Any]:
    """Flatten a config dict (``config.to_dict()``) into ``{"model_config.fcnet_hiddens": [64, 64]}``.

    Keys are joined with ``sep`` (``"."``, as ``--set`` writes them); leaves stay JSON values
    (numbers, strings, None, lists), and saved import references become their paths
    (``"pkg.mod.Class"``, ``"pkg.mod:function"``). An empty dict stays ``{}``.

    Args:
        config: The nested config dict.
        sep: The separator between key levels.
    """
    flat: dict[str, Any] = {}

    def visit(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping) and value:
            ref = _reference(value)
            if ref is not None:
                flat[prefix] = ref
                return
            for key, item in value.items():
                visit(f"{prefix}{sep}{key}" if prefix else str(key), item)
            return
        flat[prefix] = dict(value) if isinstance(value, Mapping) else value

    visit("", config)
    return flat


def _reference(value: Mapping[str, Any]) -> str | None:
    """The path of a saved class or function reference (see ``tripod.algorithms.config_io``), else None."""
    if "__import__" in value:
        return str(value["__import__"] or value.get("repr"))
    function = value.get("__function__")
    if isinstance(function, Mapping):
        return f"{function.get('module')}:{function.get('qualname')}"
    return None


def _finite_or_none(value: Scalar) -> Scalar | None:
    return None if isinstance(value, float) and not math.isfinite(value) else value


class Logger:
    """Base class: ``log(result)`` appends one row; ``close()`` flushes and closes."""

    def log(self, result: Mapping[str, Any]) -> None:
        """Append one iteration's (nested or flat) result."""
        raise NotImplementedError

    def log_config(self, config: Mapping[str, Any]) -> None:
        """Record the run's config once, at the start (``config.to_dict()``); default: nothing."""

    def log_checkpoint(self, path: str | os.PathLike) -> None:
        """Record where the run's final checkpoint is (a path, nothing uploaded); default: nothing."""

    def close(self) -> None:
        """Flush and release files."""

    def __enter__(self) -> Logger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class JsonlLogger(Logger):
    """Writes one strict-JSON object per line (NaN and infinities become ``null``).

    Args:
        path: The ``.jsonl`` file; created with its parent directories if missing.
        append: Continue an existing file (True) or start it afresh.
    """

    def __init__(self, path: str | os.PathLike, *, append: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a" if append else "w", encoding="utf-8")  # noqa: SIM115

    def log(self, result: Mapping[str, Any]) -> None:
        row = {k: _finite_or_none(v) for k, v in flatten_result(result).items()}
        self._file.write(json.dumps(row, allow_nan=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class CsvLogger(Logger):
    """Writes a CSV file whose columns are the union of all keys logged so far.

    When a key appears that the header lacks (e.g. ``evaluation/...`` on the first
    evaluation iteration), the file is rewritten once with the wider header, so
    every row always lines up with the header. Missing and NaN values are empty cells.

    Args:
        path: The ``.csv`` file; created with its parent directories if missing.
        append: Continue an existing file (its header is read back) or start afresh.
    """

    def __init__(self, path: str | os.PathLike, *, append: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fields: list[str] = []
        if append and self.path.is_file():
            with open(self.path, newline="", encoding="utf-8") as f:
                self._fields = next(csv.reader(f), [])
        elif self.path.exists():
            self.path.unlink()
        self._file = open(self.path, "a", newline="", encoding="utf-8")  # noqa: SIM115

    def log(self, result: Mapping[str, Any]) -> None:
        row = {k: _finite_or_none(v) for k, v in flatten_result(result).items()}
        new = [k for k in row if k not in self._fields]
        if new:
            self._rewrite_with(self._fields + sorted(new))
        writer = csv.DictWriter(self._file, fieldnames=self._fields, restval="")
        if self._file.tell() == 0:
            writer.writeheader()
        writer.writerow(row)
        self._file.flush()

    def _rewrite_with(self, fields: list[str]) -> None:
        """Rewrite the file with header ``fields`` (old rows get empty new cells), atomically."""
        self._file.close()
        rows: list[dict] = []
        if self.path.is_file():
            with open(self.path, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=fields, restval="", extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.path)
        self._fields = fields
        self._file = open(self.path, "a", newline="", encoding="utf-8")  # noqa: SIM115

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class TensorBoardLogger(Logger):
    """Writes TensorBoard scalars (needs the ``tensorboard`` package).

    Args:
        logdir: Directory for the event files (a resumed run adds a new event file).
        step_key: The flat result key used as the x axis; falls back to
            ``training_iteration`` when a result lacks it.

    Raises:
        ImportError: If tensorboard is not installed (``pip install tensorboard``);
            use :meth:`create` to get None instead.
    """

    def __init__(
        self, logdir: str | os.PathLike, *, step_key: str = "num_env_steps_sampled_lifetime"
    ) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:  # torch raises ImportError when tensorboard is missing
            raise ImportError(
                "TensorBoard logging needs the tensorboard package: pip install tensorboard"
            ) from err
        self.step_key = step_key
        self._writer = SummaryWriter(log_dir=os.fspath(logdir))

    @classmethod
    def create(cls, logdir: str | os.PathLike, **kwargs: Any) -> TensorBoardLogger | None:
        """A logger, or None when tensorboard is not installed."""
        try:
            return cls(logdir, **kwargs)
        except ImportError:
            return None

    def log(self, result: Mapping[str, Any]) -> None:
        row = flatten_result(result)
        step = row.get(self.step_key, row.get("training_iteration", 0))
        for key, value in row.items():
            if key != self.step_key and _finite_or_none(value) is not None:
                self._writer.add_scalar(key, float(value), global_step=int(step))
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class MultiLogger(Logger):
    """Sends every result to several loggers (None entries are skipped).

    Args:
        loggers: The loggers to write to.
    """

    def __init__(self, loggers: Iterable[Logger | None]) -> None:
        self.loggers = [lg for lg in loggers if lg is not None]

    def log(self, result: Mapping[str, Any]) -> None:
        flat = flatten_result(result)
        for logger in self.loggers:
            logger.log(flat)

    def log_config(self, config: Mapping[str, Any]) -> None:
        for logger in self.loggers:
            logger.log_config(config)

    def log_checkpoint(self, path: str | os.PathLike) -> None:
        for logger in self.loggers:
            logger.log_checkpoint(path)

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()
