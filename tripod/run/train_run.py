"""Train an algorithm into a run directory until a stop criterion, then evaluate and summarise.

This is the loop behind ``tripod train``, usable from Python as well:

    algo = PPOConfig().environment("CartPole-v1").build_algo()
    summary = train_run(algo, RunDir("runs/cartpole"), StopCriteria(episode_return=475))

Ctrl-C is handled gracefully: the first stops after the current iteration (which
is logged and checkpointed), a second abandons the iteration at once (the last
checkpoint stays). Either way ``result.json`` is written with
``stopped_by="interrupt"``. A Ctrl-C while a checkpoint is being written waits for
the write to finish.

The run directory is locked for the run (:meth:`RunDir.lock`), and leftovers of
interrupted saves are cleaned up at the start. A checkpoint that cannot be written
stops the run with :class:`~tripod.io.checkpoint.CheckpointSaveError` naming the
path and the OS error; the algorithm keeps its trained state in memory, so
``algo.save_to_path(elsewhere)`` still works.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tripod.io.checkpoint import CheckpointSaveError
from tripod.run.loggers import Logger, MultiLogger
from tripod.run.progress import ProgressDisplay
from tripod.run.run_dir import RunDir

__all__ = [
    "BestCheckpoint",
    "CheckpointSaveError",
    "GracefulInterrupt",
    "StopCriteria",
    "format_summary",
    "train_run",
]


@dataclasses.dataclass
class StopCriteria:
    """When to stop; the first criterion met wins (all None: run until Ctrl-C).

    Counts are lifetime totals, so a resumed run stops at the same point as an
    uninterrupted one.

    Args:
        episode_return: Mean training return (``env_runners/episode_return_mean``) to reach.
        env_steps: Env steps sampled.
        iterations: Training iterations.
        time_s: Seconds spent in ``Algorithm.train()``.
        eval_return: Mean greedy evaluation return to reach. An iteration evaluates when the
            config's ``evaluation_interval`` says so, and also once its training return reached
            ``eval_return`` (so a run is judged by its greedy policy without paying for an
            evaluation every iteration).
    """

    episode_return: float | None = None
    env_steps: int | None = None
    iterations: int | None = None
    time_s: float | None = None
    eval_return: float | None = None

    def is_empty(self) -> bool:
        """True when no criterion is set."""
        return all(v is None for v in dataclasses.astuple(self))

    def reason(self, algo: Any, result: dict[str, Any] | None) -> str | None:
        """``"return"``, ``"eval_return"``, ``"steps"``, ``"iters"`` or ``"time"`` once met, else None."""
        ret = float("nan") if result is None else result["env_runners"].get("episode_return_mean")
        if self.episode_return is not None and math.isfinite(ret) and ret >= self.episode_return:
            return "return"
        greedy = _eval_return(result)
        if self.eval_return is not None and greedy is not None and greedy >= self.eval_return:
            return "eval_return"
        if self.env_steps is not None and algo.num_env_steps_sampled_lifetime >= self.env_steps:
            return "steps"
        if self.iterations is not None and algo.iteration >= self.iterations:
            return "iters"
        if self.time_s is not None and algo.time_total_s >= self.time_s:
            return "time"
        return None


def _eval_return(result: dict[str, Any] | None) -> float | None:
    """The greedy evaluation return of ``result`` (None without a finite one)."""
    value = ((result or {}).get("evaluation") or {}).get("env_runners", {}).get("episode_return_mean")
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


class BestCheckpoint:
    """Keeps ``checkpoints/best``: the checkpoint of the iteration with the best greedy evaluation."""

    def __init__(self, run: RunDir) -> None:
        self.checkpoints = run.checkpoints
        self.value = self.checkpoints.best_record().get("eval_return_mean", -math.inf)

    def update(self, algo: Any, result: dict[str, Any], interrupt: GracefulInterrupt) -> None:
        """Save ``algo`` as the best checkpoint when ``result``'s greedy return beats the best so far."""
        value = _eval_return(result)
        if value is not None and value > self.value:
            with interrupt.saving():
                self.checkpoints.save_best(algo, algo.iteration, value)
            self.value = value

    def summary(self) -> dict[str, Any]:
        """``best_checkpoint`` and ``best_eval_return`` for ``result.json`` (``{}`` without a best)."""
        best = self.checkpoints.best()
        if best is None or not math.isfinite(self.value):
            return {}
        return {"best_checkpoint": str(best), "best_eval_return": self.value}


def _evaluate_for_stop(algo: Any, stop: StopCriteria, result: dict[str, Any]) -> None:
    """With ``stop.eval_return``: evaluate now if the training return reached it and nothing did yet."""
    if stop.eval_return is None or "evaluation" in result:
        return
    ret = result["env_runners"].get("episode_return_mean", float("nan"))
    if math.isfinite(ret) and ret >= stop.eval_return:
        result["evaluation"] = algo.evaluate()


class GracefulInterrupt:
    """Context manager: the first Ctrl-C sets ``requested``; the second raises KeyboardInterrupt."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None
        self._saving = False

    def _handle(self, signum: int, frame: Any) -> None:
        # os.write: safe inside a signal handler, unlike print (re-entrant buffered IO).
        if self._saving:  # never abandon a checkpoint half-written: it finishes first
            self.requested = True
            os.write(2, b"\nCtrl-C: finishing the checkpoint being written, then stopping.\n")
            return
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        os.write(2, b"\nCtrl-C: stopping after this iteration (press Ctrl-C again to stop at once).\n")

    @contextlib.contextmanager
    def saving(self) -> Iterator[None]:
        """Within this block a Ctrl-C only requests the stop; the checkpoint write finishes."""
        self._saving = True
        try:
            yield
        finally:
            self._saving = False

    def __enter__(self) -> GracefulInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def train_run(
    algo: Any,
    run: RunDir,
    stop: StopCriteria,
    *,
    checkpoint_every: int = 10,
    eval_episodes: int = 10,
    display: ProgressDisplay | None = None,
    summary: dict[str, Any] | None = None,
    plot_title: str | None = None,
    loggers: Sequence[Logger] = (),
) -> dict[str, Any]:
    """Train ``algo`` until ``stop``; log, checkpoint, evaluate, plot and write ``result.json``.

    Args:
        algo: A built (or restored) algorithm; it is not stopped here.
        run: The run directory; metrics are appended to its files.
        stop: The stop criteria.
        checkpoint_every: Checkpoint every this many iterations (0: only at the end).
        eval_episodes: Greedy evaluation episodes after training (0: none; skipped on Ctrl-C).
        display: Progress display (default: plain lines every iteration).
        summary: Extra entries for ``result.json`` (e.g. algorithm and env names).
        plot_title: Title of ``learning_curve.png``.
        loggers: More loggers (e.g. :class:`~tripod.run.external_loggers.WandbLogger`) besides the
            run directory's files: each gets the config, every result and the final checkpoint's
            path, and is closed at the end.

    Returns:
        The summary written to ``result.json`` (``stopped_by``, ``iterations``,
        ``env_steps``, ``wall_s``, ``train_return_mean``, ``eval_return_mean``,
        ``eval_return_std``, ``checkpoint``, ...).

    Raises:
        RunLockedError: If another process is using ``run``'s directory.
        RunDirError: If the directory holds files that are not a tripod run.
        CheckpointSaveError: If a checkpoint cannot be written; ``algo`` keeps its
            state, and ``result.json`` records the error where it can be written.
    """
    display = display or ProgressDisplay(live=False)
    summary = dict(summary or {}, run_dir=str(run.path))
    owns_lock = not run.locked
    run.lock()
    try:
        run.checkpoints.recover()
        config_dict = algo.config.to_dict()
        run.write_config(config_dict)
        logger, summary["tensorboard"] = run.open_loggers()
        logger = MultiLogger([logger, *loggers])
        try:
            logger.log_config(config_dict)
            summary = _train_loop(algo, run, stop, checkpoint_every, eval_episodes, display, summary, logger)
        finally:
            logger.close()
    finally:
        if owns_lock:
            run.unlock()
    summary["plot"] = _plot(run, summary, plot_title)
    return summary


def _train_loop(
    algo: Any,
    run: RunDir,
    stop: StopCriteria,
    every: int,
    eval_episodes: int,
    display: Any,
    summary: dict,
    logger: Logger,
) -> dict[str, Any]:
    """The body of :func:`train_run` while the run directory is locked."""
    t0, last, stopped_by, aborted = time.perf_counter(), None, None, False
    checkpoint, best = run.checkpoints.latest(), BestCheckpoint(run)
    with GracefulInterrupt() as interrupt:
        try:
            with display:
                while True:
                    stopped_by = "interrupt" if interrupt.requested else stop.reason(algo, last)
                    if stopped_by:
                        if hasattr(display, "finish"):  # a custom display may lack it
                            display.finish(stopped_by, last)
                        break
                    last = algo.train()
                    _evaluate_for_stop(algo, stop, last)
                    best.update(algo, last, interrupt)
                    last["timestamp"] = time.time()
                    logger.log(last)
                    display.update(last)
                    if every and algo.iteration % every == 0:
                        with interrupt.saving():
                            checkpoint = run.checkpoints.save(algo, algo.iteration)
        except KeyboardInterrupt:  # a second Ctrl-C mid-iteration: that iteration is not saved
            stopped_by, aborted = "interrupt", True
        except BaseException as err:
            _write_error(run, summary, _progress(algo, last, checkpoint, t0, "error"), err)
            raise
        try:
            if not aborted and (checkpoint is None or checkpoint.name != f"iter_{algo.iteration:06d}"):
                with interrupt.saving():
                    checkpoint = run.checkpoints.save(algo, algo.iteration)
        except CheckpointSaveError as err:
            _write_error(run, summary, _progress(algo, last, checkpoint, t0, "error"), err)
            raise
        if checkpoint is not None:
            logger.log_checkpoint(checkpoint)
        summary.update(_progress(algo, last, checkpoint, t0, stopped_by), **best.summary())
        if stopped_by != "interrupt" and eval_episodes > 0:
            try:
                ev = algo.evaluate(eval_episodes)["env_runners"]
                summary.update(
                    eval_return_mean=ev["episode_return_mean"],
                    eval_return_std=ev.get("episode_return_std"),
                    eval_episodes=ev["num_episodes"],
                )
            except KeyboardInterrupt:
                summary["stopped_by"] = "interrupt"
        summary["wall_s"] = round(time.perf_counter() - t0, 3)
        run.write_result(summary)
    return summary


def _write_error(run: RunDir, summary: dict, progress: dict, err: BaseException) -> None:
    """Record a failed run in ``result.json`` (best effort: the directory may be unwritable)."""
    summary.update(progress, error=repr(err))
    with contextlib.suppress(OSError, ValueError, TypeError):
        run.write_result(summary)


def _progress(algo: Any, last: dict | None, checkpoint: Path | None, t0: float, stopped_by: str) -> dict:
    return {
        "stopped_by": stopped_by,
        "iterations": algo.iteration,
        "env_steps": algo.num_env_steps_sampled_lifetime,
        "wall_s": round(time.perf_counter() - t0, 3),
        "train_time_s": round(algo.time_total_s, 3),
        "train_return_mean": None if last is None else last["env_runners"].get("episode_return_mean"),
        "eval_return_mean": None,
        "eval_return_std": None,
        "eval_episodes": 0,
        "checkpoint": None if checkpoint is None else str(checkpoint),
        "seed": algo.config.seed,
    }


def _plot(run: RunDir, summary: dict, title: str | None) -> str:
    """Draw ``learning_curve.png``; returns its path, or why there is none."""
    from tripod.run.plots import plot_learning_curve

    points = []
    if summary.get("eval_return_mean") is not None:
        points.append((summary["env_steps"], summary["eval_return_mean"]))
    try:
        return str(plot_learning_curve(run.metrics_path, run.plot_path, title=title, eval_points=points))
    except ImportError as err:
        return f"not drawn: {err}"


def format_summary(s: dict[str, Any]) -> str:
    """The end-of-run report printed by ``tripod train`` for a :func:`train_run` summary."""

    def num(x: Any) -> str:
        return "-" if x is None or x != x else f"{x:.2f}"

    lines = [
        f"Stopped by {s['stopped_by']} after {s['iterations']} iterations, {s['env_steps']:,} env steps, "
        f"{s['wall_s']:.1f} s. Training return {num(s['train_return_mean'])}."
    ]
    if s.get("eval_return_mean") is not None:
        lines.append(
            f"Greedy evaluation: {num(s['eval_return_mean'])} ± {num(s['eval_return_std'])} "
            f"over {s['eval_episodes']} episodes."
        )
    if not s.get("tensorboard"):
        lines.append(
            "Note: tensorboard is not installed, so no event files were written (pip install tensorboard)."
        )
    if not str(s.get("plot", "")).endswith(".png"):
        lines.append(f"Note: learning_curve.png {s.get('plot')}")
    lines.append(f"Checkpoint: {s['checkpoint']}")
    if s.get("best_checkpoint"):
        lines.append(f"Best checkpoint: {s['best_checkpoint']} (greedy return {num(s['best_eval_return'])})")
    lines.append(f"Results: {s['run_dir']}")
    return "\n".join(lines)
