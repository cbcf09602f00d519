"""The ``.callbacks()`` setting (RLlib's name): a base of :class:`~tripod.algorithms.algorithm_config.AlgorithmConfig`."""

from __future__ import annotations

import dataclasses
from typing import Any

from tripod.algorithms.config_checks import Check, NotProvided, setting
from tripod.callbacks.callbacks import RLlibCallback

__all__ = ["CallbackSettings"]


def _callbacks_ok(value: Any) -> bool:
    classes = value if isinstance(value, list | tuple) else [value]
    if value is None:
        return True
    return bool(classes) and all(isinstance(c, type) and issubclass(c, RLlibCallback) for c in classes)


@dataclasses.dataclass
class CallbackSettings:
    """``callbacks_class``: the callbacks the algorithm and its env runners call."""

    callbacks_class: Any = setting(
        None,
        check=Check(
            _callbacks_ok,
            "None, a subclass of tripod.callbacks.callbacks.RLlibCallback, or a list of such subclasses",
        ),
        doc="an `RLlibCallback` subclass (or a list of them): hooks into training, evaluation, checkpoints "
        "and episodes, custom metrics ([Callbacks](callbacks.md))",
        method="callbacks",
    )

    def callbacks(self, callbacks_class: Any = NotProvided, **unknown: Any) -> Any:
        """Set the callbacks class: an ``RLlibCallback`` subclass, or a list of them (RLlib's ``.callbacks()``)."""
        return self._fluent("callbacks", locals())  # type: ignore[attr-defined]
