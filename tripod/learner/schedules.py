"""Schedules of hyperparameters over env steps: a constant, or ``[[env_step, value], ...]``.

A schedule is a list of ``[env_step, value]`` pairs with increasing steps; its value is
interpolated linearly between the points, and held at the first (last) value before
(after) them. ``lr``, SAC's ``actor_lr``/``critic_lr``/``alpha_lr``, DQN's ``epsilon``
and ``prioritized_replay_beta`` take one.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["is_finite_number", "schedule_problem", "schedule_value"]


def is_finite_number(x: Any) -> bool:
    """A real, finite number (not a bool)."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return any(_has_non_finite(v) for v in value)
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isfinite(value)


def schedule_problem(name: str, value: Any, *, minimum: float = 0.0) -> str | None:
    """Why ``value`` is not a constant >= ``minimum`` or a valid schedule (None when it is).

    Args:
        name: How messages name the value (e.g. ``"PPOConfig: lr"``).
        value: A number, or ``[[env_step, value], ...]`` with increasing steps.
        minimum: The smallest value allowed, for the constant and every point.
    """
    if _has_non_finite(value):
        return f"{name} must be a finite number or a schedule of finite numbers, got {value!r}."
    if is_finite_number(value):
        return f"{name} must be >= {minimum}, got {value}." if value < minimum else None
    ok = isinstance(value, list | tuple) and len(value) > 0
    ok = ok and all(
        isinstance(p, list | tuple) and len(p) == 2 and all(map(is_finite_number, p)) for p in value
    )
    if not ok:
        return (
            f"{name} must be a number or a schedule [[env_step, value], ...], got {value!r}. "
            f"Example: {name}=[[0, 3e-4], [100_000, 1e-5]]."
        )
    steps = [p[0] for p in value]
    if steps != sorted(steps) or any(p[1] < minimum for p in value):
        return f"{name} schedule {value!r} must have increasing env steps and values >= {minimum}."
    return None


def schedule_value(value: float | list, step: int) -> float:
    """The value of a constant or piecewise-linear schedule at ``step``."""
    if is_finite_number(value):
        return float(value)
    points = [(float(s), float(v)) for s, v in value]
    if step <= points[0][0]:
        return points[0][1]
    for (s0, v0), (s1, v1) in zip(points, points[1:]):
        if step <= s1:
            return v0 + (v1 - v0) * (step - s0) / max(s1 - s0, 1e-12)
    return points[-1][1]
