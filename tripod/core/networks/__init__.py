"""Default networks: MLP, CNN and LSTM encoders, observation flattening, model config.

Most users never touch these directly: algorithms build their default modules
with :func:`build_encoder` from the observation space and ``model_config``.
Custom modules may reuse the pieces (``MLP``, ``CNNEncoder``, ``LSTMEncoder``,
``ObsFlattener``).
"""

from tripod.core.networks.cnn import CNNEncoder, default_conv_filters
from tripod.core.networks.encoders import (
    DEFAULT_MODEL_CONFIG,
    Encoder,
    build_encoder,
    is_image_space,
    resolve_model_config,
)
from tripod.core.networks.lstm import LSTMEncoder
from tripod.core.networks.mlp import ACTIVATIONS, MLP, get_activation
from tripod.core.networks.preprocessing import ObsFlattener, flat_obs_dim

__all__ = [
    "ACTIVATIONS",
    "CNNEncoder",
    "DEFAULT_MODEL_CONFIG",
    "Encoder",
    "LSTMEncoder",
    "MLP",
    "ObsFlattener",
    "build_encoder",
    "default_conv_filters",
    "flat_obs_dim",
    "get_activation",
    "is_image_space",
    "resolve_model_config",
]
