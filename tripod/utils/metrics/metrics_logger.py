"""MetricsLogger: custom metrics logged from callbacks, at RLlib's path and with RLlib's calls.

    metrics_logger.log_value("pole_angle_at_end", abs(angle), reduce="mean")
    metrics_logger.log_value(("my", "count"), 1, reduce="sum")

Each env runner and the algorithm hold one. A runner's values travel to the algorithm as
plain lists (:meth:`MetricsLogger.pop_values`, merged there with :meth:`merge_values`),
so several runners' values, remote ones too, are reduced together: once per training
iteration, into ``result["env_runners"]`` (runner-side metrics) or the top level of the
result (metrics the algorithm's callbacks log).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["MetricsLogger"]

#: The reductions :meth:`MetricsLogger.log_value` accepts.
REDUCTIONS = ("mean", "ema", "sum", "lifetime_sum", "min", "max", "item")


def _key(key: str | tuple[str, ...]) -> str:
    if isinstance(key, tuple):
        if not key or not all(isinstance(k, str) and k for k in key):
            raise ValueError(f"MetricsLogger: a key tuple must hold non-empty strings, got {key!r}.")
        return "/".join(key)
    if not isinstance(key, str) or not key:
        raise ValueError(f"MetricsLogger: a key must be a non-empty string or a tuple of them, got {key!r}.")
    return key


class _Stat:
    """The values of one key and how they reduce."""

    def __init__(self, reduce: str, window: int | None, ema_coeff: float | None) -> None:
        self.reduce, self.window, self.ema_coeff = reduce, window, ema_coeff
        self.values: list[float] = []  # logged since the last reduce()
        self.history: deque[float] = deque(maxlen=window) if window else deque()
        self.carry: float | None = None  # ema state, or the lifetime sum

    def settings(self) -> tuple[str, int | None, float | None]:
        return self.reduce, self.window, self.ema_coeff

    def peek(self) -> Any:
        values = self.values
        if self.reduce == "mean":
            pool = list(self.history) + values if self.window else values
            return float(np.mean(pool)) if pool else float("nan")
        if self.reduce == "ema":
            ema = self.carry
            for v in values:
                ema = v if ema is None else (1 - self.ema_coeff) * ema + self.ema_coeff * v
            return float("nan") if ema is None else float(ema)
        if self.reduce == "sum":
            return float(np.sum(values)) if values else 0.0
        if self.reduce == "lifetime_sum":
            return (self.carry or 0.0) + float(np.sum(values))
        if self.reduce == "item":
            return values[-1] if values else None
        fn = np.min if self.reduce == "min" else np.max
        return float(fn(values)) if values else float("nan")

    def reduce_now(self) -> Any:
        value = self.peek()
        if self.reduce in ("ema", "lifetime_sum"):
            self.carry = value if not (isinstance(value, float) and np.isnan(value)) else self.carry
        if self.window:
            self.history.extend(self.values)
        self.values = []
        return value


class MetricsLogger:
    """Custom metrics: ``log_value`` (and ``log_dict``) now, one reduced value per key per iteration.

    Reductions (``reduce=``): ``"mean"`` (of the values logged in the iteration, or of the
    last ``window`` values over iterations), ``"ema"`` (exponential moving average with
    ``ema_coeff``, RLlib's default smoothing), ``"sum"`` (per iteration), ``"lifetime_sum"``,
    ``"min"``, ``"max"``, ``"item"`` (the last value). A key keeps the reduction it was
    first logged with.
    """

    def __init__(self) -> None:
        self._stats: dict[str, _Stat] = {}

    def log_value(
        self,
        key: str | tuple[str, ...],
        value: Any,
        *,
        reduce: str | None = "mean",
        window: int | float | None = None,
        ema_coeff: float | None = None,
        clear_on_reduce: bool | None = None,
        **kwargs: Any,
    ) -> None:
        """Log ``value`` (a number) under ``key`` (``"a"`` or a tuple ``("a", "b")`` for ``a/b``).

        ``clear_on_reduce`` and other RLlib keywords are accepted; values logged in an
        iteration are always reduced at its end (``window`` keeps older ones for ``"mean"``).

        Raises:
            ValueError: An unknown ``reduce``, a non-number value, or a key logged before
                with another reduction.
        """
        name = _key(key)
        if reduce is None:
            reduce = "ema" if ema_coeff is not None else "mean"
        if reduce not in REDUCTIONS:
            raise ValueError(
                f"MetricsLogger.log_value({name!r}): reduce={reduce!r} is not one of {', '.join(REDUCTIONS)}."
            )
        if reduce != "item":
            value = _number(name, value)
        settings = (reduce, int(window) if window else None, (ema_coeff or 0.01) if reduce == "ema" else None)
        stat = self._stats.get(name)
        if stat is None:
            stat = self._stats[name] = _Stat(*settings)
        elif stat.reduce != reduce:
            raise ValueError(
                f"MetricsLogger.log_value({name!r}): logged before with reduce={stat.reduce!r}, now "
                f"reduce={reduce!r}; use one reduction per key."
            )
        stat.values.append(value)

    def log_dict(self, stats: Mapping[str, Any], *, key: str | tuple[str, ...] | None = None, **kwargs: Any) -> None:
        """``log_value`` for every number in (nested) ``stats``, under ``key/...`` when given."""
        prefix = () if key is None else ((key,) if isinstance(key, str) else tuple(key))
        for name, value in stats.items():
            if isinstance(value, Mapping):
                self.log_dict(value, key=(*prefix, name), **kwargs)
            else:
                self.log_value((*prefix, name), value, **kwargs)

    def peek(self, key: str | tuple[str, ...], *, default: Any = None) -> Any:
        """The reduced value ``key`` would have now (nothing is cleared); ``default`` if never logged."""
        stat = self._stats.get(_key(key))
        return default if stat is None else stat.peek()

    def reduce(self) -> dict[str, Any]:
        """Every key's reduced value, nested by ``/`` (``{"my": {"count": 3.0}}``); starts a new period.

        A key with no value in the period is left out, unless its reduction carries one over
        (``"ema"``, ``"lifetime_sum"``, ``"mean"`` with a ``window``).
        """
        out: dict[str, Any] = {}
        for name, stat in self._stats.items():
            if not stat.values and stat.carry is None and not stat.history:
                continue  # nothing logged in this period, nothing carried over
            node = out
            *parents, leaf = name.split("/")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = stat.reduce_now()
        return out

    # ------------------------------------------------------------ across processes
    def pop_values(self) -> dict[str, dict[str, Any]]:
        """The values logged since the last call, as plain data (for the algorithm to merge).

        ``{key: {"reduce": ..., "window": ..., "ema_coeff": ..., "values": [...]}}``; the
        values are cleared here (the settings stay).
        """
        out = {}
        for name, stat in self._stats.items():
            if stat.values:
                out[name] = {"reduce": stat.reduce, "window": stat.window, "ema_coeff": stat.ema_coeff,
                             "values": list(stat.values)}  # fmt: skip
                stat.values = []
        return out

    def merge_values(self, popped: Mapping[str, Mapping[str, Any]]) -> None:
        """Add what :meth:`pop_values` returned (of one runner, or of several merged list by list)."""
        for name, entry in popped.items():
            stat = self._stats.get(name)
            if stat is None:
                stat = self._stats[name] = _Stat(entry["reduce"], entry.get("window"), entry.get("ema_coeff"))
            stat.values.extend(entry["values"])


def _number(name: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"MetricsLogger.log_value({name!r}): expected a number, got {type(value).__name__}; use "
            "reduce='item' to log anything else."
        ) from None
