"""TargetNetworkAPI: modules that keep slowly-updated copies of their networks."""

from __future__ import annotations

import abc
import copy
from typing import Any

TARGET_NETWORK_ACTION_DIST_INPUTS = "target_network_action_dist_inputs"


class TargetNetworkAPI(abc.ABC):
    """Mixin for modules with target networks (DQN, SAC).

    Implement :meth:`make_target_networks` (build the copies, e.g. with
    :meth:`make_target_copy`), :meth:`get_target_network_pairs` and
    :meth:`forward_target`. :meth:`update_target_networks` does hard or Polyak
    updates over the pairs.
    """

    @abc.abstractmethod
    def make_target_networks(self) -> None:
        """Create the target networks (called by the learner, not on runners)."""

    @abc.abstractmethod
    def get_target_network_pairs(self) -> list[tuple[Any, Any]]:
        """Return ``[(main_net, target_net), ...]``."""

    @abc.abstractmethod
    def forward_target(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Forward pass through the target networks."""

    @staticmethod
    def make_target_copy(network: Any) -> Any:
        """A frozen deep copy of ``network`` (no gradients)."""
        target = copy.deepcopy(network)
        for param in target.parameters():
            param.requires_grad_(False)
        return target

    def update_target_networks(self, tau: float = 1.0) -> None:
        """target ← tau · main + (1 − tau) · target for every pair (tau=1: hard copy)."""
        import torch

        if not 0.0 < tau <= 1.0:
            raise ValueError(f"update_target_networks(): tau must be in (0, 1], got {tau}.")
        with torch.no_grad():
            for main, target in self.get_target_network_pairs():
                main_params = list(main.parameters()) + list(main.buffers())
                target_params = list(target.parameters()) + list(target.buffers())
                for t, m in zip(target_params, main_params):
                    if tau == 1.0 or not t.is_floating_point():
                        t.copy_(m)
                    else:
                        t.lerp_(m, tau)
