"""Saving and loading RL modules: weights in safetensors, metadata in JSON, no pickle.

A single-module checkpoint directory holds ``metadata.json`` (module class
import path, spaces, model_config, versions) and ``module_state.safetensors``
(+ ``module_state.json`` for non-array leaves). A MultiRLModule checkpoint
holds ``metadata.json`` and one such directory per module id.

This file sits below the module classes: ``RLModule.save_to_path`` / ``from_checkpoint`` and
``MultiRLModuleSpec.build`` call it, so it imports none of them. A module says which kind of
checkpoint it writes through its ``_checkpoint_kind`` class attribute, and loading builds
through the classes the caller hands in (:class:`ModuleClasses`).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from tripod.io.checkpoint import (
    CheckpointError,
    atomic_directory,
    class_path,
    load_state,
    read_metadata,
    save_state,
    write_metadata,
)
from tripod.io.checkpoint_trust import check_checkpoint, resolve_class, safe_child, write_manifest
from tripod.io.spaces import space_from_dict, space_to_dict

MODULE_STATE = "module_state"
KIND_MODULE = "rl_module"
KIND_MULTI = "multi_rl_module"


@dataclass(frozen=True)
class ModuleClasses:
    """The classes a module checkpoint is checked against and built with.

    Args:
        module_base: A recorded single-module class must subclass it (``RLModule``).
        multi_module_base: A recorded multi-module class must subclass it (``MultiRLModule``).
        spec: Builds a single module from its metadata (``RLModuleSpec``).
    """

    module_base: type
    multi_module_base: type
    spec: type


def _is_multi(module: Any) -> bool:
    return getattr(module, "_checkpoint_kind", KIND_MODULE) == KIND_MULTI


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
    name = type(module).__name__
    meta: dict[str, Any] = {"class": class_path(type(module))}
    meta.update(
        kind=KIND_MULTI if _is_multi(module) else KIND_MODULE,
        observation_space=None
        if module.observation_space is None
        else space_to_dict(module.observation_space),
        action_space=None if module.action_space is None else space_to_dict(module.action_space),
        inference_only=module.inference_only,
        learner_only=module.learner_only,
        model_config=_check_json(module.model_config, name),
    )
    if _is_multi(module):
        meta["modules"] = list(module.keys())
    return meta


def _warn_if_main(cls: type) -> None:
    if getattr(cls, "__module__", None) == "__main__":
        warnings.warn(
            f"{cls.__qualname__} is defined in the script run as __main__: the checkpoint records it as "
            f"'__main__.{cls.__qualname__}', which another program cannot find. Load it there with "
            f"RLModule.from_checkpoint(path, module_class={cls.__qualname__}) (Algorithm.from_checkpoint: "
            "module_class=...; command line: --module pkg.mod:Class), or move the class into a module.",
            UserWarning,
            stacklevel=5,
        )


def _write_module(module, directory: str) -> None:
    meta = _module_metadata(module)
    _warn_if_main(type(module))
    if _is_multi(module):
        for module_id, sub in module.items():
            os.makedirs(os.path.join(directory, module_id))
            _write_module(sub, os.path.join(directory, module_id))
    else:
        save_state(directory, MODULE_STATE, module.get_state())
    write_metadata(directory, meta)
    write_manifest(directory)  # last: the SHA-256 of every file written above


def save_module(module, path: str, *, overwrite: bool = True) -> str:
    """Write ``module`` to directory ``path`` atomically; returns ``path``.

    A previous module checkpoint at ``path`` is replaced (only once the new one is
    completely written) when ``overwrite`` is true, else refused. A directory that
    is not a tripod module checkpoint is always refused (``OverwriteError``).
    """
    path = os.fspath(path)
    with atomic_directory(path, kinds=(KIND_MODULE, KIND_MULTI), overwrite=overwrite) as tmp:
        _write_module(module, tmp)
    return path


def load_module_state(path: str, *, _checked: bool = False) -> dict[str, Any]:
    """The state saved at ``path`` (``{module_id: state}`` for a MultiRLModule).

    Only weights are read (no class is imported); the checkpoint is checked first
    (no links or special files, SHA-256 manifest).
    """
    path = os.fspath(path)
    if not _checked:
        check_checkpoint(path)
    meta = read_metadata(path)
    if meta.get("kind") == KIND_MULTI:
        return load_multi_module_state(path, _checked=True)
    _expect_kind(meta, KIND_MODULE, path)
    return load_state(path, MODULE_STATE)


def load_multi_module_state(
    path: str, modules_to_load: Collection[str] | None = None, *, _checked: bool = False
) -> dict[str, Any]:
    """``{module_id: state}`` of a MultiRLModule checkpoint, optionally for some ids only."""
    path = os.fspath(path)
    if not _checked:
        check_checkpoint(path)
    meta = read_metadata(path)
    _expect_kind(meta, KIND_MULTI, path)
    ids = _module_ids(meta, path)
    wanted = ids if modules_to_load is None else list(modules_to_load)
    missing = [mid for mid in wanted if mid not in ids]
    if missing:
        raise CheckpointError(f"Checkpoint {path} holds modules {ids}, not {missing}.")
    return {mid: load_module_state(safe_child(path, mid, what="module"), _checked=True) for mid in wanted}


def _module_ids(meta: dict, path: str) -> list[str]:
    """The sub-module ids of a MultiRLModule checkpoint, each a plain directory name inside it."""
    ids = meta.get("modules", [])
    if not isinstance(ids, list):
        raise CheckpointError(f"Checkpoint {path}: metadata.json 'modules' must be a list of module ids.")
    for mid in ids:
        safe_child(path, mid, what="module")
    return ids


def _expect_kind(meta: dict, kind: str, path: str) -> None:
    found = meta.get("kind")
    if found != kind:
        hint = "Check that the path points at the right checkpoint directory."
        if found == "algorithm":
            hint = (
                "It is an algorithm checkpoint: its modules are in its module/ directory, e.g. "
                f"RLModule.from_checkpoint('{os.path.join(path, 'module', 'default_policy')}'); or load the "
                "whole algorithm with Algorithm.from_checkpoint()."
            )
        raise CheckpointError(f"Checkpoint {path} holds a {found!r} checkpoint, not a {kind!r}. {hint}")


def load_module(
    path: str,
    *,
    classes: ModuleClasses,
    module_class: type | Mapping[str, type] | None = None,
    trusted: bool = False,
):
    """Rebuild the module saved at ``path`` and load its weights (``RLModule.from_checkpoint``).

    The recorded class is used only if it is an RLModule subclass (a MultiRLModule
    subclass for a MultiRLModule checkpoint) defined by tripod or in a module this
    process has already imported; no module is imported (see docs/checkpoints.md).

    Args:
        path: The checkpoint directory.
        classes: The base classes a recorded class must subclass and the spec class
            that builds single modules.
        module_class: The class to build instead of the one recorded in the
            checkpoint. For a MultiRLModule checkpoint: the MultiRLModule class, or
            ``{module_id: class}`` for sub-modules whose recorded class cannot be
            found (defined in ``__main__``, inside a function, or in a module not imported).
        trusted: Import the module a recorded class lives in if needed (only for
            checkpoints from a source you trust).

    Raises:
        CheckpointError: The checkpoint is missing, damaged or tampered with, or
            names a class it may not load (:class:`UntrustedCheckpointError`).
    """
    path = os.fspath(path)
    check_checkpoint(path)
    return _load_module(path, classes, module_class, trusted)


def _load_module(path: str, classes: ModuleClasses, module_class: Any, trusted: bool):
    meta = read_metadata(path)
    if meta.get("kind") != KIND_MULTI:
        _expect_kind(meta, KIND_MODULE, path)
        module = _build(_spec_from_metadata(meta, path, classes, module_class, trusted), path)
        _set_state(module, load_state(path, MODULE_STATE), path)
        return module
    sub_classes = dict(module_class) if isinstance(module_class, Mapping) else {}
    multi_cls = None if isinstance(module_class, Mapping) else module_class
    bases = (classes.multi_module_base,)
    cls = multi_cls or _resolve(meta.get("class"), bases, path, "MultiRLModule class", trusted)
    specs, nested = {}, {}
    for module_id in _module_ids(meta, path):
        sub_path = safe_child(path, module_id, what="module")
        sub_meta = read_metadata(sub_path)
        sub_class = sub_classes.get(module_id)
        if sub_meta.get("kind") == KIND_MULTI:
            nested[module_id] = _load_module(sub_path, classes, sub_class, trusted)
        else:  # a spec, so a MultiRLModule subclass whose setup() needs its sub-modules works
            _expect_kind(sub_meta, KIND_MODULE, sub_path)
            specs[module_id] = _spec_from_metadata(sub_meta, sub_path, classes, sub_class, trusted)
    return _build_multi(path, meta, cls, specs, nested)


def _build_multi(path: str, meta: dict, cls: type, specs: dict, nested: dict):
    """Build the MultiRLModule ``cls`` from its sub-module specs, then load every weight."""
    try:
        multi = cls(
            observation_space=_space(meta.get("observation_space"), path),
            action_space=_space(meta.get("action_space"), path),
            inference_only=bool(meta.get("inference_only", False)),
            model_config=meta.get("model_config"),
            rl_module_specs=specs,
        )
    except CheckpointError:
        raise
    except Exception as err:
        raise _build_error(path, cls, err) from err
    for module_id in specs:
        sub_path = safe_child(path, module_id, what="module")
        _set_state(multi[module_id], load_state(sub_path, MODULE_STATE), sub_path)
    for module_id, sub in nested.items():
        multi.add_module(module_id, sub, override=True)
    return multi


def _build(spec, path: str):
    try:
        return spec.build()
    except CheckpointError:
        raise
    except Exception as err:
        raise _build_error(path, spec.module_class, err) from err


def _build_error(path: str, cls: Any, err: Exception) -> CheckpointError:
    name = getattr(cls, "__name__", repr(cls))
    return CheckpointError(
        f"Checkpoint {path}: building {name} from its metadata.json failed ({type(err).__name__}: {err}); the "
        "metadata is damaged or does not fit this class."
    )


def _set_state(module, state: dict[str, Any], path: str) -> None:
    try:
        module.set_state(state)
    except CheckpointError:
        raise
    except Exception as err:
        raise CheckpointError(
            f"Checkpoint {path}: the saved weights (module_state) do not fit {type(module).__name__} "
            f"({type(err).__name__}: {err}); the checkpoint is damaged or holds another module."
        ) from err


def _resolve(ref: Any, bases: tuple, path: str, what: str, trusted: bool) -> type:
    fix = "module_class=YourModuleClass; command line: --module pkg.mod:Class"
    return resolve_class(ref, bases, source=f"Checkpoint {path}", what=what, fix=fix, trusted=trusted)


def _space(d: Any, path: str):
    if d is None:
        return None
    try:
        return space_from_dict(d)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError) as err:
        raise CheckpointError(
            f"Checkpoint {path}: metadata.json holds a space that cannot be read ({err}); the file is damaged."
        ) from err


def _spec_from_metadata(
    meta: dict, path: str, classes: ModuleClasses, module_class: type | None, trusted: bool = False
):
    for key in ("class", "observation_space", "action_space", "model_config"):
        if key not in meta:
            raise CheckpointError(f"Checkpoint {path}: metadata.json lacks '{key}'; the file is damaged.")
    if not isinstance(meta["model_config"], dict):
        raise CheckpointError(
            f"Checkpoint {path}: metadata.json 'model_config' must be an object; it is damaged."
        )
    bases = (classes.module_base,)
    return classes.spec(
        module_class=module_class or _resolve(meta["class"], bases, path, "module class", trusted),
        observation_space=_space(meta["observation_space"], path),
        action_space=_space(meta["action_space"], path),
        inference_only=bool(meta.get("inference_only", False)),
        learner_only=bool(meta.get("learner_only", False)),
        model_config=meta["model_config"],
    )
