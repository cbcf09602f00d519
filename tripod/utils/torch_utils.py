"""Torch helpers RLlib module and loss code uses (RLlib path: ``ray.rllib.utils.torch_utils``).

``FLOAT_MIN`` / ``FLOAT_MAX`` are large finite float32 values: adding ``FLOAT_MIN`` to a logit masks
an action without producing ``-inf`` (whose gradients and entropies are NaN).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

__all__ = [
    "FLOAT_MAX",
    "FLOAT_MIN",
    "convert_to_torch_tensor",
    "explained_variance",
    "huber_loss",
    "l2_loss",
    "one_hot",
    "sequence_mask",
    "update_target_network",
]

#: The most negative value used for masking (finite in float32).
FLOAT_MIN = -3.4e38
#: The largest value used for clipping (finite in float32).
FLOAT_MAX = 3.4e38


def one_hot(x: torch.Tensor, space: gym.Space) -> torch.Tensor:
    """One-hot encode integer actions or observations of a discrete ``space``.

    Args:
        x: integers, shape ``[B]`` for ``Discrete(n)`` (counted from the space's ``start``) and
            ``[B, k]`` for a ``MultiDiscrete`` with ``k`` components (likewise; a multi-dimensional
            ``nvec`` is flattened first).
        space: a ``Discrete`` or ``MultiDiscrete`` space.

    Returns:
        An int64 tensor, ``[B, n]`` for ``Discrete(n)`` and ``[B, sum(nvec)]`` for a
        ``MultiDiscrete`` (the components' one-hots side by side).

    Raises:
        ValueError: for any other space.
    """
    if isinstance(space, gym.spaces.Discrete):
        return nn.functional.one_hot(x.long() - int(space.start), int(space.n))
    if isinstance(space, gym.spaces.MultiDiscrete):
        sizes = [int(n) for n in np.ravel(space.nvec)]
        flat = x.long().reshape(x.shape[0], -1)
        start = np.ravel(getattr(space, "start", 0))
        if start.any():
            flat = flat - torch.as_tensor(start, dtype=torch.long, device=flat.device)
        return torch.cat([nn.functional.one_hot(flat[:, i], n) for i, n in enumerate(sizes)], dim=-1)
    raise ValueError(f"one_hot() needs a Discrete or MultiDiscrete space, got {space}.")


def convert_to_torch_tensor(
    x: Any, device: str | torch.device | None = None, pin_memory: bool = False
) -> Any:
    """Convert every leaf of a (nested) dict/tuple/list to a ``torch.Tensor`` on ``device``.

    float64 becomes float32 (float16 stays), ``None`` leaves stay ``None``, and numpy arrays of
    strings or objects are left as they are. ``device=None`` means the CPU.
    """
    target = torch.device(device) if device is not None else torch.device("cpu")
    pin = pin_memory and target.type == "cuda" and torch.cuda.is_available()

    def convert(item: Any) -> Any:
        if item is None:
            return None
        if isinstance(item, Mapping):
            return {k: convert(v) for k, v in item.items()}
        if isinstance(item, (tuple, list)):
            converted = [convert(v) for v in item]
            return type(item)(*converted) if hasattr(item, "_fields") else type(item)(converted)
        if isinstance(item, np.ndarray) and (item.dtype == object or item.dtype.kind in "US"):
            return item
        tensor = item if torch.is_tensor(item) else torch.as_tensor(np.asarray(item))
        if tensor.is_floating_point() and tensor.dtype == torch.float64:
            tensor = tensor.float()
        if pin:
            tensor = tensor.pin_memory()
        return tensor.to(target, non_blocking=pin)

    return convert(x)


def explained_variance(y: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    """``max(-1, 1 - Var[y - pred] / Var[y])``: 1 is a perfect value function, 0 no better than a constant."""
    y_var = torch.var(y, dim=0)
    diff_var = torch.var(y - pred, dim=0)
    return torch.clamp(1.0 - diff_var / y_var, min=-1.0)


def huber_loss(x: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    """Elementwise Huber loss of the error ``x``: quadratic within ``delta``, linear outside."""
    abs_x = torch.abs(x)
    return torch.where(abs_x < delta, 0.5 * x.pow(2), delta * (abs_x - 0.5 * delta))


def l2_loss(x: torch.Tensor) -> torch.Tensor:
    """``sum(x**2) / 2``."""
    return 0.5 * torch.sum(x.pow(2))


def sequence_mask(
    lengths: torch.Tensor,
    maxlen: int | None = None,
    dtype: torch.dtype | None = None,
    time_major: bool = False,
) -> torch.Tensor:
    """A ``[B, T]`` mask (``[T, B]`` with ``time_major``) that is True for ``t < lengths[b]``.

    ``maxlen`` defaults to ``lengths.max()``; ``dtype`` defaults to bool.
    """
    maxlen = int(lengths.max()) if maxlen is None else int(maxlen)
    mask = torch.arange(maxlen, device=lengths.device)[None, :] < lengths[:, None]
    if time_major:
        mask = mask.t()
    return mask if dtype is None else mask.to(dtype)


def update_target_network(main_net: nn.Module, target_net: nn.Module, tau: float) -> None:
    """Polyak update in place: ``target ← tau · main + (1 − tau) · target`` (``tau=1``: a copy).

    Parameters and floating-point buffers are averaged; other buffers (counters) are copied.
    """
    with torch.no_grad():
        main_state = main_net.state_dict()
        for name, target in target_net.state_dict().items():
            source = main_state[name]
            if tau == 1.0 or not target.is_floating_point():
                target.copy_(source)
            else:
                target.lerp_(source, tau)
