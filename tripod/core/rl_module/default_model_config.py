"""DefaultModelConfig: the ``model_config`` of the default modules as a dataclass (RLlib's path and names).

    from tripod.core.rl_module.default_model_config import DefaultModelConfig

    config = PPOConfig().rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[32]))
    spec = RLModuleSpec(module_class=..., model_config=DefaultModelConfig(fcnet_hiddens=[32]))

It is the one declaration of the default modules' keys:
:data:`tripod.core.networks.DEFAULT_MODEL_CONFIG` is ``dataclasses.asdict(DefaultModelConfig())``.
It has every field of RLlib's class, with RLlib's defaults except ``vf_share_layers``
(tripod: ``False``, two encoders; RLlib: ``True``). The fields whose metadata says
``tripod=False`` (initializers, layer norm, ``log_std_clip_param``) are not implemented by tripod's default modules:
they may stay at their defaults, and any other value is an error when the module is
built (never silently ignored).

A ``DefaultModelConfig`` stands for the dict of the fields *you set* (passed to the
constructor or assigned later): ``DefaultModelConfig(fcnet_hiddens=[32])`` builds the
same networks as ``{"fcnet_hiddens": [32]}``, so each algorithm's own defaults (DQN
and SAC use ``relu``) still apply to the rest (:func:`model_config_dict`).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["DefaultModelConfig", "model_config_dict", "unsupported_keys"]

_EXPLICIT = "_explicit_fields"


def _key(default: Any, doc: str, *, tripod: bool = True) -> Any:
    """A field with its doc and whether tripod's default modules implement it."""
    meta = {"doc": doc, "tripod": tripod}
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


_INIT = "not implemented by tripod's default modules (torch's default initialisation)"


@dataclasses.dataclass
class DefaultModelConfig:
    """The settings of the default modules' networks (RLlib's ``DefaultModelConfig``).

    Pass it as ``model_config`` to ``.rl_module(...)`` or ``RLModuleSpec(...)``; see the
    module docstring for the fields tripod does not implement and how it becomes a dict.
    """

    # MLP encoder
    fcnet_hiddens: list[int] = _key(
        [256, 256], "hidden layer sizes of the MLP encoder (after the CNN for images)"
    )
    fcnet_activation: str | None = _key(
        "tanh", '`"relu"`, `"tanh"`, `"elu"`, `"silu"`/`"swish"`, `"gelu"`, `"linear"` or `None`'
    )
    fcnet_kernel_initializer: str | Callable | None = _key(None, _INIT, tripod=False)
    fcnet_kernel_initializer_kwargs: dict | None = _key(None, _INIT, tripod=False)
    fcnet_bias_initializer: str | Callable | None = _key(None, _INIT, tripod=False)
    fcnet_bias_initializer_kwargs: dict | None = _key(None, _INIT, tripod=False)
    fcnet_use_layernorm: bool = _key(False, "not implemented by tripod's default modules", tripod=False)
    # CNN encoder
    conv_filters: list | None = _key(
        None, "`[[out_channels, kernel, stride(, padding)], ...]`; `None` picks a stack from the image size"
    )
    conv_activation: str | None = _key("relu", "activation of the CNN")
    conv_kernel_initializer: str | Callable | None = _key(None, _INIT, tripod=False)
    conv_kernel_initializer_kwargs: dict | None = _key(None, _INIT, tripod=False)
    conv_bias_initializer: str | Callable | None = _key(None, _INIT, tripod=False)
    conv_bias_initializer_kwargs: dict | None = _key(None, _INIT, tripod=False)
    # Heads
    head_fcnet_hiddens: list[int] = _key(
        [], "hidden layers of the policy and value heads on top of the encoder"
    )
    head_fcnet_activation: str | None = _key("relu", "their activation")
    head_fcnet_kernel_initializer: str | Callable | None = _key(None, _INIT, tripod=False)
    head_fcnet_kernel_initializer_kwargs: dict | None = _key(None, _INIT, tripod=False)
    head_fcnet_bias_initializer: str | Callable | None = _key(None, _INIT, tripod=False)
    head_fcnet_bias_initializer_kwargs: dict | None = _key(None, _INIT, tripod=False)
    head_fcnet_use_layernorm: bool = _key(False, "not implemented by tripod's default modules", tripod=False)
    # Continuous actions
    free_log_std: bool = _key(
        False, "`Box` actions: a learned, state-independent log standard deviation instead of a predicted one"
    )
    log_std_clip_param: float = _key(20.0, "not implemented by tripod's default modules", tripod=False)
    log_std_init: float = _key(
        0.0,
        "tripod only (Stable-Baselines3's name): the starting value of the `free_log_std` log standard "
        "deviation (rl-zoo's MuJoCo settings use -2)",
    )
    vf_share_layers: bool = _key(
        False,
        "one encoder for policy and value function (with `False`, two separate ones; RLlib's default "
        "is `True`)",
    )
    # LSTM
    use_lstm: bool = _key(
        False,
        "an LSTM of `lstm_cell_size` on top of the encoder (PPO/PG; DQN and SAC refuse it); with "
        "`vf_share_layers=False` actor and critic each have one",
    )
    max_seq_len: int = _key(
        20, "length of the training sequences of recurrent modules (zero-padded, masked; PPO/PG)"
    )
    lstm_cell_size: int = _key(256, "size of the LSTM cell")
    lstm_use_prev_action: bool = _key(
        False,
        "the module also sees the previous action: env runners add a `PrevActionsPrevRewards` connector, "
        "whose dict observation the encoder flattens ([Connectors](connectors.md))",
    )
    lstm_use_prev_reward: bool = _key(
        False, "the module also sees the previous reward (as `lstm_use_prev_action`, same connector)"
    )
    lstm_kernel_initializer: str | Callable | None = _key(None, _INIT, tripod=False)
    lstm_kernel_initializer_kwargs: dict | None = _key(None, _INIT, tripod=False)
    lstm_bias_initializer: str | Callable | None = _key(None, _INIT, tripod=False)
    lstm_bias_initializer_kwargs: dict | None = _key(None, _INIT, tripod=False)

    def __post_init__(self) -> None:
        # The dataclass __init__ assigned every field; what the caller passed is recorded by __init__ below.
        object.__setattr__(self, _EXPLICIT, set())

    def __setattr__(self, name: str, value: Any) -> None:
        """Set a field and remember that it was set (it then belongs to :func:`model_config_dict`)."""
        if name not in _FIELD_NAMES:
            raise AttributeError(_unknown_field(name))
        object.__setattr__(self, name, value)
        explicit = self.__dict__.get(_EXPLICIT)
        if explicit is not None:
            explicit.add(name)


_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(DefaultModelConfig))
_dataclass_init = DefaultModelConfig.__init__


def _unknown_field(name: str) -> str:
    close = difflib.get_close_matches(name, sorted(_FIELD_NAMES), n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else f" Fields: {', '.join(sorted(_FIELD_NAMES))}."
    return f"DefaultModelConfig has no field {name!r}.{hint}"


def _init(self: DefaultModelConfig, *args: Any, **kwargs: Any) -> None:
    unknown = [name for name in kwargs if name not in _FIELD_NAMES]
    if unknown:
        raise TypeError(_unknown_field(unknown[0]))
    _dataclass_init(self, *args, **kwargs)
    names = [f.name for f in dataclasses.fields(DefaultModelConfig)]
    self.__dict__[_EXPLICIT].update(names[: len(args)], kwargs)


_init.__signature__ = inspect.signature(_dataclass_init)  # type: ignore[attr-defined]
_init.__doc__ = _dataclass_init.__doc__
DefaultModelConfig.__init__ = _init  # type: ignore[method-assign]


def model_config_dict(model_config: Any) -> dict[str, Any]:
    """A plain ``model_config`` dict (a copy) from a dict, a :class:`DefaultModelConfig` or another dataclass.

    A ``DefaultModelConfig`` gives the fields that were set (passed to its constructor
    or assigned), so it means exactly what the same dict would; another dataclass gives
    all its fields (``dataclasses.asdict``).

    Raises:
        TypeError: For anything else.
    """
    if isinstance(model_config, DefaultModelConfig):
        explicit = model_config.__dict__.get(_EXPLICIT, _FIELD_NAMES)
        names = [f.name for f in dataclasses.fields(model_config) if f.name in explicit]
        return {name: copy.deepcopy(getattr(model_config, name)) for name in names}
    if dataclasses.is_dataclass(model_config) and not isinstance(model_config, type):
        return dataclasses.asdict(model_config)
    if isinstance(model_config, Mapping):
        return copy.deepcopy(dict(model_config))
    raise TypeError(
        f"model_config must be a dict or a DefaultModelConfig, got {type(model_config).__name__}."
    )


def unsupported_keys() -> dict[str, Any]:
    """``{key: RLlib's default}`` of the fields tripod's default modules do not implement."""
    defaults = dataclasses.asdict(DefaultModelConfig())
    return {
        f.name: defaults[f.name] for f in dataclasses.fields(DefaultModelConfig) if not f.metadata["tripod"]
    }
