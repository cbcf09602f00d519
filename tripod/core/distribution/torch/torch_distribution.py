"""Torch action distributions at RLlib's path (``ray.rllib.core.distribution.torch.torch_distribution``).

Every class turns a module's ``action_dist_inputs`` into something that can ``sample``, score
actions (``logp``, one value per row, summed over action dimensions), and report ``entropy`` and
``kl``. All torch distributions are built with ``validate_args=False``: these objects are created
once per vector-env step, and argument validation costs more than the maths.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import distributions as td

from tripod.core.distribution.distribution import Distribution, _size, _sum_last

#: ``log_std`` taken from logits is clamped to ``[LOG_STD_MIN, LOG_STD_MAX]`` (std in about
#: ``[2e-9, 7.4]``), so a diverging network cannot produce a zero or huge std (NaN/inf logp).
LOG_STD_MIN = -20.0
LOG_STD_MAX = 2.0
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG2 = math.log(2.0)
_ATANH_EPS = 1e-6


class TorchDeterministic(Distribution):
    """A point mass on ``loc`` (greedy actions).

    ``sample``/``rsample`` return ``loc``; ``logp`` returns zeros (by convention: the chosen action
    has probability one), ``entropy`` and ``kl`` return zeros. ``event_ndims`` is the number of
    trailing action dims of ``loc`` (default: 1 if ``loc`` has at least 2 dims, else 0).
    """

    def __init__(self, loc: torch.Tensor, *, event_ndims: int | None = None) -> None:
        self.loc = loc
        self.event_ndims = (1 if loc.dim() >= 2 else 0) if event_ndims is None else event_ndims

    @classmethod
    def from_logits(cls, logits: torch.Tensor, **kwargs: Any) -> TorchDeterministic:
        """Use ``logits`` as the actions themselves."""
        return cls(logits, **kwargs)

    @classmethod
    def required_input_dim(cls, space: gym.Space, **kwargs: Any) -> int:
        """Number of elements of one action."""
        return int(np.prod(space.shape))

    def sample(self, *, sample_shape: Any = ()) -> torch.Tensor:
        """Return ``loc`` (detached), expanded by ``sample_shape``."""
        shape = _size(sample_shape)
        loc = self.loc.detach()
        return loc.expand(*shape, *loc.shape) if shape else loc

    def rsample(self, *, sample_shape: Any = ()) -> torch.Tensor:
        """Return ``loc`` (with its gradient), expanded by ``sample_shape``."""
        shape = _size(sample_shape)
        return self.loc.expand(*shape, *self.loc.shape) if shape else self.loc

    def _zeros(self, shape: torch.Size) -> torch.Tensor:
        dtype = self.loc.dtype if self.loc.is_floating_point() else torch.get_default_dtype()
        return torch.zeros(shape, dtype=dtype, device=self.loc.device)

    def logp(self, value: torch.Tensor) -> torch.Tensor:
        """Zeros, one per row of ``value``."""
        return self._zeros(value.shape[: value.dim() - self.event_ndims])

    def entropy(self) -> torch.Tensor:
        """Zeros, one per row."""
        return self._zeros(self.loc.shape[: self.loc.dim() - self.event_ndims])

    def kl(self, other: Distribution) -> torch.Tensor:
        """Zeros, one per row."""
        return self.entropy()

    def to_deterministic(self) -> TorchDeterministic:
        """Return ``self``."""
        return self


class TorchCategorical(Distribution):
    """Categorical over ``Discrete(n)`` actions; logits ``[B, n]`` (or unbatched ``[n]``).

    The maths is done directly on ``log_softmax(logits)`` (about twice as fast as going through
    ``torch.distributions.Categorical``); ``_dist`` builds the equivalent torch object on first use.
    A wrapped subclass of ``torch.distributions.Categorical`` is delegated to instead.
    """

    def __init__(self, logits: torch.Tensor | None = None, probs: torch.Tensor | None = None) -> None:
        # RLlib 2.60's order (logits first): subclasses call super().__init__(logits, probs).
        if (probs is None) == (logits is None):
            raise ValueError("TorchCategorical needs exactly one of probs= or logits=.")
        self.logits = logits if logits is not None else probs.log()
        self._torch: td.Categorical | None = None
        self._delegate = False
        self._log_probs: torch.Tensor | None = None
        self._probs: torch.Tensor | None = None

    @classmethod
    def _wrap(cls, dist: td.Categorical) -> TorchCategorical:
        obj = cls(logits=dist.logits)
        obj._torch, obj._delegate = dist, type(dist) is not td.Categorical
        return obj

    @classmethod
    def from_logits(cls, logits: torch.Tensor, **kwargs: Any) -> TorchCategorical:
        """Build from unnormalised logits ``[..., n]``."""
        return cls(logits=logits, **kwargs)

    @classmethod
    def required_input_dim(cls, space: gym.Space, **kwargs: Any) -> int:
        """``space.n``."""
        cls._check_space(cls.__name__, space, gym.spaces.Discrete)
        return int(space.n)

    @property
    def _dist(self) -> td.Categorical:
        if self._torch is None:
            self._torch = td.Categorical(logits=self.logits, validate_args=False)
        return self._torch

    @property
    def log_probs(self) -> torch.Tensor:
        """Normalised log-probabilities ``log_softmax(logits)``."""
        if self._log_probs is None:
            self._log_probs = torch.log_softmax(self.logits, dim=-1)
        return self._log_probs

    @property
    def probs(self) -> torch.Tensor:
        """Action probabilities."""
        if self._probs is None:
            self._probs = self.log_probs.exp()
        return self._probs

    def sample(self, *, sample_shape: Any = ()) -> torch.Tensor:
        """Sample int64 action indices of shape ``[*sample_shape, B]``."""
        shape = _size(sample_shape)
        if self._delegate:
            return self._dist.sample(shape)
        probs, num = self.probs, shape.numel()
        out = torch.multinomial(probs.reshape(-1, probs.shape[-1]), num, True)
        return (out if num == 1 else out.T).reshape(shape + probs.shape[:-1])

    def logp(self, value: torch.Tensor) -> torch.Tensor:
        """Log-probability of action indices ``value`` (``[B]``)."""
        if self._delegate:
            return self._dist.log_prob(value)
        log_probs, index = self.log_probs, value.long().unsqueeze(-1)
        if index.shape[:-1] != log_probs.shape[:-1]:
            index, log_probs = torch.broadcast_tensors(index, log_probs)
            index = index[..., :1]
        return log_probs.gather(-1, index).squeeze(-1)

    def entropy(self) -> torch.Tensor:
        """Entropy ``[B]``."""
        if self._delegate:
            return self._dist.entropy()
        log_probs = self.log_probs.clamp(min=torch.finfo(self.logits.dtype).min)
        return -(log_probs * self.probs).sum(-1)

    def kl(self, other: Distribution) -> torch.Tensor:
        """``KL(self || other)`` ``[B]`` (via ``torch.distributions.kl_divergence``)."""
        self._check_other(other)
        return td.kl_divergence(self._dist, other._dist)

    def to_deterministic(self) -> TorchDeterministic:
        """Point mass on ``argmax(logits, -1)`` (a wrapped subclass's ``mode``)."""
        greedy = self._dist.mode if self._delegate else self.logits.argmax(dim=-1)
        return TorchDeterministic(greedy, event_ndims=0)


_PAD_INDEX_CACHE: dict[tuple, torch.Tensor] = {}


def _pad_index(lens: tuple[int, ...], device: torch.device) -> torch.Tensor:
    key = (lens, device)
    idx = _PAD_INDEX_CACHE.get(key)
    if idx is None:
        total, width, rows, off = sum(lens), max(lens), [], 0
        for n in lens:
            rows.extend(off + j if j < n else total for j in range(width))
            off += n
        idx = _PAD_INDEX_CACHE[key] = torch.tensor(rows, dtype=torch.long, device=device)
    return idx


class TorchMultiCategorical(Distribution):
    """Independent categoricals over ``MultiDiscrete(nvec)`` actions (int64, ``[B, len(nvec)]``).

    Logits ``[B, sum(nvec)]`` are split by ``input_lens``. Internally one batched
    :class:`TorchCategorical` (``_cat``; ``_dist`` is its torch object) is used over logits reshaped
    to ``[B, k, max(nvec)]``; unequal component sizes are padded with the dtype's most negative
    value (probability exactly zero).
    """

    def __init__(self, logits: torch.Tensor, input_lens: Any) -> None:
        lens = tuple(int(n) for n in input_lens)
        if not lens or sum(lens) != logits.shape[-1]:
            raise ValueError(
                f"TorchMultiCategorical: input_lens={list(lens)} must be non-empty and sum to the "
                f"logits' last dim ({logits.shape[-1]}, logits shape {tuple(logits.shape)})."
            )
        self.logits = logits
        self.input_lens = lens
        batch, k, width = logits.shape[:-1], len(lens), max(lens)
        if all(n == width for n in lens):
            padded = logits.reshape(*batch, k, width)
        else:
            fill = logits.new_full((*batch, 1), torch.finfo(logits.dtype).min)
            ext = torch.cat([logits, fill], dim=-1)
            padded = ext.index_select(-1, _pad_index(lens, logits.device)).reshape(*batch, k, width)
        self._cat = TorchCategorical(logits=padded)

    @classmethod
    def from_logits(
        cls, logits: torch.Tensor, input_lens: Any = None, **kwargs: Any
    ) -> TorchMultiCategorical:
        """Build from logits ``[..., sum(input_lens)]``; ``input_lens`` is the space's ``nvec``."""
        if input_lens is None:
            raise ValueError(
                "TorchMultiCategorical.from_logits needs input_lens=[n1, n2, ...] (the MultiDiscrete "
                "nvec); use get_action_dist_cls(space) or get_partial_dist_cls(input_lens=...)."
            )
        return cls(logits, input_lens, **kwargs)

    @classmethod
    def required_input_dim(cls, space: gym.Space, **kwargs: Any) -> int:
        """``sum(space.nvec)``."""
        cls._check_space(cls.__name__, space, gym.spaces.MultiDiscrete)
        return int(np.sum(space.nvec))

    @property
    def _dist(self) -> td.Categorical:
        return self._cat._dist

    def sample(self, *, sample_shape: Any = ()) -> torch.Tensor:
        """Sample int64 actions ``[*sample_shape, B, k]``."""
        return self._cat.sample(sample_shape=sample_shape)

    def logp(self, value: torch.Tensor) -> torch.Tensor:
        """Sum of the components' log-probabilities, ``[B]``."""
        return self._cat.logp(value).sum(-1)

    def entropy(self) -> torch.Tensor:
        """Sum of the components' entropies, ``[B]``."""
        return self._cat.entropy().sum(-1)

    def kl(self, other: Distribution) -> torch.Tensor:
        """Sum of the components' KL divergences, ``[B]``."""
        self._check_other(other)
        if other.input_lens != self.input_lens:
            raise ValueError(f"kl(): input_lens differ ({self.input_lens} vs {other.input_lens}).")
        return self._cat.kl(other._cat).sum(-1)

    def to_deterministic(self) -> TorchDeterministic:
        """Point mass on each component's argmax, ``[B, k]``."""
        return TorchDeterministic(self._cat.logits.argmax(dim=-1), event_ndims=1)


class _GaussianBase(Distribution):
    """Shared parts of the diagonal and squashed Gaussians.

    Sampling and densities are computed directly from ``loc``/``scale``; ``_dist`` builds the
    equivalent ``torch.distributions.Normal`` on first use.
    """

    def __init__(self, loc: torch.Tensor, scale: torch.Tensor, *, action_shape: Any = None) -> None:
        if loc.shape != scale.shape:
            loc, scale = torch.broadcast_tensors(loc, scale)
        self._loc, self._scale = loc, scale
        self.event_ndims = 1 if action_shape is None else len(action_shape)
        self._torch: td.Normal | None = None
        self._log_std: torch.Tensor | None = None
        self._logits: torch.Tensor | None = None

    @classmethod
    def from_logits(cls, logits: torch.Tensor, action_shape: Any = None, **kwargs: Any) -> _GaussianBase:
        """Build from ``concat(mean, log_std)`` over the last dim (``log_std`` clamped, see module).

        ``action_shape`` (for multi-dimensional Box spaces) reshapes mean and std to
        ``[..., *action_shape]``; by default the actions are 1-D (``[..., width // 2]``).
        """
        if logits.shape[-1] % 2:
            raise ValueError(
                f"{cls.__name__}.from_logits expects concat(mean, log_std) with an even last dim, "
                f"got logits of shape {tuple(logits.shape)}."
            )
        mean, log_std = logits.chunk(2, dim=-1)
        log_std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        if action_shape is not None and len(action_shape) != 1:
            batch = logits.shape[:-1]
            mean = mean.reshape(*batch, *action_shape)
            log_std = log_std.reshape(*batch, *action_shape)
        obj = cls(mean, log_std.exp(), action_shape=action_shape, **kwargs)
        obj._log_std = log_std
        obj._logits = logits
        return obj

    @classmethod
    def required_input_dim(cls, space: gym.Space, **kwargs: Any) -> int:
        """``2 * prod(space.shape)`` (mean and log_std)."""
        cls._check_space(cls.__name__, space, gym.spaces.Box)
        return 2 * int(np.prod(space.shape))

    @classmethod
    def _wrap(cls, normal: td.Normal, event_ndims: int) -> _GaussianBase:
        obj = cls(normal.loc, normal.scale)
        obj._torch, obj.event_ndims = normal, event_ndims
        return obj

    @property
    def _dist(self) -> td.Normal:
        if self._torch is None:
            self._torch = td.Normal(self._loc, self._scale, validate_args=False)
        return self._torch

    @property
    def loc(self) -> torch.Tensor:
        """Mean of the (pre-squash) Gaussian."""
        return self._loc

    @property
    def scale(self) -> torch.Tensor:
        """Standard deviation of the (pre-squash) Gaussian."""
        return self._scale

    @property
    def log_std(self) -> torch.Tensor:
        """Log standard deviation."""
        if self._log_std is None:
            self._log_std = self._scale.log()
        return self._log_std

    def _draw(self, sample_shape: Any, reparam: bool) -> torch.Tensor:
        loc, scale, shape = self._loc, self._scale, _size(sample_shape)
        if not reparam:
            loc, scale = loc.detach(), scale.detach()
        eps = torch.randn(shape + loc.shape, dtype=loc.dtype, device=loc.device)
        return loc + eps * scale

    @property
    def logits(self) -> torch.Tensor:
        """``concat(mean, log_std)`` flattened over the action dims."""
        if self._logits is None:
            n = self.event_ndims
            flat = [t.flatten(t.dim() - n) if n else t.unsqueeze(-1) for t in (self.loc, self.log_std)]
            self._logits = torch.cat(flat, dim=-1)
        return self._logits

    def _normal_logp(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self._loc) / self._scale
        return -0.5 * z * z - self.log_std - _HALF_LOG_2PI


class TorchDiagGaussian(_GaussianBase):
    """Gaussian with diagonal covariance over ``Box`` actions (``[B, *action_shape]``).

    Build it with ``from_logits(concat(mean, log_std))`` or ``TorchDiagGaussian(loc, scale)``.
    """

    def sample(self, *, sample_shape: Any = ()) -> torch.Tensor:
        """Sample actions (no gradient)."""
        return self._draw(sample_shape, False)

    def rsample(self, *, sample_shape: Any = ()) -> torch.Tensor:
        """Reparameterised sample ``mean + std * eps``."""
        return self._draw(sample_shape, True)

    def logp(self, value: torch.Tensor) -> torch.Tensor:
        """Log-density summed over the action dims, ``[B]``."""
        return _sum_last(self._normal_logp(value), self.event_ndims)

    def entropy(self) -> torch.Tensor:
        """Entropy summed over the action dims, ``[B]``."""
        ent = (0.5 + _HALF_LOG_2PI) + self.log_std
        return _sum_last(ent.expand_as(self._loc), self.event_ndims)

    def kl(self, other: Distribution) -> torch.Tensor:
        """Closed-form ``KL(self || other)`` summed over the action dims, ``[B]``."""
        self._check_other(other)
        var_ratio = (self.scale / other.scale).pow(2)
        mean_term = ((self.loc - other.loc) / other.scale).pow(2)
        kl = 0.5 * (var_ratio + mean_term - 1.0) - (self.log_std - other.log_std)
        return _sum_last(kl, self.event_ndims)

    def to_deterministic(self) -> TorchDeterministic:
        """Point mass on the mean."""
        return TorchDeterministic(self.loc, event_ndims=self.event_ndims)


def _scalar_or_tensor(x: Any, ref: torch.Tensor) -> float | torch.Tensor:
    if not isinstance(x, torch.Tensor) and np.ndim(x) == 0:
        return float(x)
    return torch.as_tensor(x, dtype=ref.dtype, device=ref.device)


class TorchSquashedGaussian(_GaussianBase):
    """Tanh-squashed Gaussian for bounded ``Box`` actions (SAC).

    With ``u ~ Normal(mean, std)``, actions are ``low + (tanh(u) + 1) / 2 * (high - low)``.
    ``low``/``high`` are scalars or per-dimension arrays (default ``-1``/``1``). ``logp`` is the
    density of the action in ``[low, high]``: the Gaussian log-density minus
    ``log|d action / d u| = log(1 - tanh(u)^2) + log((high - low) / 2)`` (the last term is zero for
    the default bounds). ``logp(value)`` inverts the squash with ``atanh`` after clipping to
    ``[-1 + 1e-6, 1 - 1e-6]``; prefer ``sample_and_logp``/``rsample_and_logp``, which use the
    pre-squash sample and are exact. Entropy and KL have no closed form (NotImplementedError).
    """

    def __init__(
        self,
        loc: torch.Tensor,
        scale: torch.Tensor,
        low: Any = -1.0,
        high: Any = 1.0,
        *,
        action_shape: Any = None,
    ) -> None:
        super().__init__(loc, scale, action_shape=action_shape)
        low, high = _scalar_or_tensor(low, loc), _scalar_or_tensor(high, loc)
        # Scalar bounds are checked here; array bounds in get_action_dist_cls (no device sync per step).
        if isinstance(low, float) and isinstance(high, float) and not high > low:
            raise ValueError(f"TorchSquashedGaussian needs high > low, got low={low}, high={high}.")
        self.low, self.high = low, high
        self._unit = isinstance(low, float) and isinstance(high, float) and low == -1.0 and high == 1.0
        self._half = (high - low) / 2.0
        self._center = (high + low) / 2.0
        self._log_half = math.log(self._half) if isinstance(self._half, float) else self._half.log()

    def _squash(self, u: torch.Tensor) -> torch.Tensor:
        t = torch.tanh(u)
        return t if self._unit else self._center + self._half * t

    def _logp_pre_squash(self, u: torch.Tensor) -> torch.Tensor:
        # log(1 - tanh(u)^2) = 2 * (log 2 - u - softplus(-2u)), stable for large |u|.
        log_det = 2.0 * (_LOG2 - u - F.softplus(-2.0 * u))
        if not self._unit:
            log_det = log_det + self._log_half
        return _sum_last(self._normal_logp(u) - log_det, self.event_ndims)

    def sample(self, *, sample_shape: Any = ()) -> torch.Tensor:
        """Sample squashed actions in ``[low, high]`` (no gradient)."""
        return self._squash(self._draw(sample_shape, False))

    def rsample(self, *, sample_shape: Any = ()) -> torch.Tensor:
        """Reparameterised squashed sample."""
        return self._squash(self._draw(sample_shape, True))

    def sample_and_logp(self, *, sample_shape: Any = ()) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(actions, logp)`` with ``logp`` computed from the pre-squash sample (no atanh)."""
        u = self._draw(sample_shape, False)
        return self._squash(u), self._logp_pre_squash(u)

    def rsample_and_logp(self, *, sample_shape: Any = ()) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterised ``(actions, logp)``, both differentiable; the SAC actor loss uses this."""
        u = self._draw(sample_shape, True)
        return self._squash(u), self._logp_pre_squash(u)

    def logp(self, value: torch.Tensor) -> torch.Tensor:
        """Log-density of actions ``value`` in ``[low, high]``, ``[B]`` (see class docstring)."""
        t = value if self._unit else (value - self._center) / self._half
        eps = max(_ATANH_EPS, torch.finfo(t.dtype).eps)
        return self._logp_pre_squash(torch.atanh(t.clamp(-1.0 + eps, 1.0 - eps)))

    def entropy(self) -> torch.Tensor:
        """Not available in closed form."""
        raise NotImplementedError(
            "TorchSquashedGaussian has no closed-form entropy; estimate it from samples as "
            "-logp, e.g. `-dist.sample_and_logp()[1]` (this is what SAC's entropy term uses)."
        )

    def kl(self, other: Distribution) -> torch.Tensor:
        """Not available in closed form."""
        raise NotImplementedError(
            "TorchSquashedGaussian has no closed-form KL divergence; estimate it from samples as "
            "logp_self(a) - logp_other(a) with a = self.sample()."
        )

    def to_deterministic(self) -> TorchDeterministic:
        """Point mass on the squashed mean ``low + (tanh(mean) + 1) / 2 * (high - low)``."""
        return TorchDeterministic(self._squash(self.loc), event_ndims=self.event_ndims)


class TorchDistributionWrapper(Distribution):
    """Wraps any ``torch.distributions.Distribution`` (what :func:`make_action_dist` falls back to).

    ``sample``/``rsample``/``entropy`` delegate to the torch distribution; ``logp`` and ``entropy``
    are summed over the last ``event_ndims`` dims of what torch returns, so that multi-dim actions
    give one value per row. Default ``event_ndims``: ``len(batch_shape) - 1`` (the leading batch
    dim is kept), which fits e.g. ``Beta(a, b)`` with ``a`` of shape ``[B, action_dim]``.
    """

    def __init__(self, dist: td.Distribution, *, event_ndims: int | None = None) -> None:
        self._dist = dist
        self.event_ndims = max(len(dist.batch_shape) - 1, 0) if event_ndims is None else event_ndims

    @classmethod
    def from_logits(cls, logits: torch.Tensor, **kwargs: Any) -> TorchDistributionWrapper:
        """Not supported: wrap an existing distribution with ``TorchDistributionWrapper(dist)``."""
        raise NotImplementedError(
            "TorchDistributionWrapper wraps an existing torch.distributions.Distribution; it cannot be "
            "built from logits. Use TorchDistributionWrapper(dist) or make_action_dist(dist)."
        )

    @classmethod
    def required_input_dim(cls, space: gym.Space, **kwargs: Any) -> int:
        """Not known for an arbitrary torch distribution."""
        raise NotImplementedError("TorchDistributionWrapper has no fixed logits width.")

    @property
    def logits(self) -> torch.Tensor | None:
        """The torch distribution's ``logits`` if it has them, else ``None``."""
        return getattr(self._dist, "logits", None)

    def sample(self, *, sample_shape: Any = ()) -> torch.Tensor:
        """Delegate to the torch distribution's ``sample``."""
        return self._dist.sample(_size(sample_shape))

    def rsample(self, *, sample_shape: Any = ()) -> torch.Tensor:
        """Delegate to the torch distribution's ``rsample``."""
        if not self._dist.has_rsample:
            raise NotImplementedError(f"{type(self._dist).__name__} does not support rsample().")
        return self._dist.rsample(_size(sample_shape))

    def logp(self, value: torch.Tensor) -> torch.Tensor:
        """``log_prob(value)`` summed over the trailing action dims."""
        return _sum_last(self._dist.log_prob(value), self.event_ndims)

    def entropy(self) -> torch.Tensor:
        """``entropy()`` summed over the trailing action dims."""
        return _sum_last(self._dist.entropy(), self.event_ndims)

    def kl(self, other: Distribution) -> torch.Tensor:
        """``torch.distributions.kl_divergence`` summed over the trailing action dims."""
        self._check_other(other)
        return _sum_last(td.kl_divergence(self._dist, other._dist), self.event_ndims)

    def to_deterministic(self) -> TorchDeterministic:
        """Point mass on the mode (discrete support) or the mean (continuous support)."""
        support = self._dist.support
        try:
            loc = self._dist.mode if support is not None and support.is_discrete else self._dist.mean
        except NotImplementedError as e:
            raise NotImplementedError(
                f"to_deterministic(): {type(self._dist).__name__} has no mean/mode to act greedily on."
            ) from e
        return TorchDeterministic(loc, event_ndims=self.event_ndims + len(self._dist.event_shape))
