"""Several MLPs of the same shape evaluated as one batched network (SAC's twin Q functions).

Member ``e``'s layer ``l`` computes ``x @ W[l][e] + b[l][e]``; all members run in
one ``baddbmm`` per layer, so two critics cost one forward call instead of two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from tripod.algorithms.off_policy_networks import functional_activation
from tripod.core.networks import get_activation

__all__ = ["EnsembleMLP"]


class EnsembleMLP(nn.Module):
    """``num_members`` independent MLPs ``in_dim -> hiddens -> out_dim`` run in one batched pass.

    Args:
        num_members: How many networks (2 for twin Q functions).
        in_dim: Input size.
        hiddens: Hidden layer sizes.
        out_dim: Output size.
        activation: Activation after each hidden layer (see ``get_activation``).

    Initialisation is ``nn.Linear``'s default, member by member.
    """

    def __init__(
        self,
        num_members: int,
        in_dim: int,
        hiddens: Sequence[int],
        out_dim: int,
        activation: str | None = "relu",
    ) -> None:
        super().__init__()
        if num_members < 1:
            raise ValueError(f"EnsembleMLP needs num_members >= 1, got {num_members}.")
        sizes = [int(in_dim), *map(int, hiddens), int(out_dim)]
        self.num_members, self.in_dim, self.out_dim = int(num_members), sizes[0], sizes[-1]
        # Plain attributes weight0, bias0, ... (faster to read per call than a ParameterList).
        self._layer_names: list[tuple[str, str]] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default init (kaiming_uniform with a=sqrt(5))
            weight = torch.empty(num_members, fan_in, fan_out).uniform_(-bound, bound)
            bias = torch.empty(num_members, 1, fan_out).uniform_(-bound, bound)
            self.register_parameter(f"weight{i}", nn.Parameter(weight))
            self.register_parameter(f"bias{i}", nn.Parameter(bias))
            self._layer_names.append((f"weight{i}", f"bias{i}"))
        self.activation = get_activation(activation)()
        self._act = functional_activation(self.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, in_dim]`` (same input for all members) or ``[E, B, in_dim]`` -> ``[E, B, out_dim]``."""
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.num_members, -1, -1)
        last = len(self._layer_names) - 1
        for i, (weight, bias) in enumerate(self._layer_names):
            x = torch.baddbmm(getattr(self, bias), x, getattr(self, weight))
            if i < last:
                x = self._act(x)
        return x
