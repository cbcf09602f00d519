"""QNetAPI: modules that compute action values Q(s, a) (DQN and friends)."""

from __future__ import annotations

import abc
from typing import Any


class QNetAPI(abc.ABC):
    """Mixin for modules with a Q network over discrete actions."""

    @abc.abstractmethod
    def compute_q_values(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Return ``{"qf_preds": Q(s, ·)}`` with shape [B, num_actions] for ``batch[Columns.OBS]``."""

    def compute_advantage_distribution(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Distributional Q-learning outputs; not needed by tripod's DQN."""
        raise NotImplementedError(
            f"{type(self).__name__} does not implement compute_advantage_distribution(); "
            "tripod's DQN does not use distributional Q-learning."
        )
