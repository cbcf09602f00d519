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
        """Fold ``samples`` ``[B, *shape]`` in (sums accumulate in float64; float32 samples are not copied)."""
        samples = np.asarray(samples)
        if samples.dtype.kind != "f":
            samples = samples.astype(np.float64)
        flat = samples.reshape(-1, int(np.prod(self.shape, dtype=np.int64)))
        if not len(flat):
            return
        mean = flat.mean(axis=0, dtype=np.float64)
        centred = flat - mean.astype(flat.dtype)
        m2 = np.einsum("ij,ij->j", centred, centred, dtype=np.float64)
        self.combine(len(flat), mean.reshape(self.shape), m2.reshape(self.shape))

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
    """Statistics that env runners learn apart and share.

    Three parts: ``base`` (what all runners agreed on at the last merge), ``reported`` (learnt here
    and handed out by the last :meth:`get_state`) and ``fresh`` (learnt since). :meth:`merge_states`
    takes the fullest base and adds every runner's reported part; loading a merge result drops what
    this runner reported (it is in the new base) and keeps what it learnt since, so a round sampled
    while the merge was on its way is neither lost nor counted twice. Loading a plain state (a
    checkpoint) replaces everything.

    Args:
        shape: The shape of one sample.
        owner: The connector's name, for errors.
    """

    def __init__(self, shape: tuple[int, ...], owner: str) -> None:
        self.shape, self.owner = tuple(shape), owner
        self.base, self.reported, self.fresh = (RunningMeanStd(self.shape) for _ in range(3))

    def add(self, samples: np.ndarray) -> None:
        """Learn from ``samples`` ``[B, *shape]``."""
        self.fresh.add(samples)

    def total(self) -> RunningMeanStd:
        """Everything: base, reported and fresh."""
        total = RunningMeanStd(self.shape)
        for part in (self.base, self.reported, self.fresh):
            total.merge(part)
        return total

    def get_state(self) -> dict[str, Any]:
        """``{"base": ..., "delta": what this runner learnt beyond the base}``; hands the fresh part out."""
        self.reported.merge(self.fresh)
        self.fresh = RunningMeanStd(self.shape)
        return {"base": self.base.to_dict(), "delta": self.reported.to_dict()}

    def set_state(self, state: Any) -> None:
        """Load a state: a merge result keeps what was learnt here since the last report; any other
        state (from a checkpoint) replaces everything."""
        base, delta = self._parse(state)
        base.merge(delta)
        self.base, self.reported = base, RunningMeanStd(self.shape)
        if not (isinstance(state, Mapping) and state.get("merged")):
            self.fresh = RunningMeanStd(self.shape)

    def merge_states(self, states: list[Any]) -> dict[str, Any]:
        """Several runners' states as one (marked ``"merged"``, with an empty delta)."""
        parsed = [self._parse(state) for state in states]
        merged = RunningMeanStd(self.shape)
        merged.merge(max((base for base, _ in parsed), key=lambda b: b.count))
        for _, delta in parsed:
            merged.merge(delta)
        return {"base": merged.to_dict(), "delta": RunningMeanStd(self.shape).to_dict(), "merged": True}

    def _parse(self, state: Any) -> tuple[RunningMeanStd, RunningMeanStd]:
        if not isinstance(state, Mapping) or "base" not in state or "delta" not in state:
            raise ValueError(f"{self.owner} state: expected {{'base': ..., 'delta': ...}} (from get_state()).")
        return (
            RunningMeanStd.from_dict(state["base"], self.shape, self.owner),
            RunningMeanStd.from_dict(state["delta"], self.shape, self.owner),
        )
