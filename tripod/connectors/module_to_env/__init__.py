"""Module-to-env connector pieces (RLlib's ``ray.rllib.connectors.module_to_env``)."""

from tripod.connectors.connector_v2 import ConnectorPipelineV2
from tripod.connectors.module_to_env.normalize_and_clip_actions import NormalizeAndClipActions


class ModuleToEnvPipeline(ConnectorPipelineV2):
    """The pipeline from the module's actions to the env's."""


__all__ = ["ModuleToEnvPipeline", "NormalizeAndClipActions"]
