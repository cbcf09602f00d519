"""Classes named in checkpoints: ``"module.QualName"`` written by :func:`class_path`, read by :func:`import_class`.

:func:`import_class` imports whatever it is given; the trust checks that decide whether a
checkpoint's class may be imported at all are in :mod:`tripod.io.checkpoint_trust`.
"""

from __future__ import annotations

import importlib
from typing import Any

from tripod.io.checkpoint_files import CheckpointError

__all__ = ["MOVED_CLASSES", "ClassImportError", "class_path", "current_class_path", "import_class"]

#: Classes that moved since older checkpoints were written: recorded path -> current path.
MOVED_CLASSES: dict[str, str] = {
    "tripod.algorithms.ppo.default_ppo_rl_module.DefaultPPOTorchRLModule": (
        "tripod.algorithms.ppo.torch.default_ppo_torch_rl_module.DefaultPPOTorchRLModule"
    ),
    "tripod.algorithms.dqn.default_dqn_rl_module.DefaultDQNTorchRLModule": (
        "tripod.algorithms.dqn.torch.default_dqn_torch_rl_module.DefaultDQNTorchRLModule"
    ),
    "tripod.algorithms.sac.default_sac_rl_module.DefaultSACTorchRLModule": (
        "tripod.algorithms.sac.torch.default_sac_torch_rl_module.DefaultSACTorchRLModule"
    ),
}


class ClassImportError(CheckpointError, ImportError):
    """A class named in a checkpoint (``"module.QualName"``) cannot be imported."""


def class_path(cls: type) -> str:
    """Return ``"module.QualName"`` for a class, the form :func:`import_class` reads."""
    if not isinstance(cls, type):
        raise TypeError(f"class_path expects a class, got {type(cls).__name__}: {cls!r}")
    return f"{cls.__module__}.{cls.__qualname__}"


def current_class_path(path: str) -> str:
    """``path``, or where the class it names lives now if it moved (:data:`MOVED_CLASSES`)."""
    if not isinstance(path, str):
        return path
    return MOVED_CLASSES.get(path.replace(":", ".", 1), path)


def import_class(path: str) -> type:
    """Import a class from ``"package.module.QualName"`` (or ``"package.module:QualName"``).

    Raises:
        ClassImportError: (a :class:`CheckpointError` and an ``ImportError``) if the
            module cannot be imported, has no such attribute, or the attribute is not
            a class. Classes defined in a script run as ``__main__`` or inside a
            function cannot be found again; the message says to move the class into
            an importable module or to pass ``module_class`` explicitly when loading.
    """
    fix = "Move the class into an importable module, or pass module_class=... explicitly when loading."
    path = current_class_path(path)
    if not isinstance(path, str) or not path.strip(". :"):
        raise ClassImportError(f"invalid class path {path!r}; expected 'package.module.ClassName'")
    if "<locals>" in path:
        raise ClassImportError(f"class {path!r} was defined inside a function and cannot be imported. {fix}")
    if ":" in path:
        module_name, _, qualname = path.partition(":")
        candidates = [(module_name, qualname)]
    else:
        parts = path.split(".")
        candidates = [(".".join(parts[:i]), ".".join(parts[i:])) for i in range(len(parts) - 1, 0, -1)]
    for module_name, qualname in candidates:
        try:
            obj: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name and (module_name == err.name or module_name.startswith(err.name + ".")):
                continue  # this prefix is not a module; try a shorter one
            raise ClassImportError(f"importing {module_name!r} for class {path!r} failed: {err}") from err
        except Exception as err:
            raise ClassImportError(f"importing {module_name!r} for class {path!r} failed: {err!r}") from err
        for attr in qualname.split("."):
            if not hasattr(obj, attr):
                where = (
                    "the script run as __main__" if module_name == "__main__" else f"module {module_name!r}"
                )
                raise ClassImportError(f"class {path!r} not found: {where} has no attribute {attr!r}. {fix}")
            obj = getattr(obj, attr)
        if not isinstance(obj, type):
            raise ClassImportError(f"{path!r} is not a class but an object of type {type(obj).__name__}")
        return obj
    raise ClassImportError(f"cannot import class {path!r}: no module named {candidates[-1][0]!r}. {fix}")
