"""Tiny example environments that ship with tripod, for docs, tests, examples and benchmarks.

A deliberate, small package (RLlib keeps its counterparts under
``ray.rllib.examples.envs.classes``): each env runs in milliseconds and needs
nothing beyond gymnasium, so a tutorial or a test can train on it right away.

* :class:`MultiAgentCartPole` -- ``config["num_agents"]`` agents, each balancing its
  own CartPole-v1 (RLlib's ``ray.rllib.examples.envs.classes.multi_agent.MultiAgentCartPole``).
* :class:`MemoryCueEnv` -- a cue shown at the first step must be named ``delay`` steps
  later: chance for a memoryless policy, solved by a recurrent one.
* :class:`StatelessCartPole` -- CartPole-v1 without the velocities (a recurrent module's task).
* :class:`CartPoleHeuristicModule` -- a fixed, non-torch CartPole policy, to show that
  a MultiRLModule may hold modules that are never trained.

Nothing else in tripod imports this package (it sits above ``tripod.env`` and
``tripod.core`` in the layers).
"""

from tripod.envs.memory import MemoryCueEnv, StatelessCartPole
from tripod.envs.multi_agent_cartpole import CartPoleHeuristicModule, MultiAgentCartPole

__all__ = ["CartPoleHeuristicModule", "MemoryCueEnv", "MultiAgentCartPole", "StatelessCartPole"]
