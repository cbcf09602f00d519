"""Target-network helpers (RLlib path: ``ray.rllib.core.learner.utils``).

A module that implements ``TargetNetworkAPI`` builds its targets in ``make_target_networks()``
with :func:`make_target_network` and lists ``(main, target)`` pairs in
``get_target_network_pairs()``; the learner keeps them in sync with :func:`update_target_network`.
"""

from __future__ import annotations

import copy

import torch

from tripod.utils.torch_utils import update_target_network as _polyak_update
from tripod.utils.typing import NetworkType

__all__ = ["make_target_network", "update_target_network"]


def make_target_network(main_net: NetworkType) -> NetworkType:
    """A frozen deep copy of ``main_net``: same weights, ``requires_grad`` False on every parameter.

    Raises:
        ValueError: ``main_net`` is not a ``torch.nn.Module`` (as RLlib raises).
    """
    if not isinstance(main_net, torch.nn.Module):
        raise ValueError(f"make_target_network() needs a torch.nn.Module, got {type(main_net).__name__}.")
    target_net = copy.deepcopy(main_net)
    target_net.requires_grad_(False)
    return target_net


def update_target_network(*, main_net: NetworkType, target_net: NetworkType, tau: float) -> None:
    """Polyak update in place: ``target ← tau · main + (1 − tau) · target`` (``tau=1``: a copy).

    Raises:
        ValueError: ``tau`` is not in ``(0, 1]``.
    """
    if not 0.0 < tau <= 1.0:
        raise ValueError(f"update_target_network(): tau must be in (0, 1], got {tau}.")
    _polyak_update(main_net, target_net, tau)
