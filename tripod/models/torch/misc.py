"""Small torch layers and conv arithmetic from RLlib's model helpers (RLlib path: ``ray.rllib.models.torch.misc``).

:func:`same_padding` and :func:`valid_padding` compute what TensorFlow's ``"same"`` and ``"valid"``
convolution modes do, for building conv stacks in torch: ``same`` pads so that the output size is
``ceil(in / stride)`` (the extra pixel of an odd total padding goes to the bottom/right), ``valid``
does not pad and gives ``ceil((in - kernel + 1) / stride)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from tripod.core.networks import get_activation

__all__ = ["SlimConv2d", "SlimFC", "normc_initializer", "same_padding", "valid_padding"]

IntOrPair = int | tuple[int, int] | list[int]


def _pair(value: IntOrPair | float) -> tuple[int, int]:
    if isinstance(value, (int, float)):
        return int(value), int(value)
    height, width = value
    return int(height), int(width)


def normc_initializer(std: float = 1.0) -> Callable[[torch.Tensor], None]:
    """An initializer that fills a weight with normal noise scaled so each row has L2 norm ``std``.

    For an ``nn.Linear`` weight (``[out, in]``) a row is one output unit's incoming weights.
    Use as ``normc_initializer(0.01)(layer.weight)``.
    """

    def initializer(tensor: torch.Tensor) -> None:
        with torch.no_grad():
            tensor.normal_(0.0, 1.0)
            tensor.mul_(std / tensor.pow(2).sum(dim=1, keepdim=True).sqrt())

    return initializer


def same_padding(
    in_size: IntOrPair, filter_size: IntOrPair, stride_size: IntOrPair | float
) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
    """TensorFlow-style ``"same"`` padding for a conv layer.

    Args:
        in_size: input ``(height, width)``.
        filter_size: kernel size, an int or ``(height, width)``.
        stride_size: stride, an int or ``(height, width)``.

    Returns:
        ``(padding, out_size)``: ``padding`` is ``(left, right, top, bottom)`` for
        ``nn.ZeroPad2d``, and ``out_size`` the ``(height, width)`` after padding and the
        (unpadded) ``nn.Conv2d``, i.e. ``ceil(in / stride)`` per side.
    """
    in_h, in_w = _pair(in_size)
    k_h, k_w = _pair(filter_size)
    s_h, s_w = _pair(stride_size)
    out_h, out_w = math.ceil(in_h / s_h), math.ceil(in_w / s_w)
    pad_h = (out_h - 1) * s_h + k_h - in_h
    pad_w = (out_w - 1) * s_w + k_w - in_w
    padding = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
    return padding, (out_h, out_w)


def valid_padding(
    in_size: IntOrPair, filter_size: IntOrPair, stride_size: IntOrPair | float
) -> tuple[int, int]:
    """The output ``(height, width)`` of a conv layer without padding (TensorFlow's ``"valid"``).

    ``ceil((in - kernel + 1) / stride)`` per side, which equals what ``nn.Conv2d`` with
    ``padding=0`` produces.
    """
    in_h, in_w = _pair(in_size)
    k_h, k_w = _pair(filter_size)
    s_h, s_w = _pair(stride_size)
    return math.ceil((in_h - k_h + 1) / s_h), math.ceil((in_w - k_w + 1) / s_w)


def _activation_layer(activation_fn: Any) -> nn.Module | None:
    """``"default"``: ReLU; a name: :func:`tripod.core.networks.get_activation`; a class: built; None: none."""
    if activation_fn is None:
        return None
    if isinstance(activation_fn, str):
        return nn.ReLU() if activation_fn == "default" else get_activation(activation_fn)()
    return activation_fn()


class SlimConv2d(nn.Module):
    """A conv layer with optional zero padding in front and an activation after it.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel: kernel size, an int or ``(height, width)``.
        stride: stride, an int or ``(height, width)``.
        padding: zero padding put in front of the conv: an int, or the ``(left, right, top, bottom)``
            that :func:`same_padding` returns; ``0`` or ``None`` for none.
        initializer: called on the conv weight; ``"default"`` is Xavier-uniform, ``None`` keeps
            torch's default initialisation.
        activation_fn: ``"default"`` (ReLU), an activation name (``"relu"``, ``"tanh"``, ...), an
            ``nn.Module`` class, or ``None`` for a linear layer.
        bias_init: the constant the bias starts at.

    Input and output are ``[B, C, H, W]``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: IntOrPair,
        stride: IntOrPair,
        padding: IntOrPair | tuple[int, int, int, int] | None,
        initializer: Any = "default",
        activation_fn: Any = "default",
        bias_init: float = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if padding:
            layers.append(nn.ZeroPad2d(padding))
        conv = nn.Conv2d(in_channels, out_channels, kernel, stride)
        if initializer:
            (nn.init.xavier_uniform_ if initializer == "default" else initializer)(conv.weight)
        nn.init.constant_(conv.bias, bias_init)
        layers.append(conv)
        activation = _activation_layer(activation_fn)
        if activation is not None:
            layers.append(activation)
        self._model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad, convolve and activate ``x`` (``[B, C, H, W]``)."""
        return self._model(x)


class SlimFC(nn.Module):
    """A linear layer with an optional activation after it.

    Args:
        in_size: input features.
        out_size: output features.
        initializer: called on the weight; ``None`` means Xavier-uniform.
        activation_fn: an activation name (``"relu"``, ``"tanh"``, ...), an ``nn.Module`` class,
            or ``None`` (the default) for a linear layer.
        use_bias: whether the layer has a bias.
        bias_init: the constant the bias starts at.
    """

    def __init__(
        self,
        in_size: int,
        out_size: int,
        initializer: Callable[[torch.Tensor], Any] | None = None,
        activation_fn: Any = None,
        use_bias: bool = True,
        bias_init: float = 0.0,
    ) -> None:
        super().__init__()
        linear = nn.Linear(in_size, out_size, bias=use_bias)
        (initializer or nn.init.xavier_uniform_)(linear.weight)
        if use_bias:
            nn.init.constant_(linear.bias, bias_init)
        layers: list[nn.Module] = [linear]
        activation = _activation_layer(activation_fn)
        if activation is not None:
            layers.append(activation)
        self._model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The layer's output for ``x`` (``[..., in_size]``)."""
        return self._model(x)
