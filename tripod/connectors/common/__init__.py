"""Connector pieces usable in either pipeline (RLlib's ``ray.rllib.connectors.common``)."""

from tripod.connectors.common.flatten_observations import FlattenObservations
from tripod.connectors.common.frame_stacking import FrameStackingEnvToModule

#: RLlib's ``ray.rllib.connectors.common.frame_stacking`` name.
FrameStacking = FrameStackingEnvToModule

__all__ = ["FlattenObservations", "FrameStacking", "FrameStackingEnvToModule"]
