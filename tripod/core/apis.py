"""Short import path for the module API mixins (``from tripod.core.apis import ValueFunctionAPI``)."""

from tripod.core.rl_module.apis import (
    TARGET_NETWORK_ACTION_DIST_INPUTS,
    InferenceOnlyAPI,
    QNetAPI,
    TargetNetworkAPI,
    ValueFunctionAPI,
)

__all__ = [
    "InferenceOnlyAPI",
    "QNetAPI",
    "TARGET_NETWORK_ACTION_DIST_INPUTS",
    "TargetNetworkAPI",
    "ValueFunctionAPI",
]
