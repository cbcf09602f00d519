"""The module system: RLModule, TorchRLModule, specs, MultiRLModule and Columns."""

from tripod.core.columns import Columns
from tripod.core.rl_module.multi_rl_module import MultiRLModule, MultiRLModuleSpec
from tripod.core.rl_module.rl_module import DEFAULT_MODULE_ID, RLModule, RLModuleSpec
from tripod.core.rl_module.torch.torch_rl_module import TorchRLModule

__all__ = [
    "DEFAULT_MODULE_ID",
    "Columns",
    "MultiRLModule",
    "MultiRLModuleSpec",
    "RLModule",
    "RLModuleSpec",
    "TorchRLModule",
]
