"""Running mean and variance that merge exactly (Chan et al.'s parallel update of Welford's sums)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["RunningMeanStd", "SyncedStats"]


class RunningMeanStd:
    """Count, mean and sum of squared deviations (``m2``) of everything :meth:`add`-ed, per element.

    Args:
        shape: The shape of one sample.
    """

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = tuple(shape)
        self.count = 0
        self.mean = np.zeros(self.shape, dtype=np.float64)
        self.m2 = np.zeros(self.shape, dtype=np.float64)

    @property
    def var(self) -> np.ndarray:
        """The population variance (0 before two samples)."""
        return self.m2 / self.count if self.count > 1 else np.zeros(self.shape)

    def add(self, samples: np.ndarray) -> None:
        """Fold ``samples`` ``[B, *shape]`` in."""
        samples = np.asarray(samples, dtype=np.float64).reshape((-1, *self.shape))
        if len(samples):
            self.combine(len(samples), samples.mean(axis=0), samples.var(axis=0) * len(samples))

    def combine(self, count: int, mean: np.ndarray, m2: np.ndarray) -> None:
        """Fold in another set's ``(count, mean, m2)``."""
        if count == 0:
            return
        total = self.count + count
        delta = mean - self.mean
        self.mean = self.mean + delta * (count / total)
        self.m2 = self.m2 + m2 + delta**2 * (self.count * count / total)
        self.count = total

    def merge(self, other: RunningMeanStd) -> None:
        """Fold ``other`` in."""
        self.combine(other.count, other.mean, other.m2)

    def clear(self) -> None:
        """Forget everything."""
        self.count = 0
        self.mean = np.zeros(self.shape, dtype=np.float64)
        self.m2 = np.zeros(self.shape, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """``{"count", "mean", "m2"}`` (copies)."""
        return {"count": int(self.count), "mean": self.mean.copy(), "m2": self.m2.copy()}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any], shape: tuple[int, ...], where: str) -> RunningMeanStd:
        """Rebuild :meth:`to_dict`'s result; a damaged or mis-shaped state raises ``ValueError``."""
        out = cls(shape)
        try:
            count = int(state["count"])
            mean = np.asarray(state["mean"], dtype=np.float64).reshape(out.shape)
            m2 = np.asarray(state["m2"], dtype=np.float64).reshape(out.shape)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(
                f"{where}: the saved statistics do not fit observations of shape {out.shape} ({err}); "
                "they come from another env or connector setting."
            ) from err
        if count < 0 or not np.isfinite(mean).all() or not np.isfinite(m2).all() or (m2 < 0).any():
            raise ValueError(f"{where}: the saved statistics are damaged (negative count/variance or NaN).")
        out.count, out.mean, out.m2 = count, mean, m2
        return out


class SyncedStats:
    """Statistics that env runners learn apart and share: ``base`` (merged at the last sync) plus
    ``delta`` (learnt here since). Merging takes the fullest base and adds every runner's delta,
    so no observation is counted twice however often runners sync.

    Args:
        shape: The shape of one sample.
        owner: The connector's name, for errors.
    """

    def __init__(self, shape: tuple[int, ...], owner: str) -> None:
        self.shape, self.owner = tuple(shape), owner
        self.base, self.delta = RunningMeanStd(self.shape), RunningMeanStd(self.shape)

    def add(self, samples: np.ndarray) -> None:
        """Learn from ``samples`` ``[B, *shape]``."""
        self.delta.add(samples)

    def total(self) -> RunningMeanStd:
        """Base and delta together."""
        total = RunningMeanStd(self.shape)
        total.merge(self.base)
        total.merge(self.delta)
        return total

    def get_state(self) -> dict[str, Any]:
        """``{"base": ..., "delta": ...}``."""
        return {"base": self.base.to_dict(), "delta": self.delta.to_dict()}

    def set_state(self, state: Any) -> None:
        """Load a state: base and delta folded into the new base."""
        base, delta = self._parse(state)
        base.merge(delta)
        self.base, self.delta = base, RunningMeanStd(self.shape)

    def merge_states(self, states: list[Any]) -> dict[str, Any]:
        """Several runners' states as one (with an empty delta)."""
        parsed = [self._parse(state) for state in states]
        merged = RunningMeanStd(self.shape)
        merged.merge(max((base for base, _ in parsed), key=lambda b: b.count))
        for _, delta in parsed:
            merged.merge(delta)
        return {"base": merged.to_dict(), "delta": RunningMeanStd(self.shape).to_dict()}

    def _parse(self, state: Any) -> tuple[RunningMeanStd, RunningMeanStd]:
        if not isinstance(state, Mapping) or "base" not in state or "delta" not in state:
            raise ValueError(
                f"{self.owner} state: expected {{'base': ..., 'delta': ...}} (from get_state())."
            )
        return (
            RunningMeanStd.from_dict(state["base"], self.shape, self.owner),
            RunningMeanStd.from_dict(state["delta"], self.shape, self.owner),
        )
