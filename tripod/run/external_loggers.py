"""Weights & Biases and MLflow loggers (optional extras ``tripod-rl[wandb]``, ``tripod-rl[mlflow]``).

Each logs the run's config as parameters (flattened: ``model_config.fcnet_hiddens``),
every iteration's result as metrics at step = env steps sampled, and the final
checkpoint's path (a W&B summary value, an MLflow tag; nothing is uploaded). The
packages are imported only when a logger is created, never at ``import tripod``.

    from tripod.run.external_loggers import open_external_loggers
    loggers = open_external_loggers(["wandb", "mlflow"], run_name="ppo-CartPole-v1", run_dir="runs/x")
    train_run(algo, RunDir("runs/x"), StopCriteria(env_steps=100_000), loggers=loggers)

W&B offline (no account, no network): ``WANDB_MODE=offline``, then ``wandb sync`` later.
MLflow writes to ``MLFLOW_TRACKING_URI`` or MLflow's default local store.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tripod.run.loggers import Logger, flatten_config, flatten_result

__all__ = [
    "EXTERNAL_LOGGERS",
    "LoggerSetupError",
    "MlflowLogger",
    "WandbLogger",
    "check_logger_names",
    "open_external_loggers",
]

#: Logger name -> the package it needs (its extra has the same name).
EXTERNAL_LOGGERS: dict[str, str] = {"mlflow": "mlflow", "wandb": "wandb"}
STEP_KEY = "num_env_steps_sampled_lifetime"


class LoggerSetupError(Exception):
    """An unknown logger name, or a logger whose package is not installed (the message says which extra)."""


def check_logger_names(names: Sequence[str]) -> list[str]:
    """The logger names, checked: known, and their package installed (nothing is imported).

    Args:
        names: Names such as ``["wandb", "mlflow"]`` (duplicates are dropped).

    Raises:
        LoggerSetupError: For an unknown name (naming the valid ones) or a missing package
            (naming ``pip install 'tripod-rl[NAME]'``).
    """
    chosen = list(dict.fromkeys(n.strip().lower() for n in names if n.strip()))
    for name in chosen:
        if name not in EXTERNAL_LOGGERS:
            raise LoggerSetupError(
                f"unknown logger {name!r}; the loggers are: {', '.join(sorted(EXTERNAL_LOGGERS))} "
                "(metrics.jsonl, progress.csv and TensorBoard are always written)."
            )
        if importlib.util.find_spec(EXTERNAL_LOGGERS[name]) is None:
            raise LoggerSetupError(
                f"the {name} logger needs the {EXTERNAL_LOGGERS[name]} package: pip install 'tripod-rl[{name}]'"
            )
    return chosen


def open_external_loggers(
    names: Sequence[str], *, run_name: str, run_dir: str | os.PathLike
) -> list[Logger]:
    """Start one logger per name (see :func:`check_logger_names`), each as a new external run.

    Args:
        names: ``"wandb"`` and/or ``"mlflow"``.
        run_name: The external run's name (e.g. the run directory's name).
        run_dir: The tripod run directory; W&B keeps its files under ``RUN_DIR/wandb``
            unless ``WANDB_DIR`` is set.

    Raises:
        LoggerSetupError: As :func:`check_logger_names`, or when a logger cannot start
            (e.g. W&B online without a login); loggers already started are closed.
    """
    loggers: list[Logger] = []
    try:
        for name in check_logger_names(names):
            if name == "wandb":
                loggers.append(WandbLogger(run_name, directory=os.environ.get("WANDB_DIR") or run_dir))
            else:
                loggers.append(MlflowLogger(run_name))
    except LoggerSetupError:
        _close_all(loggers)
        raise
    except Exception as err:  # the library's own errors (login, server, store): one line, not a traceback
        _close_all(loggers)
        first_line = (str(err).strip().splitlines() or [""])[0]
        raise LoggerSetupError(f"the {name} logger could not start: {type(err).__name__}: {first_line}") from err
    return loggers


def _close_all(loggers: list[Logger]) -> None:
    for logger in loggers:
        logger.close()


def _finite_numbers(result: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in flatten_result(result).items() if math.isfinite(float(v))}


def _step(row: Mapping[str, float]) -> int:
    return int(row.get(STEP_KEY, row.get("training_iteration", 0)))


class WandbLogger(Logger):
    """Logs to Weights & Biases: config, metrics at step = env steps, and the final checkpoint path.

    Args:
        name: The W&B run name.
        project: The W&B project (default: ``WANDB_PROJECT``, else ``"tripod"``).
        directory: Where W&B writes its local files (default: W&B's, i.e. ``WANDB_DIR`` or ``./wandb``).
        mode: ``"online"``, ``"offline"`` or ``"disabled"`` (default: ``WANDB_MODE``, else W&B's).

    Raises:
        ImportError: If wandb is not installed (``pip install 'tripod-rl[wandb]'``).
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        project: str | None = None,
        directory: str | os.PathLike | None = None,
        mode: str | None = None,
    ) -> None:
        wandb = _import("wandb")
        if directory is not None:
            Path(directory).mkdir(parents=True, exist_ok=True)
        self._run = wandb.init(
            project=project or os.environ.get("WANDB_PROJECT") or "tripod",
            name=name,
            dir=None if directory is None else os.fspath(directory),
            mode=mode,
            reinit="create_new",  # several runs in one process (tests, sweeps) stay separate
        )
        self.run_id = self._run.id

    def log_config(self, config: Mapping[str, Any]) -> None:
        self._run.config.update(flatten_config(config), allow_val_change=True)

    def log(self, result: Mapping[str, Any]) -> None:
        row = _finite_numbers(result)
        self._run.log(row, step=_step(row))

    def log_checkpoint(self, path: str | os.PathLike) -> None:
        self._run.summary["checkpoint"] = os.fspath(Path(path).resolve())

    def close(self) -> None:
        if self._run is not None:
            run, self._run = self._run, None
            run.finish()


_MLFLOW_BAD_CHARS = re.compile(r"[^A-Za-z0-9_\-. :/]")
_MLFLOW_MAX_PARAM = 6000


class MlflowLogger(Logger):
    """Logs to MLflow: config as params, metrics at step = env steps, the final checkpoint as a tag.

    Uses an ``MlflowClient`` with its own run, so a run the caller has active
    (``mlflow.start_run()``) is left alone.

    Args:
        name: The MLflow run name.
        experiment: The experiment (default: ``MLFLOW_EXPERIMENT_NAME``, else ``"tripod"``;
            created if missing).
        tracking_uri: Where runs go (default: ``MLFLOW_TRACKING_URI``, else MLflow's local default).

    Raises:
        ImportError: If mlflow is not installed (``pip install 'tripod-rl[mlflow]'``).
    """

    def __init__(
        self, name: str | None = None, *, experiment: str | None = None, tracking_uri: str | None = None
    ) -> None:
        _import("mlflow")
        from mlflow.tracking import MlflowClient

        self._client = MlflowClient(tracking_uri=tracking_uri)
        experiment = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or "tripod"
        found = self._client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else self._client.create_experiment(experiment)
        self.run_id: str | None = self._client.create_run(experiment_id, run_name=name).info.run_id

    def log_config(self, config: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        params = [Param(_mlflow_key(k)[:250], _param_text(v)) for k, v in flatten_config(config).items()]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            self._client.log_batch(self.run_id, params=params[start : start + 100])

    def log(self, result: Mapping[str, Any]) -> None:
        from mlflow.entities import Metric

        row = _finite_numbers(result)
        step, now = _step(row), int(time.time() * 1000)
        metrics = [Metric(_mlflow_key(k), v, now, step) for k, v in row.items()]
        for start in range(0, len(metrics), 1000):  # at most 1000 metrics per batch
            self._client.log_batch(self.run_id, metrics=metrics[start : start + 1000])

    def log_checkpoint(self, path: str | os.PathLike) -> None:
        self._client.set_tag(self.run_id, "tripod.checkpoint", os.fspath(Path(path).resolve()))

    def close(self) -> None:
        if self.run_id is not None:
            run_id, self.run_id = self.run_id, None
            self._client.set_terminated(run_id, "FINISHED")


def _mlflow_key(key: str) -> str:
    """``key`` with the characters MLflow refuses in names replaced by ``_``."""
    return _MLFLOW_BAD_CHARS.sub("_", key)


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:_MLFLOW_MAX_PARAM]


def _import(name: str) -> Any:
    try:
        return __import__(name)
    except ImportError as err:
        raise ImportError(
            f"the {name} logger needs the {name} package: pip install 'tripod-rl[{name}]'"
        ) from err
