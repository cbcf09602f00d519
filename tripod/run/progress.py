"""Training progress on the terminal: a light rich live line, or plain printed lines.

The live display redraws at most four times a second and only when a new
iteration's result arrives; the plain mode (``--quiet`` or output that is not a
terminal) prints one line every ``print_every`` iterations.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

REFRESH_S = 0.25


def _fmt_duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _runners_text(runners: dict[str, Any]) -> str:
    """``runners 2`` (remote env runners that answered), with ``(1 restarted)`` once any was replaced."""
    if "num_healthy_env_runners" not in runners:
        return ""
    restarted = int(runners.get("num_env_runner_restarts_lifetime", 0))
    return f"runners {runners['num_healthy_env_runners']}" + (f" ({restarted} restarted)" if restarted else "")


#: Result keys tripod itself reports (top level and under ``env_runners``); other numbers there
#: are custom metrics of callbacks, shown on the progress line.
STANDARD_KEYS = frozenset({
    "training_iteration", "num_env_steps_sampled_lifetime", "num_env_steps_trained_lifetime",
    "num_episodes_lifetime", "time_this_iter_s", "time_total_s", "episode_return_mean", "episode_return_min",
    "episode_return_max", "episode_len_mean", "num_episodes", "num_env_steps_sampled", "num_env_restarts",
    "num_env_restarts_lifetime", "num_healthy_env_runners", "num_env_runner_restarts",
    "num_env_runner_restarts_lifetime", "weights_seq_no", "weights_staleness", "num_agent_steps_sampled",
    "timestamp",
})  # fmt: skip
#: How many custom metrics the progress line shows at most.
MAX_CUSTOM = 3


def _custom_text(result: dict[str, Any]) -> str:
    """``key value`` for the first few custom metrics (numbers the callbacks logged)."""
    found = []
    for scope in (result.get("env_runners", {}), result):
        for key, value in scope.items():
            if key not in STANDARD_KEYS and isinstance(value, int | float) and not isinstance(value, bool):
                found.append(f"{key} {value:.4g}")
    return "   ".join(found[:MAX_CUSTOM])


def _fmt_number(x: Any, spec: str) -> str:
    return format(x, spec) if isinstance(x, int | float) and math.isfinite(x) else "-"


class ProgressDisplay:
    """Shows iteration, env steps, return, episode length, steps/s and time left.

    Args:
        live: Use a rich live display (else plain lines).
        print_every: In plain mode, print every this many iterations.
        stop_steps, stop_iters, stop_time: Budgets for the progress bar and time left; with
            several, the bar and time left follow the one that will end the run first.
        stop_return: A return target: the line shows ``return R / T``, and no percentage
            (how far the return is from its target says little about the time left), only
            the time the budgets leave at most (``left <= H:MM:SS``).
        start_steps, start_iter, start_time_s: Counters when this session began (a
            resumed run starts above zero), so steps/s counts this session only.
    """

    def __init__(
        self,
        *,
        live: bool,
        print_every: int = 1,
        stop_steps: int | None = None,
        stop_iters: int | None = None,
        stop_time: float | None = None,
        stop_return: float | None = None,
        start_steps: int = 0,
        start_iter: int = 0,
        start_time_s: float = 0.0,
    ) -> None:
        self.live = live
        self.print_every = max(1, print_every)
        self.budgets = {"steps": stop_steps, "iters": stop_iters, "time": stop_time}
        self.stop_return = stop_return
        self._start = (start_steps, start_iter, start_time_s)
        self._t0 = time.perf_counter()
        self._last_draw = 0.0
        self._live = None
        self._console = None

    # ------------------------------------------------------------- lifecycle
    def __enter__(self) -> ProgressDisplay:
        self._t0 = time.perf_counter()  # steps/s counts from the first iteration, not from set-up
        if self.live:
            from rich.console import Console
            from rich.live import Live

            self._console = Console()
            self._live = Live(
                "waiting for the first iteration ...",
                console=self._console,
                auto_refresh=False,
                transient=False,
            )
            self._live.start(refresh=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None

    def message(self, text: str) -> None:
        """Print a line above the live display (or plainly)."""
        if self._console is not None:
            self._console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            print(text, flush=True)

    # ------------------------------------------------------------- updates
    def stats(self, result: dict[str, Any]) -> dict[str, Any]:
        """The displayed numbers for one ``Algorithm.train()`` result.

        ``fraction``, ``time_left`` and ``rule`` come from the same budget: the one with the
        least time left (the one that ends the run first), or the most used before a rate is
        known. With a return target ``fraction`` is None and ``time_left`` an upper bound.
        """
        runners = result.get("env_runners", {})
        steps = int(result.get("num_env_steps_sampled_lifetime", 0))
        iteration = int(result.get("training_iteration", 0))
        train_time = float(result.get("time_total_s", 0.0))
        wall = time.perf_counter() - self._t0
        start_steps, start_iter, start_time = self._start
        rate = (steps - start_steps) / wall if wall > 0 else float("nan")
        done = {
            "steps": (steps, start_steps),
            "iters": (iteration, start_iter),
            "time": (train_time, start_time),
        }
        rules = []  # (time left or None, fraction, rule)
        for rule, budget in self.budgets.items():
            if budget:
                now, start = done[rule]
                left = (budget - now) * wall / (now - start) if now > start and wall > 0 else None
                rules.append((left, now / budget, rule))
        timed = [r for r in rules if r[0] is not None]
        left, fraction, rule = (
            min(timed) if timed else max(rules, key=lambda r: r[1], default=(None, None, None))
        )
        return {
            "iteration": iteration,
            "steps": steps,
            "return": runners.get("episode_return_mean", float("nan")),
            "length": runners.get("episode_len_mean", float("nan")),
            "steps_per_s": rate,
            "time_left": None if left is None else max(left, 0.0),
            "fraction": None if fraction is None or self.stop_return is not None else min(fraction, 1.0),
            "rule": rule,
            "runners": _runners_text(runners),
            "custom": _custom_text(result),
        }

    def _return_text(self, value: Any, spec: str) -> str:
        text = _fmt_number(value, spec)
        return text if self.stop_return is None else f"{text} / {self.stop_return:g}"

    def _left_text(self, s: dict[str, Any]) -> str:
        if s["time_left"] is None:
            return ""
        return f"left {'<= ' if self.stop_return is not None else ''}{_fmt_duration(s['time_left'])}"

    def line(self, result: dict[str, Any]) -> str:
        """One plain-text progress line."""
        s = self.stats(result)
        parts = [
            f"iter {s['iteration']:>5}",
            f"steps {s['steps']:>11,}",
            f"return {self._return_text(s['return'], '9.2f'):>9}",
            f"len {_fmt_number(s['length'], '7.1f'):>7}",
            f"{_fmt_number(s['steps_per_s'], ',.0f'):>8} steps/s",
        ]
        if s["runners"]:
            parts.append(s["runners"])
        if s["custom"]:
            parts.append(s["custom"])
        if s["time_left"] is not None:
            parts.append(self._left_text(s))
        return " | ".join(parts)

    def finish(self, stopped_by: str | None, result: dict[str, Any] | None) -> None:
        """End the live display on a line that says which rule stopped the run (no bar)."""
        if self._live is not None and result is not None:
            self._live.update(self._render(result, stopped_by=stopped_by or "-"), refresh=True)

    def update(self, result: dict[str, Any]) -> None:
        """Show one iteration's result (throttled)."""
        if self._live is None:
            if int(result.get("training_iteration", 0)) % self.print_every == 0:
                print(self.line(result), flush=True)
            return
        now = time.perf_counter()
        self._live.update(self._render(result), refresh=now - self._last_draw >= REFRESH_S)
        if now - self._last_draw >= REFRESH_S:
            self._last_draw = now

    def _render(self, result: dict[str, Any], stopped_by: str | None = None) -> Any:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        s = self.stats(result)
        line = Text()
        line.append(f"iter {s['iteration']}   steps {s['steps']:,}   ")
        line.append(f"return {self._return_text(s['return'], '.2f')}", style="bold")
        line.append(
            f"   len {_fmt_number(s['length'], '.1f')}   {_fmt_number(s['steps_per_s'], ',.0f')} steps/s"
        )
        if s["runners"]:
            line.append(f"   {s['runners']}")
        if s["custom"]:
            line.append(f"   {s['custom']}")
        if stopped_by is not None:
            why = f"stopped by {stopped_by}"
            if stopped_by == "eval_return":
                greedy = ((result.get("evaluation") or {}).get("env_runners") or {}).get("episode_return_mean")
                why += f": greedy evaluation {_fmt_number(greedy, '.2f')}"
            if stopped_by == "return" and self.stop_return is not None:
                why += f": {_fmt_number(s['return'], '.2f')} >= target {self.stop_return:g}"
            return Group(Text(why, style="bold"), line)
        if s["fraction"] is None:
            if s["time_left"] is not None:
                line.append(f"   {self._left_text(s)}")
            return line
        bar = Table.grid(padding=(0, 2))
        bar.add_row(
            ProgressBar(total=1.0, completed=s["fraction"], width=30),
            f"{s['fraction']:4.0%} of {s['rule']}",
            self._left_text(s),
        )
        return Group(bar, line)


def is_interactive() -> bool:
    """Whether stdout is a terminal (live display) rather than a file or pipe."""
    return sys.stdout.isatty()
