"""Helpers of :meth:`Algorithm.from_checkpoint` and :meth:`Algorithm.restore_from_path`.

They turn everything that can be wrong with an algorithm checkpoint into a
:class:`~tripod.io.checkpoint.CheckpointError` that names the file: a config
that does not build, a ``state`` entry of the wrong type, states that do not fit
the algorithm, a checkpoint of another algorithm class or for other modules.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from typing import Any

from tripod.io.checkpoint import CheckpointError, class_path, read_metadata
from tripod.io.checkpoint_trust import resolve_class, safe_child
from tripod.io.spaces import space_from_dict, spaces_equal

_COUNTERS = ("iteration", "num_env_steps_sampled_lifetime", "num_episodes_lifetime")
_WINDOWS = ("returns_window", "lens_window")


@contextlib.contextmanager
def damaged(path: str, what: str) -> Iterator[None]:
    """Re-raise any error inside the block as a CheckpointError saying ``what`` in ``path`` is damaged."""
    try:
        yield
    except CheckpointError:
        raise
    except Exception as err:
        detail = str(err)[:300].rstrip(".")
        raise CheckpointError(
            f"Checkpoint {path}: {what} is damaged or does not fit this algorithm "
            f"({type(err).__name__}: {detail})"
        ) from err


def build_from_checkpoint(
    cls: type,
    meta: dict[str, Any],
    path: str,
    *,
    base: type,
    config_overrides: Any,
    module_class: Any,
    trusted: bool,
) -> Any:
    """The algorithm (not yet restored) that the checkpoint's metadata describes.

    ``cls`` is the class ``from_checkpoint`` was called on; ``base`` is ``Algorithm``.
    """
    from tripod.algorithms.config_io import config_from_dict

    source = f"Checkpoint {path}"
    algo_cls = resolve_class(
        meta.get("class"),
        (base,),
        source=source,
        what="algorithm class",
        fix="build the algorithm from its config yourself and call algo.restore_from_path(path)",
        trusted=trusted,
    )
    if not issubclass(algo_cls, cls):
        raise CheckpointError(f"{path} holds a {algo_cls.__name__} checkpoint, not a {cls.__name__}.")
    config = config_from_dict(
        meta.get("config"),
        config_overrides,
        config_base=algo_cls.config_class,
        module_class=module_class,
        trusted=trusted,
        source=source,
    )
    with damaged(path, f"the saved config (metadata.json 'config'), building {algo_cls.__name__}"):
        return algo_cls(config)


def check_fits(algo: Any, meta: dict[str, Any], path: str) -> None:
    """Refuse a checkpoint of another algorithm class, or for other module ids or spaces, naming both."""
    saved = meta.get("class")
    mine = class_path(type(algo))
    if saved != mine:
        saved_name = saved.rsplit(".", 1)[-1] if isinstance(saved, str) else repr(saved)
        raise CheckpointError(
            f"Checkpoint {path} was written by {saved_name} ({saved}), but this algorithm is "
            f"{type(algo).__name__} ({mine}); restoring it would mix two algorithms' states. Load it with "
            f"Algorithm.from_checkpoint(path), or take only the weights with "
            f"RLModule.from_checkpoint(path/module/<module_id>)."
        )
    module_dir = os.path.join(path, "module")
    module_meta = read_metadata(module_dir)
    saved_ids = module_meta.get("modules")
    mine_ids = sorted(algo.learner_group.module_ids)
    for module_id in saved_ids if isinstance(saved_ids, list) else []:
        safe_child(module_dir, module_id, what="module")
    if not isinstance(saved_ids, list) or sorted(map(str, saved_ids)) != mine_ids:
        raise CheckpointError(
            f"Checkpoint {path} holds modules {saved_ids!r:.200}, but this algorithm has {mine_ids}; "
            "it was written for another multi-agent setup."
        )
    for module_id in mine_ids:
        _check_spaces(algo.get_module(module_id), os.path.join(module_dir, module_id), module_id)


def _check_spaces(module: Any, sub_dir: str, module_id: str) -> None:
    sub_meta = read_metadata(sub_dir)
    for name in ("observation_space", "action_space"):
        saved = sub_meta.get(name)
        with damaged(sub_dir, f"the {name} in metadata.json"):
            saved_space = None if saved is None else space_from_dict(saved)
        mine = getattr(module, name)
        if saved_space is not None and mine is not None and not spaces_equal(saved_space, mine):
            raise CheckpointError(
                f"Checkpoint {sub_dir}: module '{module_id}' was saved for {name} {saved_space}, but this "
                f"algorithm's module has {mine}; the checkpoint was written for another environment."
            )


def checked_state(meta: dict[str, Any], path: str) -> dict[str, Any]:
    """The ``state`` entry of ``metadata.json`` with every counter and window type-checked."""
    where = os.path.join(path, "metadata.json")
    state = meta.get("state")
    if not isinstance(state, dict):
        raise CheckpointError(f"{where} is damaged: it has no 'state' object (got {state!r:.80}).")
    out = dict(state)

    def bad(key: str, need: str) -> CheckpointError:
        return CheckpointError(
            f"{where} is damaged: its 'state' entry {key!r} must be {need}, got {state.get(key)!r:.80}."
        )

    for key in _COUNTERS:
        value = state.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise bad(key, "an integer >= 0")
    value = state.get("time_total_s")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise bad("time_total_s", "a number >= 0")
    out["time_total_s"] = float(value)
    for key in _WINDOWS:
        values = state.get(key)
        if not isinstance(values, list) or not all(_finite_number(v) for v in values):
            raise bad(key, "a list of numbers")
        out[key] = [float(v) for v in values]
    return out


def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
