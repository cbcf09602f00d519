"""Default model config and the default observation encoder built from it."""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from tripod.core.networks.cnn import CNNEncoder, parse_conv_filter
from tripod.core.networks.lstm import LSTMEncoder
from tripod.core.networks.mlp import MLP, get_activation
from tripod.core.networks.preprocessing import ObsFlattener
from tripod.core.rl_module.default_model_config import DefaultModelConfig, model_config_dict, unsupported_keys

__all__ = ["DEFAULT_MODEL_CONFIG", "Encoder", "build_encoder", "is_image_space", "resolve_model_config"]

#: The ``model_config`` keys of the default modules, with their defaults: the fields of
#: :class:`~tripod.core.rl_module.default_model_config.DefaultModelConfig` (RLlib's names),
#: which declares them. Keys whose field says ``tripod=False`` may only keep their default.
DEFAULT_MODEL_CONFIG: dict[str, Any] = dataclasses.asdict(DefaultModelConfig())
_UNSUPPORTED: dict[str, Any] = unsupported_keys()


def _is_int(v: object) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool | np.bool_)


def _check_int_list(v: object) -> str | None:
    if isinstance(v, list | tuple) and all(_is_int(h) and h > 0 for h in v):
        return None
    return "expected a list of positive ints, e.g. [256, 256] (or [] for none)"


def _check_activation(v: object) -> str | None:
    if v is None or isinstance(v, str):
        try:
            get_activation(v)
            return None
        except ValueError as e:
            return str(e)
    return "expected an activation name such as 'relu' or 'tanh', or None"


def _check_conv_filters(v: object) -> str | None:
    if v is None:
        return None
    if not isinstance(v, list | tuple) or not v:
        return "expected None or a non-empty list of [out_channels, kernel, stride] entries"
    for i, entry in enumerate(v):
        try:
            parse_conv_filter(entry, i, is_last=i == len(v) - 1)
        except ValueError as e:
            return f"expected a list of [out_channels, kernel, stride] entries: {e}"
    return None


def _check_bool(v: object) -> str | None:
    return None if isinstance(v, bool | np.bool_) else "expected True or False"


def _check_finite_number(v: object) -> str | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    return None if ok else "expected a finite number"


def _check_pos_int(v: object) -> str | None:
    return None if _is_int(v) and v > 0 else "expected a positive int"


_CHECKS: dict[str, Callable[[object], str | None]] = {
    "fcnet_hiddens": _check_int_list,
    "fcnet_activation": _check_activation,
    "conv_filters": _check_conv_filters,
    "conv_activation": _check_activation,
    "use_lstm": _check_bool,
    "lstm_cell_size": _check_pos_int,
    "max_seq_len": _check_pos_int,
    "vf_share_layers": _check_bool,
    "head_fcnet_hiddens": _check_int_list,
    "head_fcnet_activation": _check_activation,
    "free_log_std": _check_bool,
    "lstm_use_prev_action": _check_bool,
    "lstm_use_prev_reward": _check_bool,
    "log_std_init": _check_finite_number,
}
assert set(_CHECKS) == set(DEFAULT_MODEL_CONFIG) - set(_UNSUPPORTED)


def _as_mapping(model_config: Any) -> Mapping[str, Any]:
    if model_config is None:
        return {}
    if isinstance(model_config, DefaultModelConfig) or (
        dataclasses.is_dataclass(model_config) and not isinstance(model_config, type)
    ):
        return model_config_dict(model_config)
    if not isinstance(model_config, Mapping):
        raise ValueError(f"model_config must be a dict, got {type(model_config).__name__}: {model_config!r}.")
    return model_config


def resolve_model_config(model_config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Merge ``model_config`` over :data:`DEFAULT_MODEL_CONFIG` and validate it.

    Args:
        model_config: a dict, a :class:`DefaultModelConfig` (the fields it sets) or
            another dataclass instance of overrides; ``None`` or ``{}`` gives the defaults.

    Returns:
        A new dict holding every default key (lists are copies, safe to modify).

    Raises:
        ValueError: for a key the default modules do not know (the message names
            it, suggests the closest valid key and lists all valid keys), or for a
            value of the wrong type or range (the message names the key, what it
            must be, and what was given).
    """
    model_config = _as_mapping(model_config)
    valid = list(DEFAULT_MODEL_CONFIG)
    for key, value in model_config.items():
        if key not in DEFAULT_MODEL_CONFIG:
            close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"Unknown model_config key {key!r}.{hint} Valid keys: {', '.join(valid)}. "
                "(A custom RLModule may read any keys of its own; this check is for the default modules.)"
            )
        if key in _UNSUPPORTED and value != _UNSUPPORTED[key]:
            raise ValueError(
                f"model_config[{key!r}] = {value!r}: tripod's default modules do not implement {key!r} (an "
                f"RLlib DefaultModelConfig field); leave it at {_UNSUPPORTED[key]!r}, or write a custom RLModule "
                "that reads it."
            )
    resolved = copy.deepcopy(DEFAULT_MODEL_CONFIG)
    resolved.update(copy.deepcopy(dict(model_config)))
    for key, check in _CHECKS.items():
        problem = check(resolved[key])
        if problem is not None:
            raise ValueError(
                f"model_config[{key!r}] = {resolved[key]!r} is not valid: {problem.rstrip('.')}."
            )
    for key in ("fcnet_hiddens", "head_fcnet_hiddens"):
        resolved[key] = [int(h) for h in resolved[key]]
    for key in ("lstm_cell_size", "max_seq_len"):
        resolved[key] = int(resolved[key])
    for key in ("use_lstm", "vf_share_layers", "free_log_std"):
        resolved[key] = bool(resolved[key])
    return resolved


def is_image_space(space: gym.Space) -> bool:
    """Whether the default encoder treats ``space`` as images: a ``Box`` of rank 3.

    The shape is read as channel-last ``(H, W, C)``, gymnasium's layout for
    pixel observations. Rank-2 boxes are *not* images (they are flattened into
    a vector); add a channel axis (e.g. with a wrapper) to get a CNN for them.
    """
    return isinstance(space, gym.spaces.Box) and len(space.shape) == 3


class Encoder(nn.Module):
    """The default observation encoder: features (and LSTM state) from observations.

    ``forward(obs, state=None)`` always returns ``(features, new_state)``:

    * stateless (``use_lstm=False``): ``obs`` is ``[B, ...]`` (any leading batch
      dims), ``features`` is ``[B, out_dim]`` and ``new_state`` is ``None``;
      ``state`` is ignored.
    * stateful (``use_lstm=True``): ``obs`` is ``[B, T, ...]``, ``state`` is
      ``{"h": [B, cell], "c": [B, cell]}`` (or ``None`` for zeros), ``features``
      is ``[B, T, out_dim]`` and ``new_state`` the state after the last step.

    Built by :func:`build_encoder`; ``base`` is the per-step feature extractor
    (CNN for images, else :class:`ObsFlattener`, followed by the
    ``fcnet_hiddens`` MLP) and ``lstm`` the optional :class:`LSTMEncoder`.

    Attributes:
        base: the per-step network (``base.out_dim`` is its feature size).
        lstm: the LSTM or ``None``.
        out_dim: size of the features returned by ``forward``.
    """

    def __init__(self, base: nn.Module, base_out_dim: int, lstm: LSTMEncoder | None = None) -> None:
        super().__init__()
        self.base = base
        self.lstm = lstm
        self.base_out_dim = int(base_out_dim)
        self.out_dim = lstm.out_dim if lstm is not None else self.base_out_dim

    def is_stateful(self) -> bool:
        """``True`` when the encoder has an LSTM (and ``forward`` takes ``[B, T, ...]``)."""
        return self.lstm is not None

    def get_initial_state(self) -> dict[str, torch.Tensor]:
        """Unbatched zero state ``{"h": [cell], "c": [cell]}``, or ``{}`` when stateless."""
        return {} if self.lstm is None else self.lstm.get_initial_state()

    def forward(
        self, obs: Any, state: Mapping[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        """Encode ``obs``; see the class docstring for the shapes."""
        features = self.base(obs)
        if self.lstm is None:
            return features, None
        if features.dim() != 3:
            raise ValueError(
                "A stateful (use_lstm=True) encoder expects observations shaped [B, T, ...] "
                f"(batch, time, observation); its per-step features came out as {tuple(features.shape)}. "
                "For a single step add a time axis of length 1."
            )
        return self.lstm(features, state)


def build_encoder(observation_space: gym.Space, model_config: Mapping[str, Any] | None = None) -> Encoder:
    """Build the default :class:`Encoder` for ``observation_space``.

    * Image spaces (:func:`is_image_space`): :class:`CNNEncoder` with
      ``conv_filters`` / ``conv_activation`` (inputs scaled by 1/255 when the
      space's dtype is ``uint8``), then an MLP of ``fcnet_hiddens`` /
      ``fcnet_activation`` on the flattened conv features (``fcnet_hiddens=[]``
      keeps the raw conv features).
    * Everything else: :class:`ObsFlattener` (one-hot for discrete parts, Dict
      and Tuple concatenated), then the ``fcnet_hiddens`` MLP.
    * ``use_lstm``: an :class:`LSTMEncoder` of ``lstm_cell_size`` on top.

    Args:
        observation_space: the (single-agent, unbatched) observation space.
        model_config: overrides of :data:`DEFAULT_MODEL_CONFIG` (validated).

    Raises:
        ValueError: for a bad ``model_config`` or an observation space that
            cannot be encoded.
    """
    cfg = resolve_model_config(model_config)
    if is_image_space(observation_space):
        pre = CNNEncoder(
            observation_space.shape,
            conv_filters=cfg["conv_filters"],
            activation=cfg["conv_activation"],
            scale=np.dtype(observation_space.dtype) == np.uint8,
        )
    else:
        pre = ObsFlattener(observation_space)
    mlp = MLP(pre.out_dim, cfg["fcnet_hiddens"], activation=cfg["fcnet_activation"])
    base = nn.Sequential(pre, mlp)
    base.out_dim = mlp.out_dim
    lstm = LSTMEncoder(mlp.out_dim, cfg["lstm_cell_size"]) if cfg["use_lstm"] else None
    return Encoder(base, mlp.out_dim, lstm)
