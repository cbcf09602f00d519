"""RLlib's module path for the single-agent env runner (``ray.rllib.env.single_agent_env_runner``)."""

from tripod.env.env_runner import SingleAgentEnvRunner

__all__ = ["SingleAgentEnvRunner"]
