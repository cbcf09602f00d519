"""Turn (possibly nested) gymnasium observations into one flat float tensor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ObsFlattener", "flat_obs_dim"]

_SUPPORTED = "Box, Discrete, MultiDiscrete, MultiBinary, Dict and Tuple (nested freely)"


def _unsupported(space: gym.Space, path: str) -> ValueError:
    return ValueError(
        f"Observation space {space!r} at {path} (type {type(space).__name__}) cannot be flattened "
        f"into a vector. Supported spaces: {_SUPPORTED}. Write a custom RLModule (or a "
        "gymnasium observation wrapper) for this space."
    )


def flat_obs_dim(space: gym.Space) -> int:
    """Size of the vector :class:`ObsFlattener` makes from one observation of ``space``.

    Box: product of the shape; Discrete(n): n (one-hot); MultiDiscrete: sum of
    ``nvec``; MultiBinary: number of bits; Dict/Tuple: sum over the sub-spaces.

    Raises:
        ValueError: for spaces that have no fixed-size vector form (Text, Graph,
            Sequence, OneOf, ...), naming the space.
    """
    return _flat_dim(space, "obs")


def _flat_dim(space: gym.Space, path: str) -> int:
    if isinstance(space, gym.spaces.Box):
        return int(np.prod(space.shape, dtype=np.int64))
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return int(np.sum(space.nvec))
    if isinstance(space, gym.spaces.MultiBinary):
        return int(np.prod(space.shape, dtype=np.int64))
    if isinstance(space, gym.spaces.Dict):
        return sum(_flat_dim(sub, f"{path}[{key!r}]") for key, sub in space.spaces.items())
    if isinstance(space, gym.spaces.Tuple):
        return sum(_flat_dim(sub, f"{path}[{i}]") for i, sub in enumerate(space.spaces))
    raise _unsupported(space, path)


def _to_tensor(x: object, anchor: torch.Tensor) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    return torch.as_tensor(np.asarray(x), device=anchor.device)


def _split_lead(x: torch.Tensor, shape: tuple[int, ...], path: str) -> tuple[int, ...]:
    """Return the leading (batch) dims of ``x`` whose trailing dims must be ``shape``."""
    k = len(shape)
    if k == 0:
        return tuple(x.shape)
    if x.dim() < k or tuple(x.shape[-k:]) != shape:
        raise ValueError(
            f"Observation {path} should have shape [..., {', '.join(map(str, shape))}] "
            f"(batch dims first), got {tuple(x.shape)}."
        )
    return tuple(x.shape[:-k])


class _BoxFlat(nn.Module):
    def __init__(self, space: gym.spaces.Box, path: str) -> None:
        super().__init__()
        self.shape = tuple(space.shape)
        self.dim = _flat_dim(space, path)
        self.path = path

    def forward(self, x: object, anchor: torch.Tensor) -> torch.Tensor:
        x = _to_tensor(x, anchor)
        lead = _split_lead(x, self.shape, self.path)
        return x.reshape(*lead, self.dim).to(dtype=anchor.dtype)


class _MultiBinaryFlat(_BoxFlat):
    pass


class _DiscreteFlat(nn.Module):
    def __init__(self, space: gym.spaces.Discrete, path: str) -> None:
        super().__init__()
        self.n = int(space.n)
        self.start = int(space.start)
        self.dim = self.n
        self.path = path

    def forward(self, x: object, anchor: torch.Tensor) -> torch.Tensor:
        x = _to_tensor(x, anchor).long()
        if self.start:
            x = x - self.start
        try:
            return F.one_hot(x, self.n).to(dtype=anchor.dtype)
        except RuntimeError as e:
            raise ValueError(
                f"Observation {self.path} holds values outside Discrete({self.n}, start={self.start}): {e}"
            ) from e


class _MultiDiscreteFlat(nn.Module):
    def __init__(self, space: gym.spaces.MultiDiscrete, path: str) -> None:
        super().__init__()
        nvec = np.asarray(space.nvec, dtype=np.int64)
        start = np.broadcast_to(np.asarray(space.start, dtype=np.int64), nvec.shape)
        self.shape = tuple(nvec.shape)
        self.k = int(nvec.size)
        self.dim = int(nvec.sum())
        self.path = path
        offsets = np.concatenate([[0], np.cumsum(nvec.reshape(-1))[:-1]])
        self.register_buffer("nvec", torch.tensor(nvec.reshape(-1)), persistent=False)
        self.register_buffer("start", torch.tensor(start.reshape(-1)), persistent=False)
        self.register_buffer("offsets", torch.tensor(offsets), persistent=False)

    def forward(self, x: object, anchor: torch.Tensor) -> torch.Tensor:
        x = _to_tensor(x, anchor)
        lead = _split_lead(x, self.shape, self.path)
        rel = x.reshape(*lead, self.k).long() - self.start
        # Checking costs a device sync on accelerators; do it on CPU only.
        if rel.device.type == "cpu" and bool(((rel < 0) | (rel >= self.nvec)).any()):
            raise ValueError(
                f"Observation {self.path} holds values outside MultiDiscrete(nvec={self.nvec.tolist()}, "
                f"start={self.start.tolist()})."
            )
        out = torch.zeros(*lead, self.dim, dtype=anchor.dtype, device=rel.device)
        return out.scatter_(-1, rel + self.offsets, 1.0)


class _CompositeFlat(nn.Module):
    def __init__(self, children: list[nn.Module], keys: list, path: str, kind: str) -> None:
        super().__init__()
        self.parts = nn.ModuleList(children)
        self._keys = keys
        self.path = path
        self.kind = kind
        self.dim = sum(c.dim for c in children)

    def forward(self, x: object, anchor: torch.Tensor) -> torch.Tensor:
        if self.kind == "dict":
            if not isinstance(x, Mapping):
                raise ValueError(
                    f"Observation {self.path} should be a dict with keys {self._keys}, got {type(x).__name__}."
                )
            try:
                items = [x[k] for k in self._keys]
            except KeyError as e:
                raise ValueError(
                    f"Observation {self.path} lacks key {e.args[0]!r}; expected keys {self._keys}, "
                    f"got {list(x.keys())}."
                ) from None
        else:
            if isinstance(x, str | bytes) or not isinstance(x, Sequence) or len(x) != len(self.parts):
                raise ValueError(
                    f"Observation {self.path} should be a tuple/list of {len(self.parts)} elements, "
                    f"got {type(x).__name__}"
                    f"{f' of length {len(x)}' if isinstance(x, Sequence) else ''}."
                )
            items = list(x)
        parts = [part(item, anchor) for part, item in zip(self.parts, items)]
        if len(parts) == 1:
            return parts[0]
        try:
            return torch.cat(parts, dim=-1)
        except RuntimeError as e:
            shapes = ", ".join(f"{k!r}: {tuple(p.shape)}" for k, p in zip(self._keys, parts))
            raise ValueError(
                f"The parts of observation {self.path} have different batch dimensions "
                f"(flattened shapes {shapes})."
            ) from e


def _build(space: gym.Space, path: str) -> nn.Module:
    if isinstance(space, gym.spaces.Box):
        return _BoxFlat(space, path)
    if isinstance(space, gym.spaces.Discrete):
        return _DiscreteFlat(space, path)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return _MultiDiscreteFlat(space, path)
    if isinstance(space, gym.spaces.MultiBinary):
        return _MultiBinaryFlat(gym.spaces.Box(0, 1, tuple(space.shape)), path)
    if isinstance(space, gym.spaces.Dict):
        keys = list(space.spaces.keys())
        children = [_build(space.spaces[k], f"{path}[{k!r}]") for k in keys]
        if not children:
            raise ValueError(f"Observation space at {path} is an empty Dict; there is nothing to encode.")
        return _CompositeFlat(children, keys, path, "dict")
    if isinstance(space, gym.spaces.Tuple):
        children = [_build(sub, f"{path}[{i}]") for i, sub in enumerate(space.spaces)]
        if not children:
            raise ValueError(f"Observation space at {path} is an empty Tuple; there is nothing to encode.")
        return _CompositeFlat(children, list(range(len(children))), path, "tuple")
    raise _unsupported(space, path)


class ObsFlattener(nn.Module):
    """Map a batch of observations of ``space`` to one float tensor ``[..., out_dim]``.

    * Box and MultiBinary: trailing dims flattened, cast to float.
    * Discrete(n, start): one-hot of ``x - start`` (n columns).
    * MultiDiscrete: the one-hots of every component, concatenated.
    * Dict: a dict of batches, encoded in the space's key order (gymnasium sorts
      the keys of a plain dict) and concatenated.
    * Tuple: a tuple or list of batches, encoded in order and concatenated.

    Nesting is free. Leading (batch) dimensions are kept, so ``[B, ...]`` gives
    ``[B, out_dim]`` and ``[B, T, ...]`` gives ``[B, T, out_dim]``. Inputs may be
    torch tensors or numpy arrays (moved to the module's device). The output
    dtype is the module's float dtype (``float32`` unless converted).
    Out-of-range discrete values raise on CPU tensors.

    Args:
        space: the observation space.

    Attributes:
        space: the observation space.
        out_dim: ``flat_obs_dim(space)``.

    Raises:
        ValueError: at construction for spaces with no vector form (Text, Graph,
            Sequence, ...), and in ``forward`` for observations whose structure or
            shape does not match the space; both name the offending part.
    """

    def __init__(self, space: gym.Space) -> None:
        super().__init__()
        self.space = space
        self.root = _build(space, "obs")
        self.out_dim = self.root.dim
        # Tracks the module's device and float dtype through .to(); not saved in state dicts.
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)

    def forward(self, obs: object) -> torch.Tensor:
        """Flatten a batch of observations (tensor, array, dict or tuple) into ``[..., out_dim]``."""
        return self.root(obs, self._anchor)
