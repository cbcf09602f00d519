"""``MultiAgentCartPole``: each agent balances its own CartPole (RLlib's example env of that name)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tripod.core.columns import Columns
from tripod.core.rl_module.rl_module import RLModule
from tripod.env.multi_agent_env import make_multi_agent


class MultiAgentCartPole(make_multi_agent("CartPole-v1")):
    """``config["num_agents"]`` (default 2) CartPole-v1 copies; agent ``i`` (an int id) plays copy ``i``.

    An agent leaves when its pole falls (or after 500 steps); the episode ends
    when every agent has left. Each agent's return is its CartPole return (at
    most 500), the episode return their sum.

    Args:
        config: ``{"num_agents": 2}``; other keys go to ``gymnasium.make("CartPole-v1", ...)``.
    """

    def __init__(self, config: dict | None = None) -> None:
        super().__init__({"num_agents": 2, **(config or {})})


class CartPoleHeuristicModule(RLModule):
    """A fixed, non-torch CartPole policy: push the cart the way the pole is falling.

    ``action = 1`` (push right) when ``angle + angular velocity > 0``, else 0. It
    often balances for the full 500 steps; as a module that is never trained it shows
    that a MultiRLModule may hold plain :class:`~tripod.core.RLModule` s.
    """

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        obs = np.asarray(batch[Columns.OBS])
        return {Columns.ACTIONS: (obs[:, 2] + obs[:, 3] > 0).astype(np.int64)}
