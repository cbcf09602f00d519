"""Framework imports as RLlib module code writes them (RLlib path: ``ray.rllib.utils.framework``).

tripod runs on PyTorch only: :func:`try_import_torch` returns ``(torch, torch.nn)``, and
:func:`try_import_tf` returns Nones (tripod never imports TensorFlow), so a module file that
starts with ``torch, nn = try_import_torch()`` runs unchanged.
"""

from __future__ import annotations

from typing import Any

__all__ = ["try_import_jax", "try_import_tf", "try_import_torch"]


def try_import_torch(error: bool = False) -> tuple[Any, Any]:
    """Return ``(torch, torch.nn)``.

    Args:
        error: accepted for RLlib's signature. torch is a dependency of tripod, so the
            import always succeeds.
    """
    del error
    import torch
    import torch.nn as nn

    return torch, nn


def try_import_tf(error: bool = False) -> tuple[None, None, None]:
    """Return ``(None, None, None)``: tripod has no TensorFlow support (RLlib returns ``(tf1, tf, version)``).

    Raises:
        ImportError: with ``error=True``, saying that tripod runs on PyTorch only.
    """
    if error:
        raise ImportError("tripod runs on PyTorch only; use try_import_torch() and a TorchRLModule.")
    return None, None, None


def try_import_jax(error: bool = False) -> tuple[None, None]:
    """Return ``(None, None)``: tripod has no JAX support (RLlib returns ``(jax, flax)``).

    Raises:
        ImportError: with ``error=True``, saying that tripod runs on PyTorch only.
    """
    if error:
        raise ImportError("tripod runs on PyTorch only; use try_import_torch() and a TorchRLModule.")
    return None, None
