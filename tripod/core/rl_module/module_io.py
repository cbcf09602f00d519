"""Saving and loading RL modules: weights in safetensors, metadata in JSON, no pickle.

A single-module checkpoint directory holds ``metadata.json`` (module class
import path, spaces, model_config, versions) and ``module_state.safetensors``
(+ ``module_state.json`` for non-array leaves). A MultiRLModule checkpoint
holds ``metadata.json`` and one such directory per module id.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping
from typing import Any

from tripod.utils.checkpoint import (
    CheckpointError,
    atomic_directory,
    class_path,
    import_class,
    load_state,
    read_metadata,
    save_state,
    write_metadata,
)
from tripod.utils.spaces import space_from_dict, space_to_dict

MODULE_STATE = "module_state"
KIND_MODULE = "rl_module"
KIND_MULTI = "multi_rl_module"


def _check_json(model_config: dict, owner: str) -> dict:
    try:
        json.dumps(model_config)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{owner}: model_config cannot be saved as JSON ({exc}). Checkpoints store model_config "
            "as JSON: use plain numbers, strings, lists and dicts in it."
        ) from None
    return model_config


def _module_metadata(module) -> dict[str, Any]:
    from tripod.core.rl_module.multi_rl_module import MultiRLModule

    name = type(module).__name__
    meta: dict[str, Any] = {"class": class_path(type(module))}
    meta.update(
        kind=KIND_MULTI if isinstance(module, MultiRLModule) else KIND_MODULE,
        observation_space=None
        if module.observation_space is None
        else space_to_dict(module.observation_space),
        action_space=None if module.action_space is None else space_to_dict(module.action_space),
        inference_only=module.inference_only,
        learner_only=module.learner_only,
        model_config=_check_json(module.model_config, name),
    )
    if isinstance(module, MultiRLModule):
        meta["modules"] = list(module.keys())
    return meta


def _write_module(module, directory: str) -> None:
    from tripod.core.rl_module.multi_rl_module import MultiRLModule

    meta = _module_metadata(module)
    if isinstance(module, MultiRLModule):
        for module_id, sub in module.items():
            os.makedirs(os.path.join(directory, module_id))
            _write_module(sub, os.path.join(directory, module_id))
    else:
        save_state(directory, MODULE_STATE, module.get_state())
    write_metadata(directory, meta)


def save_module(module, path: str) -> str:
    """Write ``module`` to directory ``path`` atomically; returns ``path``.

    An existing checkpoint at ``path`` is replaced only once the new one is
    completely written.
    """
    path = os.fspath(path)
    with atomic_directory(path) as tmp:
        _write_module(module, tmp)
    return path


def load_module_state(path: str) -> dict[str, Any]:
    """The state saved at ``path`` (``{module_id: state}`` for a MultiRLModule)."""
    meta = read_metadata(path)
    if meta.get("kind") == KIND_MULTI:
        return load_multi_module_state(path)
    _expect_kind(meta, KIND_MODULE, path)
    return load_state(path, MODULE_STATE)


def load_multi_module_state(path: str, modules_to_load: Collection[str] | None = None) -> dict[str, Any]:
    """``{module_id: state}`` of a MultiRLModule checkpoint, optionally for some ids only."""
    meta = read_metadata(path)
    _expect_kind(meta, KIND_MULTI, path)
    ids = meta.get("modules", [])
    wanted = ids if modules_to_load is None else list(modules_to_load)
    missing = [mid for mid in wanted if mid not in ids]
    if missing:
        raise CheckpointError(f"Checkpoint {path} holds modules {ids}, not {missing}.")
    return {mid: load_module_state(os.path.join(path, mid)) for mid in wanted}


def _expect_kind(meta: dict, kind: str, path: str) -> None:
    if meta.get("kind") != kind:
        raise CheckpointError(
            f"Checkpoint {path} holds a '{meta.get('kind')}', not a '{kind}'. "
            "Check that the path points at the right checkpoint directory."
        )


def load_module(path: str, *, module_class: type | Mapping[str, type] | None = None):
    """Rebuild the module saved at ``path`` and load its weights.

    Args:
        path: The checkpoint directory.
        module_class: The class to build instead of the one recorded in the
            checkpoint. For a MultiRLModule checkpoint: the MultiRLModule class, or
            ``{module_id: class}`` for sub-modules whose recorded class cannot be
            imported (defined in ``__main__`` or inside a function).
    """
    from tripod.core.rl_module.multi_rl_module import MultiRLModule

    path = os.fspath(path)
    meta = read_metadata(path)
    if meta.get("kind") == KIND_MULTI:
        sub_classes = dict(module_class) if isinstance(module_class, Mapping) else {}
        multi_cls = None if isinstance(module_class, Mapping) else module_class
        cls = multi_cls or import_class(meta["class"])
        if not (isinstance(cls, type) and issubclass(cls, MultiRLModule)):
            cls = MultiRLModule
        subs = {}
        for module_id in meta.get("modules", []):
            sub_path = os.path.join(path, module_id)
            sub_meta = read_metadata(sub_path)
            if sub_meta.get("kind") == KIND_MULTI:
                subs[module_id] = load_module(sub_path, module_class=sub_classes.get(module_id))
            else:  # a spec, so a MultiRLModule subclass whose setup() needs its sub-modules works
                subs[module_id] = _spec_from_metadata(sub_meta, sub_path, sub_classes.get(module_id))
                subs[module_id].load_state_path = sub_path
        specs = {mid: s for mid, s in subs.items() if not isinstance(s, MultiRLModule)}
        multi = cls(
            observation_space=_space(meta.get("observation_space")),
            action_space=_space(meta.get("action_space")),
            inference_only=bool(meta.get("inference_only", False)),
            model_config=meta.get("model_config"),
            rl_module_specs=specs,
        )
        for module_id, sub in subs.items():
            if isinstance(sub, MultiRLModule):
                multi.add_module(module_id, sub, override=True)
        return multi
    _expect_kind(meta, KIND_MODULE, path)
    spec = _spec_from_metadata(meta, path, module_class)
    module = spec.build()
    module.set_state(load_state(path, MODULE_STATE))
    return module


def _space(d):
    return None if d is None else space_from_dict(d)


def _spec_from_metadata(meta: dict, path: str, module_class: type | None):
    from tripod.core.rl_module.rl_module import RLModuleSpec

    for key in ("class", "observation_space", "action_space", "model_config"):
        if key not in meta:
            raise CheckpointError(f"Checkpoint {path}: metadata.json lacks '{key}'; the file is damaged.")
    try:
        obs_space, act_space = _space(meta["observation_space"]), _space(meta["action_space"])
    except (ValueError, TypeError, KeyError) as err:
        raise CheckpointError(
            f"Checkpoint {path}: metadata.json holds a space that cannot be read: {err}"
        ) from err
    return RLModuleSpec(
        module_class=module_class or import_class(meta["class"]),
        observation_space=obs_space,
        action_space=act_space,
        inference_only=bool(meta.get("inference_only", False)),
        learner_only=bool(meta.get("learner_only", False)),
        model_config=meta["model_config"],
    )
