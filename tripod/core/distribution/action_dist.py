"""Choosing and building action distributions: :func:`get_action_dist_cls` and :func:`make_action_dist`.

:func:`make_action_dist` is the single entry point used by runners and learners: it accepts a
logits tensor (RLlib's convention), a ``torch.distributions.Distribution`` (what a hand-written
module may return), or a tripod :class:`~tripod.core.distribution.distribution.Distribution`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import distributions as td

from tripod.core.distribution.distribution import Distribution
from tripod.core.distribution.torch.torch_distribution import (
    TorchCategorical,
    TorchDiagGaussian,
    TorchDistributionWrapper,
    TorchMultiCategorical,
    TorchSquashedGaussian,
)


def get_action_dist_cls(action_space: gym.Space, *, squashed: bool = False) -> Any:
    """Return the distribution class (or a ``PartialDistCls``) for a gymnasium action space.

    ``Discrete`` -> :class:`TorchCategorical`; ``MultiDiscrete`` -> :class:`TorchMultiCategorical`
    with ``input_lens`` bound; ``Box`` -> :class:`TorchDiagGaussian`, or with ``squashed=True``
    :class:`TorchSquashedGaussian` with the space's (finite) bounds bound. Box spaces with other
    than one dimension get ``action_shape`` bound. Other spaces raise ``ValueError``.
    """
    if isinstance(action_space, gym.spaces.Box):
        shape = tuple(action_space.shape)
        extra = {} if len(shape) == 1 else {"action_shape": shape}
        if not squashed:
            return TorchDiagGaussian.get_partial_dist_cls(**extra) if extra else TorchDiagGaussian
        low, high = np.asarray(action_space.low), np.asarray(action_space.high)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise ValueError(
                f"A squashed Gaussian needs finite Box bounds, got {action_space!r}; use squashed=False "
                "or give the Box finite low/high."
            )
        if not np.all(high > low):
            raise ValueError(
                f"A squashed Gaussian needs high > low in every dimension, got {action_space!r}."
            )
        if low.size and np.all(low == low.flat[0]) and np.all(high == high.flat[0]):
            bounds = {"low": float(low.flat[0]), "high": float(high.flat[0])}
        else:
            bounds = {
                "low": torch.as_tensor(low, dtype=torch.float32),
                "high": torch.as_tensor(high, dtype=torch.float32),
            }
        if isinstance(bounds["low"], float) and (bounds["low"], bounds["high"]) == (-1.0, 1.0):
            return TorchSquashedGaussian.get_partial_dist_cls(**extra) if extra else TorchSquashedGaussian
        return TorchSquashedGaussian.get_partial_dist_cls(**bounds, **extra)
    if squashed:
        raise ValueError(f"squashed=True needs a gymnasium.spaces.Box action space, got {action_space!r}.")
    if isinstance(action_space, gym.spaces.Discrete):
        return TorchCategorical
    if isinstance(action_space, gym.spaces.MultiDiscrete):
        lens = tuple(int(n) for n in np.asarray(action_space.nvec).flatten())
        return TorchMultiCategorical.get_partial_dist_cls(input_lens=lens)
    raise ValueError(
        f"No action distribution for action space {action_space!r} ({type(action_space).__name__}): "
        "tripod supports gymnasium.spaces.Discrete, MultiDiscrete and Box. For other spaces return a "
        "torch.distributions.Distribution as action_dist_inputs, or override get_*_action_dist_cls()."
    )


_SPACE_CACHE: dict[int, tuple[gym.Space, Any]] = {}


def _dist_cls_for(space: gym.Space) -> Any:
    hit = _SPACE_CACHE.get(id(space))
    if hit is not None and hit[0] is space:
        return hit[1]
    cls = get_action_dist_cls(space)
    if len(_SPACE_CACHE) >= 256:
        _SPACE_CACHE.clear()
    _SPACE_CACHE[id(space)] = (space, cls)
    return cls


def _wrap_torch_dist(dist: td.Distribution) -> Distribution:
    if isinstance(dist, td.Categorical):
        return TorchCategorical._wrap(dist)
    normal, event_ndims = None, 0
    if type(dist) is td.Normal:
        normal, event_ndims = dist, max(len(dist.batch_shape) - 1, 0)
    elif type(dist) is td.Independent and type(dist.base_dist) is td.Normal:
        normal, event_ndims = dist.base_dist, dist.reinterpreted_batch_ndims
    if normal is None:
        return TorchDistributionWrapper(dist)
    return TorchDiagGaussian._wrap(normal, event_ndims)


def make_action_dist(
    action_dist_inputs: Any, action_space: gym.Space | None = None, *, dist_cls: Any = None
) -> Distribution:
    """Turn a module's ``action_dist_inputs`` into a tripod :class:`Distribution`.

    - a logits ``torch.Tensor``: ``dist_cls.from_logits`` (``dist_cls`` defaults to
      ``get_action_dist_cls(action_space)``, cached per space object);
    - a ``torch.distributions.Distribution``: ``Categorical`` -> :class:`TorchCategorical`,
      ``Normal``/``Independent(Normal)`` -> :class:`TorchDiagGaussian` (the torch object is kept as
      ``._dist``), anything else -> :class:`TorchDistributionWrapper`;
    - a tripod :class:`Distribution`: returned as is.
    """
    if isinstance(action_dist_inputs, torch.Tensor):
        if dist_cls is None:
            if action_space is None:
                raise ValueError(
                    "make_action_dist() got a logits tensor but neither action_space nor dist_cls; "
                    "pass one of them so the logits can be interpreted."
                )
            dist_cls = _dist_cls_for(action_space)
        return dist_cls.from_logits(action_dist_inputs)
    if isinstance(action_dist_inputs, Distribution):
        return action_dist_inputs
    if isinstance(action_dist_inputs, td.Distribution):
        return _wrap_torch_dist(action_dist_inputs)
    kind = type(action_dist_inputs)
    hint = " Convert it with torch.as_tensor(...)." if isinstance(action_dist_inputs, np.ndarray) else ""
    raise TypeError(
        f"make_action_dist() expected action_dist_inputs to be a logits torch.Tensor or a "
        f"torch.distributions.Distribution, but received {kind.__module__}.{kind.__qualname__}: "
        f"{' '.join(repr(action_dist_inputs).split())[:80]}.{hint}"
    )
