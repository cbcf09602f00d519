"""Environments: creation and registry, vector envs, and the env runner that samples them."""

from tripod.env.env_creation import (
    EnvCreationError,
    UnknownEnvError,
    make_env_creator,
    make_vector_env,
    register_env,
    registered_envs,
)
from tripod.env.env_runner import EnvRunner, SingleAgentEnvRunner
from tripod.env.runner_helpers import EnvError

__all__ = [
    "EnvCreationError",
    "EnvError",
    "EnvRunner",
    "SingleAgentEnvRunner",
    "UnknownEnvError",
    "make_env_creator",
    "make_vector_env",
    "register_env",
    "registered_envs",
]
