"""AlgorithmConfig to and from JSON-able dicts (for checkpoints and ``config.json``).

Classes and functions (env creators, module classes, policy mapping functions)
are stored as import paths; spaces with :mod:`tripod.utils.spaces`. Nothing is
pickled.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from tripod.core.rl_module.multi_rl_module import MultiRLModuleSpec
from tripod.core.rl_module.rl_module import RLModuleSpec
from tripod.utils.checkpoint import CheckpointError, class_path, import_class
from tripod.utils.spaces import space_from_dict, space_to_dict

_REF = "__import__"
_FUNCTION = "__function__"


def _import_function(ref: dict[str, str], field: str) -> Any:
    """The module-level function ``ref`` names (``{"module": ..., "qualname": ...}``)."""
    try:
        obj: Any = importlib.import_module(ref["module"])
        for part in ref["qualname"].split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise CheckpointError(
            f"The saved config's '{field}' refers to {ref['module']}.{ref['qualname']}, which cannot be "
            f"imported ({err}). Pass it again when restoring: "
            f"Algorithm.from_checkpoint(path, config_overrides={{'{field}': ...}})."
        ) from err
    return obj


def _ref(obj: Any) -> Any:
    """An import-path reference for classes and functions, or the value itself."""
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    if isinstance(obj, list | tuple):
        return [_ref(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): _ref(v) for k, v in obj.items()}
    if callable(obj):
        is_class = isinstance(obj, type)
        module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        if not is_class and (module is None or qualname is None):  # e.g. a functools.partial
            return {_REF: None, "repr": repr(obj)[:200]}
        path = class_path(obj) if is_class else f"{module}.{qualname}"
        if "<lambda>" in path or "<locals>" in path:
            return {_REF: None, "repr": path}
        if not is_class:  # a function, e.g. an env creator or a policy mapping function
            return {_FUNCTION: {"module": module, "qualname": qualname}}
        return {_REF: path}
    return {_REF: None, "repr": repr(obj)[:200]}


def _deref(value: Any, field: str) -> Any:
    if isinstance(value, list):
        return [_deref(v, field) for v in value]
    if isinstance(value, dict):
        if _REF in value:
            if value[_REF] is None:
                raise CheckpointError(
                    f"The saved config's '{field}' was {value.get('repr')}, which cannot be imported "
                    f"(a lambda or a local function). Pass it again when restoring, e.g. "
                    f"Algorithm.from_checkpoint(path, config_overrides={{'{field}': ...}})."
                )
            return import_class(value[_REF])
        if _FUNCTION in value:
            return _import_function(value[_FUNCTION], field)
        return {k: _deref(v, field) for k, v in value.items()}
    return value


def _spec_to_dict(spec: RLModuleSpec | MultiRLModuleSpec | None) -> Any:
    if spec is None:
        return None
    if isinstance(spec, MultiRLModuleSpec):
        return {
            "type": "multi",
            "multi_rl_module_class": _ref(spec.multi_rl_module_class),
            "rl_module_specs": {mid: _spec_to_dict(s) for mid, s in spec.rl_module_specs.items()},
        }
    return {
        "type": "single",
        "module_class": _ref(spec.module_class),
        "observation_space": None
        if spec.observation_space is None
        else space_to_dict(spec.observation_space),
        "action_space": None if spec.action_space is None else space_to_dict(spec.action_space),
        "inference_only": spec.inference_only,
        "learner_only": spec.learner_only,
        "model_config": spec.model_config,
        "load_state_path": spec.load_state_path,
    }


def _spec_from_dict(d: Any) -> RLModuleSpec | MultiRLModuleSpec | None:
    if d is None:
        return None
    if d.get("type") == "multi":
        return MultiRLModuleSpec(
            multi_rl_module_class=_deref(d["multi_rl_module_class"], "rl_module_spec"),
            rl_module_specs={mid: _spec_from_dict(s) for mid, s in d["rl_module_specs"].items()},
        )

    def space(s):
        return None if s is None else space_from_dict(s)

    return RLModuleSpec(
        module_class=_deref(d["module_class"], "rl_module_spec"),
        observation_space=space(d["observation_space"]),
        action_space=space(d["action_space"]),
        inference_only=d["inference_only"],
        learner_only=d["learner_only"],
        model_config=d["model_config"],
        load_state_path=d["load_state_path"],
    )


def config_to_dict(config) -> dict[str, Any]:
    """All fields of ``config`` as a JSON-able dict, plus its class path."""
    out: dict[str, Any] = {"config_class": class_path(type(config))}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.name == "rl_module_spec":
            out[field.name] = _spec_to_dict(value)
        elif field.name == "policies" and isinstance(value, dict):  # {module_id: RLModuleSpec or None}
            out[field.name] = {mid: _spec_to_dict(spec) for mid, spec in value.items()}
        else:
            out[field.name] = _ref(value)
    return out


def config_from_dict(d: dict[str, Any], overrides: dict[str, Any] | None = None):
    """Rebuild a config saved by :func:`config_to_dict`; ``overrides`` replace saved fields."""
    overrides = dict(overrides or {})
    if "config_class" not in d:
        raise CheckpointError("The saved config has no 'config_class'; the checkpoint is damaged.")
    cls = import_class(d["config_class"])
    config = cls()
    names = {f.name for f in dataclasses.fields(config)}
    for name, value in d.items():
        if name == "config_class" or name not in names:
            continue
        if name in overrides:
            value = overrides.pop(name)
        elif name == "rl_module_spec":
            value = _spec_from_dict(value)
        elif name == "policies" and isinstance(value, dict):
            value = {mid: _spec_from_dict(spec) for mid, spec in value.items()}
        else:
            value = _deref(value, name)
        setattr(config, name, value)
    config.update_from_dict(overrides)
    return config
