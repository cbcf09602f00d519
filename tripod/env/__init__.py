"""Environments: creation and registry, vector envs, and the env runner that samples them."""

from tripod.env.env_creation import (
    EnvCreationError,
    UnknownEnvError,
    make_env_creator,
    make_vector_env,
    register_env,
    registered_envs,
)
from tripod.env.env_errors import EnvRunnerFailedError
from tripod.env.env_runner import EnvRunner
from tripod.env.multi_agent_env import MultiAgentEnv, make_multi_agent
from tripod.env.multi_agent_env_runner import MultiAgentEnvRunner
from tripod.env.runner_helpers import EnvError
from tripod.env.single_agent_env_runner import SingleAgentEnvRunner

__all__ = [
    "EnvCreationError",
    "EnvError",
    "EnvRunner",
    "EnvRunnerFailedError",
    "MultiAgentEnv",
    "MultiAgentEnvRunner",
    "SingleAgentEnvRunner",
    "UnknownEnvError",
    "make_env_creator",
    "make_multi_agent",
    "make_vector_env",
    "register_env",
    "registered_envs",
]
