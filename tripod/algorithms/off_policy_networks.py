"""Network pieces shared by the default DQN and SAC modules.

Their networks are small and called thousands of times per second, so the MLPs
run through :func:`run_sequential`, which applies ``nn.Linear`` layers and the
usual activations as plain functions: a 4-64-64-2 MLP then costs about half of
calling the ``nn.Sequential`` (module-call overhead dominates such networks).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tripod.core.networks import MLP, build_encoder

__all__ = [
    "OFF_POLICY_MODEL_DEFAULTS",
    "build_feature_net",
    "check_action_space",
    "functional_activation",
    "is_flat_float_box",
    "run_sequential",
]

#: ``model_config`` defaults of the DQN and SAC modules where they differ from the PPO ones.
OFF_POLICY_MODEL_DEFAULTS = {"fcnet_activation": "relu"}

_FUNCTIONAL: dict[type, Callable[[torch.Tensor], torch.Tensor]] = {
    nn.ReLU: torch.relu,
    nn.Tanh: torch.tanh,
    nn.SiLU: F.silu,
    nn.ELU: F.elu,
    nn.GELU: F.gelu,
}


def functional_activation(layer: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The plain function an activation layer computes (the layer itself if it has none here)."""
    if type(layer) is nn.Identity:
        return lambda x: x
    return _FUNCTIONAL.get(type(layer), layer)


def run_sequential(seq: nn.Module, x: Any) -> Any:
    """``seq(x)`` for an ``nn.Sequential`` (nested ones too), with linear layers and activations as functions.

    Other layers are called as modules. Forward hooks on the inner layers are not run.
    """
    for layer in seq:
        kind = type(layer)
        if kind is nn.Linear:
            x = F.linear(x, layer.weight, layer.bias)
        elif kind in _FUNCTIONAL:
            x = _FUNCTIONAL[kind](x)
        elif kind is nn.Identity:
            continue
        elif isinstance(layer, nn.Sequential):
            x = run_sequential(layer, x)
        else:
            x = layer(x)
    return x


def check_action_space(algo: str, space: gym.Space, expected: type, hint: str) -> None:
    """Raise a :class:`~tripod.algorithms.algorithm_config.ConfigError` (a ValueError) naming ``algo``
    unless ``space`` is an instance of ``expected``: the env does not suit the algorithm."""
    from tripod.algorithms.algorithm_config import ConfigError

    if not isinstance(space, expected):
        raise ConfigError(
            f"{algo} needs a {expected.__name__} action space, but the env has {space!r} "
            f"({type(space).__name__}). {hint}"
        )


def is_flat_float_box(space: gym.Space) -> bool:
    """A 1-D float32 Box: observations go into the MLP as they are (no flattening step)."""
    return isinstance(space, gym.spaces.Box) and len(space.shape) == 1 and space.dtype == np.float32


def build_feature_net(observation_space: gym.Space, cfg: dict) -> nn.Sequential:
    """The ``fcnet_hiddens`` MLP, after a CNN or flattener where the observations need one."""
    if is_flat_float_box(observation_space):
        return MLP(observation_space.shape[0], cfg["fcnet_hiddens"], activation=cfg["fcnet_activation"])
    return build_encoder(observation_space, cfg).base
