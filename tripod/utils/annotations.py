"""Decorators RLlib code puts on its classes and methods (RLlib path: ``ray.rllib.utils.annotations``).

:func:`override` checks, when the class body runs, that the decorated method really
replaces one of the named parent class, so a typo in a method name (``_forward_trian``)
fails at import instead of silently never being called. The other decorators are
markers only: they return the object unchanged, so RLlib module code that uses them
imports and behaves the same on tripod.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "DeveloperAPI",
    "ExperimentalAPI",
    "OldAPIStack",
    "OverrideToImplementCustomLogic",
    "OverrideToImplementCustomLogic_CallToSuperRecommended",
    "PublicAPI",
    "is_overridden",
    "override",
]


def override(parent_cls: type) -> Callable[[F], F]:
    """Mark a method as overriding the method of the same name on ``parent_cls``.

    Args:
        parent_cls: the class that defines the method being overridden (directly or
            through its own bases).

    Returns:
        A decorator that returns the method unchanged.

    Raises:
        TypeError: ``parent_cls`` is not a class.
        NameError: ``parent_cls`` has no attribute of the method's name (as RLlib raises),
            e.g. ``@override(TorchRLModule)`` on a misspelt ``def _forward_trian``.

    Example::

        class MyModule(TorchRLModule):
            @override(TorchRLModule)
            def _forward(self, batch, **kwargs): ...
    """
    if not isinstance(parent_cls, type):
        raise TypeError(f"@override(...) takes the parent class, got {parent_cls!r}.")

    def decorator(method: F) -> F:
        name = getattr(method, "__name__", None)
        if name is None and isinstance(method, (staticmethod, classmethod, property)):
            name = getattr(getattr(method, "__func__", None) or method.fget, "__name__", None)
        if name is None or not hasattr(parent_cls, name):
            raise NameError(
                f"@override({parent_cls.__name__}) on {name!r}: {parent_cls.__name__} has no method "
                f"{name!r} to override. Check the spelling, or drop @override for a new method."
            )
        return method

    return decorator


def PublicAPI(obj: F) -> F:  # noqa: N802 - RLlib's name
    """Marker for objects of the public API; returns ``obj`` unchanged."""
    return obj


def DeveloperAPI(obj: F) -> F:  # noqa: N802 - RLlib's name
    """Marker for objects meant for people extending the library; returns ``obj`` unchanged."""
    return obj


def ExperimentalAPI(obj: F) -> F:  # noqa: N802 - RLlib's name
    """Marker for objects whose API may still change; returns ``obj`` unchanged."""
    return obj


def OldAPIStack(obj: F) -> F:  # noqa: N802 - RLlib's name
    """Marker for RLlib's old API stack (tripod has none of it); returns ``obj`` unchanged."""
    return obj


def OverrideToImplementCustomLogic(obj: F) -> F:  # noqa: N802 - RLlib's name
    """Marker for a hook meant to be overridden; returns ``obj``, tagged for :func:`is_overridden`."""
    obj.__is_overridden__ = False  # type: ignore[attr-defined]
    return obj


def OverrideToImplementCustomLogic_CallToSuperRecommended(obj: F) -> F:  # noqa: N802 - RLlib's name
    """Like :func:`OverrideToImplementCustomLogic`, for hooks whose override should call ``super()``."""
    obj.__is_overridden__ = False  # type: ignore[attr-defined]
    return obj


def is_overridden(obj: Callable[..., Any]) -> bool:
    """``False`` for a hook tagged with one of the ``OverrideToImplementCustomLogic`` markers itself
    (not replaced by a subclass), ``True`` for anything else."""
    return getattr(obj, "__is_overridden__", True)
