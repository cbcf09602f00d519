"""Connectors: batched preprocessing between env and module that travels with the module.

See :mod:`tripod.connectors.connector_v2` for the design, :mod:`tripod.connectors.env_to_module`
and :mod:`tripod.connectors.module_to_env` for the pieces, and docs/connectors.md.
"""

from tripod.connectors.connector_v2 import ConnectorPipelineV2, ConnectorV2, StepInfo

__all__ = ["ConnectorPipelineV2", "ConnectorV2", "StepInfo"]
