"""API mixins that algorithms require of RL modules."""

from tripod.core.rl_module.apis.inference_only_api import InferenceOnlyAPI
from tripod.core.rl_module.apis.q_net_api import QNetAPI
from tripod.core.rl_module.apis.target_network_api import TARGET_NETWORK_ACTION_DIST_INPUTS, TargetNetworkAPI
from tripod.core.rl_module.apis.value_function_api import ValueFunctionAPI

__all__ = [
    "InferenceOnlyAPI",
    "QNetAPI",
    "TARGET_NETWORK_ACTION_DIST_INPUTS",
    "TargetNetworkAPI",
    "ValueFunctionAPI",
]
