"""Algorithms: PPO and PG (on-policy), DQN and SAC (off-policy).

Names are resolved lazily so ``import tripod.algorithms`` stays cheap.
"""

from typing import Any

_LAZY = {
    "Algorithm": "tripod.algorithms.algorithm",
    "AlgorithmConfig": "tripod.algorithms.algorithm_config",
    "PPO": "tripod.algorithms.ppo",
    "PPOConfig": "tripod.algorithms.ppo",
    "PG": "tripod.algorithms.pg",
    "PGConfig": "tripod.algorithms.pg",
    "DQN": "tripod.algorithms.dqn",
    "DQNConfig": "tripod.algorithms.dqn",
    "SAC": "tripod.algorithms.sac",
    "SACConfig": "tripod.algorithms.sac",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tripod.algorithms' has no attribute '{name}'")
