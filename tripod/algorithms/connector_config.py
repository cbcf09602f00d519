"""The connector settings (RLlib's names): a base of :class:`~tripod.algorithms.algorithm_config.AlgorithmConfig`.

``env_to_module_connector`` and ``module_to_env_connector`` are set with ``.env_runners()``;
``normalize_actions``, ``clip_actions`` and ``clip_rewards`` with ``.environment()``. See
docs/connectors.md and :mod:`tripod.connectors.build` for the forms a pipeline may take.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tripod.algorithms.config_checks import BOOL, Check, setting
from tripod.connectors.build import check_setting

__all__ = ["ConnectorSettings"]

_CONNECTOR_TEXT = (
    "None, a factory fn(env, spaces, device), a tripod connector piece, a {'type': ...} dict naming a "
    "built-in piece, or a list of pieces or dicts"
)


def _explain(name: str, value: Any) -> str | None:
    problem = check_setting(value)
    return None if problem is None else f"{name} must be {_CONNECTOR_TEXT}: {problem}"


_CONNECTOR_CHECK = Check(lambda v: check_setting(v) is None, _CONNECTOR_TEXT, _explain)


def _clip_rewards_ok(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return True
    return isinstance(value, int | float) and value > 0


@dataclasses.dataclass
class ConnectorSettings:
    """Preprocessing between env and module that travels with the module (docs/connectors.md)."""

    env_to_module_connector: Any = setting(
        None,
        check=_CONNECTOR_CHECK,
        doc="pieces between the env's observations/rewards and the module, e.g. `[MeanStdFilter()]` or "
        "`[{'type': 'FrameStackingEnvToModule', 'num_frames': 4}]`; the module is built for their output "
        "space ([Connectors](connectors.md))",
        method="env_runners",
    )
    module_to_env_connector: Any = setting(
        None,
        check=_CONNECTOR_CHECK,
        doc="pieces between the module's actions and the env (before `normalize_actions`/`clip_actions`)",
        method="env_runners",
    )
    normalize_actions: bool = setting(
        False,
        check=BOOL,
        doc="map Box actions from [-1, 1] to the action space's bounds before stepping the env (RLlib's "
        "default is True; tripod's default modules act in the env's units)",
        method="environment",
    )
    clip_actions: bool = setting(
        True,
        check=BOOL,
        doc="clip Box actions to the action space's bounds before stepping the env (the batch keeps the "
        "module's actions)",
        method="environment",
    )
    clip_rewards: Any = setting(
        None,
        check=Check(_clip_rewards_ok, "None, True (sign of the reward), False, or a positive number"),
        doc="training rewards: `True` = sign(r), a number v = clipped to [-v, v], None/False = as they are "
        "(reported returns stay raw)",
        method="environment",
    )

