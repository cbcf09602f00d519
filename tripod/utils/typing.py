"""Type aliases RLlib code annotates with (RLlib path: ``ray.rllib.utils.typing``).

Plain aliases for annotations only; nothing here is checked at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeAlias, Union

if TYPE_CHECKING:  # names for the string annotations below; never imported at run time
    import gymnasium as gym
    import numpy as np
    import torch

    from tripod.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from tripod.core.rl_module.rl_module import RLModuleSpec

#: A tensor or array: ``torch.Tensor`` or ``numpy.ndarray``.
TensorType: TypeAlias = Union["torch.Tensor", "np.ndarray"]
#: A tensor, or a dict/tuple/list nesting tensors.
TensorStructType: TypeAlias = TensorType | dict | tuple | list
#: A shape.
TensorShape: TypeAlias = tuple[int, ...] | list[int]
#: A network (tripod: a ``torch.nn.Module``).
NetworkType: TypeAlias = "torch.nn.Module"
#: A device, as torch takes it.
DeviceType: TypeAlias = Union[str, "torch.device", int]
#: An ``RLModuleSpec`` or a ``MultiRLModuleSpec``.
RLModuleSpecType: TypeAlias = Union["RLModuleSpec", "MultiRLModuleSpec"]
#: A (nested) state dict, as ``get_state()`` returns it.
StateDict: TypeAlias = dict[str, Any]
#: The id of one module inside a ``MultiRLModule``.
ModuleID: TypeAlias = str
#: The id of an agent in a multi-agent env.
AgentID: TypeAlias = Hashable
#: RLlib's old-stack policy id (a module id on the new stack).
PolicyID: TypeAlias = str
#: The id of an episode.
EpisodeID: TypeAlias = int | str
#: The id of a sub-environment.
EnvID: TypeAlias = int | str
#: An environment's ``env_config``.
EnvConfigDict: TypeAlias = dict
#: A gymnasium env (or anything with its API).
EnvType: TypeAlias = Union[Any, "gym.Env"]
#: A function building an env from its ``env_config``.
EnvCreator: TypeAlias = Callable[[Any], Any]
#: ``{agent_id: value}``.
MultiAgentDict: TypeAlias = dict[AgentID, Any]
#: What ``algo.train()`` returns.
ResultDict: TypeAlias = dict
#: A ``model_config`` dict.
ModelConfigDict: TypeAlias = dict
#: A config dict.
AlgorithmConfigDict: TypeAlias = dict
#: Conv filter specs: ``[[out_channels, kernel, stride(, padding)], ...]``.
ConvFilterSpec: TypeAlias = list
#: A learning rate: a number or ``[[timestep, value], ...]``.
LearningRateOrSchedule: TypeAlias = float | list
#: A torch optimizer.
Optimizer: TypeAlias = "torch.optim.Optimizer"
#: A parameter.
Param: TypeAlias = "torch.Tensor"
#: ``{name: parameter}``.
NamedParamDict: TypeAlias = dict[str, Param]
#: A dict of batch columns.
ModelInputDict: TypeAlias = dict[str, TensorType]
#: A batch: a dict of columns.
SampleBatchType: TypeAlias = dict[str, Any]
#: A space, or a dict/tuple nesting spaces.
SpaceStruct: TypeAlias = Union["gym.spaces.Space", dict, tuple]
#: Maps an agent id (and its episode) to a module id.
AgentToModuleMappingFn: TypeAlias = Callable[..., ModuleID]
#: An env's observation / action / info.
EnvObsType: TypeAlias = Any
EnvActionType: TypeAlias = Any
EnvInfoDict: TypeAlias = dict
