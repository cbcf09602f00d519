"""The progress line follows the stop rule that will end the run."""

from __future__ import annotations

import io
import time

from rich.console import Console

from tripod.run.progress import ProgressDisplay


def _result(iteration: int, steps: int, ret: float, train_time: float = 1.0) -> dict:
    return {
        "training_iteration": iteration,
        "num_env_steps_sampled_lifetime": steps,
        "time_total_s": train_time,
        "env_runners": {"episode_return_mean": ret, "episode_len_mean": ret},
    }


def _text(renderable) -> str:
    console = Console(record=True, width=200, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def _display(**budgets) -> ProgressDisplay:
    display = ProgressDisplay(live=False, **budgets)
    display._t0 = time.perf_counter() - 10.0  # 10 s of wall time so far
    return display


def test_a_run_stopped_by_return_does_not_end_on_a_budget_percentage():
    display = _display(stop_steps=10_000, stop_return=475.0)
    last = _result(23, 2_300, 480.0)
    s = display.stats(last)
    assert s["fraction"] is None and s["rule"] == "steps"  # no percentage with a return target
    assert "/ 475" in display.line(last) and "left <= " in display.line(last)
    running = _text(display._render(last))
    assert "%" not in running and "480.00 / 475" in running
    final = _text(display._render(last, stopped_by="return"))
    assert "stopped by return: 480.00 >= target 475" in final
    assert "%" not in final and "left" not in final


def test_with_several_budgets_the_bar_and_time_left_follow_the_one_ending_first():
    # 10 s so far: the step budget needs 10 s more, the iteration budget 90 s more.
    display = _display(stop_steps=2_000, stop_iters=100, start_steps=0)
    s = display.stats(_result(10, 1_000, 20.0))
    assert s["rule"] == "steps" and s["fraction"] == 0.5
    assert abs(s["time_left"] - 10.0) < 0.5
    text = _text(display._render(_result(10, 1_000, 20.0)))
    assert "50% of steps" in text and "left 0:00:1" in text
    display = _display(stop_steps=100_000, stop_iters=20)
    s = display.stats(_result(10, 1_000, 20.0))
    assert s["rule"] == "iters" and s["fraction"] == 0.5 and abs(s["time_left"] - 10.0) < 0.5


def test_a_run_stopped_by_steps_says_so():
    display = _display(stop_steps=1_000)
    final = _text(display._render(_result(10, 1_000, 20.0), stopped_by="steps"))
    assert "stopped by steps" in final and "left" not in final


def test_no_budget_shows_no_bar():
    display = _display()
    assert display.stats(_result(1, 100, 5.0))["fraction"] is None
    assert "left" not in display.line(_result(1, 100, 5.0))


def test_custom_metrics_and_remote_runners_show_on_the_progress_line():
    display = _display(stop_steps=10_000)
    result = _result(3, 3_000, 50.0)
    result["env_runners"].update(num_healthy_env_runners=1, num_env_runner_restarts_lifetime=1, max_angle=0.123456)
    result["long_episodes"] = 0.25  # logged by an algorithm callback
    line = display.line(result)
    assert "runners 1 (1 restarted)" in line and "max_angle 0.1235" in line and "long_episodes 0.25" in line
    assert "num_episodes" not in line  # tripod's own keys are not repeated
    assert "max_angle 0.1235" in _text(display._render(result))
