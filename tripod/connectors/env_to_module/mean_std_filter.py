"""MeanStdFilter: observations normalised by running mean and standard deviation (RLlib's name)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from tripod.connectors.connector_v2 import ConnectorV2, StepInfo
from tripod.connectors.running_stats import SyncedStats

__all__ = ["MeanStdFilter"]


class MeanStdFilter(ConnectorV2):
    """``(obs - mean) / std``, clipped, with the mean and std of every observation sampled for training.

    The statistics are updated once per sampled round (from that round's observations), so
    they are fixed within a round; the first round passes observations through unscaled
    (clipped only). Env runners' statistics are merged exactly (counts, means and squared
    deviations), saved in checkpoints and frozen while evaluating.

    Args:
        multi_agent: RLlib's flag for multi-agent pipelines; accepted and not needed (the
            multi-agent env runner gives every module its own copy of the pipeline).
        de_mean_to_zero: Subtract the running mean.
        de_std_to_one: Divide by the running standard deviation.
        clip_by_value: Clip the result to ``[-v, v]`` (``None``: no clipping).
        update_stats: Learn the statistics from sampled observations (``False``: keep the
            loaded ones, e.g. for deployment).
        epsilon: Added to the variance before the square root.
    """

    def __init__(
        self,
        input_observation_space: gym.Space | None = None,
        input_action_space: gym.Space | None = None,
        *,
        multi_agent: bool = False,
        de_mean_to_zero: bool = True,
        de_std_to_one: bool = True,
        clip_by_value: float | None = 10.0,
        update_stats: bool = True,
        epsilon: float = 1e-8,
        **kwargs: Any,
    ) -> None:
        del multi_agent  # RLlib's flag: every module gets its own copy of the pipeline either way
        if clip_by_value is not None and not clip_by_value > 0:
            raise ValueError(
                f"MeanStdFilter(clip_by_value={clip_by_value!r}): use a positive number or None."
            )
        self.de_mean_to_zero, self.de_std_to_one = bool(de_mean_to_zero), bool(de_std_to_one)
        self.clip_by_value = None if clip_by_value is None else float(clip_by_value)
        self.update_stats, self.epsilon = bool(update_stats), float(epsilon)
        self._rows: np.ndarray | None = None  # the observations of the round so far, flat
        self._filled = 0
        super().__init__(input_observation_space, input_action_space, **kwargs)

    def recompute_output_observation_space(
        self, input_observation_space: Any, input_action_space: Any
    ) -> Any:
        space = input_observation_space
        if not isinstance(space, gym.spaces.Box):
            raise ValueError(
                f"MeanStdFilter normalises Box observations, got {space}. Put FlattenObservations() "
                "before it in env_to_module_connector to turn Dict/Tuple/Discrete observations into a Box."
            )
        self._stats = SyncedStats(space.shape, "MeanStdFilter")
        self._refresh()
        bound = np.inf if self.clip_by_value is None else self.clip_by_value
        return gym.spaces.Box(-bound, bound, space.shape, np.float32)

    # ------------------------------------------------------------------ data
    def __call__(self, data: np.ndarray, info: StepInfo) -> np.ndarray:
        if info.update and self.update_stats:
            self._record(data)
        out = np.subtract(data, self._shift, dtype=np.float32)
        out *= self._scale
        if self.clip_by_value is not None:  # two ufuncs: a third of np.clip's cost on small arrays
            np.minimum(out, self.clip_by_value, out=out)
            np.maximum(out, -self.clip_by_value, out=out)
        return out

    def _record(self, data: np.ndarray) -> None:
        """Keep ``data``'s rows for the round's update (in a buffer that doubles when full)."""
        rows = len(data)
        end = self._filled + rows
        if self._rows is None or end > len(self._rows):
            grown = np.empty((max(2 * end, 1024), *self._stats.shape), dtype=np.float32)
            if self._filled:
                grown[: self._filled] = self._rows[: self._filled]
            self._rows = grown
        self._rows[self._filled : end] = data
        self._filled = end

    def end_round(self, update: bool) -> None:
        if self._filled:
            if update and self.update_stats:
                self._stats.add(self._rows[: self._filled])
                self._refresh()
            self._filled = 0

    def _refresh(self) -> None:
        """The shift and scale applied from now on (identity until two observations were seen)."""
        total = self._stats.total()
        seen = total.count >= 2
        self._shift = (total.mean if seen and self.de_mean_to_zero else np.zeros(total.shape)).astype(
            np.float32
        )
        std = np.sqrt(total.var + self.epsilon) if seen and self.de_std_to_one else np.ones(total.shape)
        self._scale = (1.0 / std).astype(np.float32)

    @property
    def mean(self) -> np.ndarray:
        """The running mean of the observations (float64)."""
        return self._stats.total().mean

    @property
    def std(self) -> np.ndarray:
        """The running standard deviation the observations are divided by."""
        return np.sqrt(self._stats.total().var + self.epsilon)

    @property
    def count(self) -> int:
        """How many observations the statistics hold."""
        return self._stats.total().count

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, Any]:
        """``{"base": statistics at the last merge, "delta": statistics learnt since}``."""
        return self._stats.get_state()

    def set_state(self, state: Mapping[str, Any]) -> None:
        self._stats.set_state(state)
        self._filled = 0
        self._refresh()

    def merge_states(self, states: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The fullest ``base`` among the runners plus every runner's ``delta`` (runners share the base)."""
        return self._stats.merge_states(list(states))

    def to_spec(self) -> dict[str, Any]:
        return {
            "type": "MeanStdFilter", "de_mean_to_zero": self.de_mean_to_zero, "de_std_to_one": self.de_std_to_one,
            "clip_by_value": self.clip_by_value, "update_stats": self.update_stats, "epsilon": self.epsilon,
        }  # fmt: skip
