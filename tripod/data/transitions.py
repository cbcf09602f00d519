"""Turning an env runner's time-major batch into transitions ``(obs, action, reward, next_obs)``.

The runner returns ``obs`` ``[T, N, ...]`` and, separately, ``bootstrap_obs``
``[K, ...]`` with ``bootstrap_index`` ``[K]`` (flat ``t * N + n``): the real next
observation of every truncated row and of the last row of every sub-env. Row
``t``'s next observation is otherwise row ``t + 1``'s observation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tripod.core.columns import Columns

__all__ = ["BOOTSTRAP_INDEX", "BOOTSTRAP_OBS", "next_obs_from_bootstrap", "with_next_obs"]

BOOTSTRAP_OBS = "bootstrap_obs"
BOOTSTRAP_INDEX = "bootstrap_index"


def _next_leaf(obs: np.ndarray, boot: np.ndarray, index: np.ndarray) -> np.ndarray:
    T, N = obs.shape[:2]
    nxt = np.empty_like(obs)
    nxt[:-1] = obs[1:]
    nxt.reshape((T * N, *obs.shape[2:]))[index] = boot
    return nxt


def _zip_map(obs: Any, boot: Any, index: np.ndarray) -> Any:
    if isinstance(obs, Mapping):
        return {key: _zip_map(sub, boot[key], index) for key, sub in obs.items()}
    if isinstance(obs, tuple | list):
        return type(obs)(_zip_map(sub, b, index) for sub, b in zip(obs, boot, strict=True))
    return _next_leaf(np.asarray(obs), np.asarray(boot), index)


def next_obs_from_bootstrap(batch: Mapping[str, Any]) -> Any:
    """The next observation of every row of a runner batch, shaped like ``batch[Columns.OBS]``.

    ``next_obs[t] = obs[t + 1]``, except at the rows listed in ``bootstrap_index``
    (truncations and each sub-env's last row), which take ``bootstrap_obs``. A
    terminated row's next observation is the final observation for NEXT_STEP
    vector envs, but the next episode's first observation for SAME_STEP ones
    (tripod's ``"sync"``/``"async"`` envs; the runner reports final observations
    only where a value must be bootstrapped): TD targets multiply it by
    ``1 - terminated = 0``, so use it for nothing else. Rows with
    ``loss_mask == False`` get a meaningless next observation; drop them.

    Args:
        batch: A ``SingleAgentEnvRunner.sample(num_timesteps=...)`` batch holding
            ``Columns.OBS`` (``[T, N, ...]``, possibly nested for Dict/Tuple spaces),
            ``"bootstrap_obs"`` and ``"bootstrap_index"``.

    Returns:
        A new array (or nested structure of arrays) ``[T, N, ...]``.

    Raises:
        KeyError: If the batch lacks the bootstrap entries.
    """
    missing = [key for key in (Columns.OBS, BOOTSTRAP_OBS, BOOTSTRAP_INDEX) if key not in batch]
    if missing:
        raise KeyError(
            f"next_obs_from_bootstrap(): the batch lacks {missing}; pass a batch from "
            "SingleAgentEnvRunner.sample(num_timesteps=...), which holds bootstrap_obs and bootstrap_index."
        )
    index = np.asarray(batch[BOOTSTRAP_INDEX], dtype=np.int64)
    return _zip_map(batch[Columns.OBS], batch[BOOTSTRAP_OBS], index)


def with_next_obs(batch: Mapping[str, Any]) -> dict[str, Any]:
    """A shallow copy of ``batch`` with ``Columns.NEXT_OBS`` from :func:`next_obs_from_bootstrap`."""
    out = dict(batch)
    out[Columns.NEXT_OBS] = next_obs_from_bootstrap(batch)
    return out
