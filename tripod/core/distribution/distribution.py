"""The base of tripod's action distributions (RLlib's ``ray.rllib.core.distribution.distribution``).

:class:`Distribution` is what every action distribution implements: ``from_logits``, ``sample``,
``rsample``, ``logp`` (one value per row, summed over action dimensions), ``entropy``, ``kl`` and
``to_deterministic``. The torch implementations are in
:mod:`tripod.core.distribution.torch.torch_distribution`.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import torch

if TYPE_CHECKING:  # the torch classes import this module
    from tripod.core.distribution.torch.torch_distribution import TorchDeterministic


def _size(sample_shape: Any) -> torch.Size:
    if sample_shape is None:
        return torch.Size()
    if isinstance(sample_shape, int):
        return torch.Size((sample_shape,))
    return torch.Size(sample_shape)


def _sum_last(x: torch.Tensor, n: int) -> torch.Tensor:
    return x.sum(dim=tuple(range(-n, 0))) if n > 0 else x


class PartialDistCls:
    """A distribution class with keyword arguments bound (see ``Distribution.get_partial_dist_cls``).

    ``from_logits``, ``required_input_dim`` and calling it behave like the wrapped class with the
    bound keyword arguments added; other attributes are looked up on the class.
    """

    def __init__(self, dist_cls: type[Distribution], **kwargs: Any) -> None:
        self.dist_cls = dist_cls
        self.kwargs = kwargs

    def _merged(self, kwargs: dict) -> dict:
        return {**self.kwargs, **kwargs} if kwargs else self.kwargs

    def from_logits(self, logits: torch.Tensor, **kwargs: Any) -> Distribution:
        """Build the distribution from logits with the bound keyword arguments."""
        return self.dist_cls.from_logits(logits, **self._merged(kwargs))

    def required_input_dim(self, space: gym.Space, **kwargs: Any) -> int:
        """Width of the logits needed for ``space``."""
        return self.dist_cls.required_input_dim(space, **self._merged(kwargs))

    def __call__(self, *args: Any, **kwargs: Any) -> Distribution:
        return self.dist_cls(*args, **self._merged(kwargs))

    def __getattr__(self, name: str) -> Any:
        if name in ("dist_cls", "kwargs"):
            raise AttributeError(name)
        return getattr(self.dist_cls, name)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{self.dist_cls.__name__}.get_partial_dist_cls({args})"


class Distribution(abc.ABC):
    """Base class of tripod action distributions (RLlib's ``Distribution`` API).

    ``logp``, ``entropy`` and ``kl`` return one value per row: they are summed over the action
    dimensions of multi-dimensional actions. ``logits`` holds the inputs the distribution was
    built from (``None`` where that has no meaning) and ``_dist`` the underlying torch distribution.
    """

    logits: torch.Tensor | None = None

    @classmethod
    @abc.abstractmethod
    def from_logits(cls, logits: torch.Tensor, **kwargs: Any) -> Distribution:
        """Build the distribution from a module's ``action_dist_inputs`` tensor."""

    @classmethod
    @abc.abstractmethod
    def required_input_dim(cls, space: gym.Space, **kwargs: Any) -> int:
        """Width of the logits (last dimension) this class needs for ``space``."""

    @classmethod
    def get_partial_dist_cls(cls, **kwargs: Any) -> PartialDistCls:
        """Return a class-like object with ``kwargs`` bound, e.g. ``input_lens`` or ``low``/``high``."""
        return PartialDistCls(cls, **kwargs)

    @abc.abstractmethod
    def sample(self, *, sample_shape: Any = ()) -> torch.Tensor:
        """Draw actions (no gradient); ``sample_shape`` dims are prepended."""

    def rsample(self, *, sample_shape: Any = ()) -> torch.Tensor:
        """Draw reparameterised actions, through which gradients flow."""
        raise NotImplementedError(
            f"{type(self).__name__} does not support rsample(): its actions are not differentiable "
            "w.r.t. its parameters. Use sample() with a score-function (logp) loss instead."
        )

    def sample_and_logp(self, *, sample_shape: Any = ()) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(actions, logp(actions))``."""
        actions = self.sample(sample_shape=sample_shape)
        return actions, self.logp(actions)

    def rsample_and_logp(self, *, sample_shape: Any = ()) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(actions, logp(actions))`` with reparameterised actions."""
        actions = self.rsample(sample_shape=sample_shape)
        return actions, self.logp(actions)

    @abc.abstractmethod
    def logp(self, value: torch.Tensor) -> torch.Tensor:
        """Log-probability (density) of ``value``, one per row."""

    @abc.abstractmethod
    def entropy(self) -> torch.Tensor:
        """Entropy, one per row."""

    @abc.abstractmethod
    def kl(self, other: Distribution) -> torch.Tensor:
        """``KL(self || other)``, one per row; ``other`` must be of the same class."""

    @abc.abstractmethod
    def to_deterministic(self) -> TorchDeterministic:
        """A :class:`TorchDeterministic` over the greedy (argmax) or mean action."""

    def _check_other(self, other: Any) -> None:
        if type(other) is not type(self):
            raise TypeError(
                f"{type(self).__name__}.kl() needs another {type(self).__name__}, got {type(other).__name__}."
            )

    @staticmethod
    def _check_space(cls_name: str, space: Any, expected: type) -> None:
        if not isinstance(space, expected):
            raise ValueError(
                f"{cls_name} is for gymnasium.spaces.{expected.__name__} action spaces, got {space!r}; "
                "use get_action_dist_cls(space) to pick the right distribution."
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._dist!r})" if hasattr(self, "_dist") else type(self).__name__
