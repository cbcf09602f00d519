"""ValueFunctionAPI: modules with a state-value head (PPO with a critic, PG with a baseline)."""

from __future__ import annotations

import abc
from typing import Any


class ValueFunctionAPI(abc.ABC):
    """Mixin for modules that can compute state values V(s).

    Algorithms that need a critic (PPO with ``use_critic=True``) check for this
    API and say so when a module lacks it.
    """

    @abc.abstractmethod
    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> Any:
        """Return V(s) for ``batch[Columns.OBS]`` as a tensor of shape [B].

        Args:
            batch: The input batch (at least ``Columns.OBS``).
            embeddings: Encoder outputs from a forward pass on the same batch,
                to reuse instead of encoding again (modules with shared layers).
        """
