"""Small example environments (used by tests, examples and benchmarks)."""

from tripod.env.examples.multi_agent_cartpole import CartPoleHeuristicModule, MultiAgentCartPole

__all__ = ["CartPoleHeuristicModule", "MultiAgentCartPole"]
