"""Env-to-module connector pieces (RLlib's ``ray.rllib.connectors.env_to_module``)."""

from tripod.connectors.common.flatten_observations import FlattenObservations
from tripod.connectors.common.frame_stacking import FrameStackingEnvToModule
from tripod.connectors.connector_v2 import ConnectorPipelineV2
from tripod.connectors.env_to_module.mean_std_filter import MeanStdFilter
from tripod.connectors.env_to_module.prev_actions_prev_rewards import PrevActionsPrevRewards
from tripod.connectors.env_to_module.rewards import ClipRewards, NormalizeRewards


class EnvToModulePipeline(ConnectorPipelineV2):
    """The pipeline from the env's observations (and rewards) to the module's inputs."""


__all__ = [
    "ClipRewards",
    "EnvToModulePipeline",
    "FlattenObservations",
    "FrameStackingEnvToModule",
    "MeanStdFilter",
    "NormalizeRewards",
    "PrevActionsPrevRewards",
]
