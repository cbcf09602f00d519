"""Small example environments (used by tests, examples and benchmarks)."""

from tripod.env.examples.multi_agent_cartpole import MultiAgentCartPole

__all__ = ["MultiAgentCartPole"]
