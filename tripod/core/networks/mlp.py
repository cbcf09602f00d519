"""Fully connected networks and activation lookup."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence

from torch import nn

__all__ = ["ACTIVATIONS", "MLP", "get_activation"]

#: Activation names understood by :func:`get_activation` (``None`` means linear too).
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "gelu": nn.GELU,
    "linear": nn.Identity,
}

_HIDDEN_GAIN = math.sqrt(2.0)


def get_activation(name: str | type[nn.Module] | None) -> Callable[[], nn.Module]:
    """Return the activation class for ``name``; call it to get a fresh layer.

    Args:
        name: one of ``"relu"``, ``"tanh"``, ``"elu"``, ``"silu"``/``"swish"``,
            ``"gelu"``, ``"linear"`` or ``None`` (both mean identity); case is ignored.
            An ``nn.Module`` subclass is returned unchanged.

    Returns:
        A zero-argument callable (an ``nn.Module`` class) building the layer,
        e.g. ``get_activation("relu")()`` is an ``nn.ReLU()``.

    Raises:
        ValueError: for an unknown name; the message lists the valid names.
    """
    if name is None:
        return nn.Identity
    if isinstance(name, type) and issubclass(name, nn.Module):
        return name
    if isinstance(name, str):
        cls = ACTIVATIONS.get(name.lower())
        if cls is not None:
            return cls
    valid = ", ".join(repr(n) for n in ACTIVATIONS)
    raise ValueError(f"Unknown activation {name!r}. Valid activations are: {valid}, or None (linear).")


def _init_linear(layer: nn.Linear, gain: float) -> None:
    nn.init.orthogonal_(layer.weight, gain=gain)
    nn.init.zeros_(layer.bias)


class MLP(nn.Sequential):
    """A stack of ``Linear`` layers with activations, optionally ending in an output layer.

    ``MLP(4, [64, 64])`` maps ``[..., 4]`` to ``[..., 64]`` (each hidden layer is
    followed by ``activation``); ``MLP(4, [64, 64], out_dim=2)`` adds a final
    ``Linear(64, 2)`` followed by ``output_activation`` (none by default). With
    no hiddens and no ``out_dim`` the network is the identity. Any number of
    leading batch dimensions is accepted.

    Args:
        in_dim: size of the input's last dimension.
        hiddens: sizes of the hidden layers.
        activation: activation after each hidden layer (see :func:`get_activation`).
        out_dim: size of an extra output layer, or ``None`` for none.
        output_activation: activation after the output layer (``None``: linear).
        output_init_std: if given, the last ``Linear`` layer is initialised
            orthogonally with this gain (each weight row has this norm) and a
            zero bias; ``0.01`` is the usual choice for policy-logit heads,
            ``1.0`` for value heads.
        orthogonal_init: initialise the hidden layers orthogonally with gain
            ``sqrt(2)`` and zero biases (PyTorch's default init otherwise).

    Attributes:
        in_dim: the input size.
        out_dim: the size of the output's last dimension.
    """

    def __init__(
        self,
        in_dim: int,
        hiddens: Sequence[int] = (),
        activation: str | type[nn.Module] | None = "tanh",
        out_dim: int | None = None,
        output_activation: str | type[nn.Module] | None = None,
        output_init_std: float | None = None,
        orthogonal_init: bool = False,
    ) -> None:
        _check_positive_int("in_dim", in_dim)
        for h in hiddens:
            _check_positive_int("hiddens entry", h)
        if out_dim is not None:
            _check_positive_int("out_dim", out_dim)
        act_cls = get_activation(activation)
        out_act_cls = get_activation(output_activation)

        layers: list[nn.Module] = []
        linears: list[nn.Linear] = []
        last = int(in_dim)
        for h in hiddens:
            lin = nn.Linear(last, int(h))
            if orthogonal_init:
                _init_linear(lin, _HIDDEN_GAIN)
            layers += [lin, act_cls()]
            linears.append(lin)
            last = int(h)
        if out_dim is not None:
            lin = nn.Linear(last, int(out_dim))
            if orthogonal_init:
                _init_linear(lin, 1.0)
            layers.append(lin)
            linears.append(lin)
            if out_act_cls is not nn.Identity:
                layers.append(out_act_cls())
            last = int(out_dim)
        if output_init_std is not None and linears:
            _init_linear(linears[-1], float(output_init_std))
        if not layers:
            layers.append(nn.Identity())
        super().__init__(*layers)
        self.in_dim = int(in_dim)
        self.out_dim = last


def _check_positive_int(what: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"MLP {what} must be a positive int, got {value!r}.")
