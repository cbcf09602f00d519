"""The errors of env creation, shared by :mod:`tripod.env.env_creation` and the env wrappers.

A module of its own so that wrappers (e.g. :mod:`tripod.env.wrappers.pettingzoo_env`)
can raise them without importing ``env_creation``, which imports the wrappers.
"""

from __future__ import annotations

__all__ = ["EnvCreationError", "EnvRunnerFailedError", "UnknownEnvError"]


class EnvCreationError(RuntimeError):
    """An environment could not be created."""


class UnknownEnvError(EnvCreationError, ValueError):
    """An env name is neither registered with :func:`~tripod.env.env_creation.register_env` nor with gymnasium."""


class EnvRunnerFailedError(RuntimeError):
    """A remote env runner died or stopped answering, and could not (or may not) be replaced."""
