"""Exporting the modules of an algorithm or an algorithm checkpoint (what ``tripod export`` runs).

:func:`export_algorithm` picks the modules (one id, or all torch modules of the algorithm's
MultiRLModule) and writes them as ``onnx``/``pt2`` (:func:`tripod.export.export_modules`) or as
a tripod module checkpoint (``safetensors``: ``RLModule.save_to_path``, loadable with
``RLModule.from_checkpoint``). :func:`export_checkpoint` loads the algorithm first, through
``Algorithm.from_checkpoint`` and its trust rules, in this process (no Ray actors).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tripod.core.rl_module.rl_module import DEFAULT_MODULE_ID
from tripod.export.directory import export_modules
from tripod.export.graph import ExportError

__all__ = ["FORMATS", "IN_PROCESS", "export_algorithm", "export_checkpoint", "select_modules"]

FORMATS = ("safetensors", "onnx", "pt2")
#: Config overrides that keep a loaded algorithm in this process (a run may have used Ray).
IN_PROCESS = {"num_env_runners": 0, "evaluation_num_env_runners": 0, "num_learners": 0, "async_sampling": False,
              "evaluation_parallel_to_training": False}  # fmt: skip


def select_modules(multi: Any, module_id: str | None, all_modules: bool) -> tuple[dict[str, Any], list[str]]:
    """``({module_id: module} to export, [ids skipped: not torch modules])``.

    Raises:
        ExportError: An unknown ``module_id`` (naming the known ones), or no torch module to export.
    """
    known = list(multi.keys())
    if module_id is not None and all_modules:
        raise ExportError("pass a module id or all_modules=True (CLI: --module-id or --all), not both.")
    if not all_modules:
        module_id = DEFAULT_MODULE_ID if module_id is None else module_id
        if module_id not in known:
            raise ExportError(
                f"unknown module id {module_id!r}; this checkpoint holds {', '.join(map(repr, known))}. "
                "Pick one with --module-id ID (Python: module_id=...) or export all with --all."
            )
        return {module_id: multi[module_id]}, []
    chosen = {mid: multi[mid] for mid in known if isinstance(multi[mid], torch.nn.Module)}
    skipped = [mid for mid in known if mid not in chosen]
    if not chosen:
        raise ExportError(f"none of the modules {known} is a torch module; there are no networks to export.")
    return chosen, skipped


def connector_sidecar(algo: Any, module_ids: Any) -> dict[str, dict[str, Any]]:
    """``{module_id: {"env_to_module": [piece, ...]}}`` for each of ``module_ids`` whose run has
    env-to-module connectors (its own pipeline in a multi-agent run), else ``{module_id: {}}``.

    Each piece is its spec (``{"type": ..., keywords}``); a ``MeanStdFilter`` adds the ``mean`` and
    ``std`` it normalises with. The exported graph takes the pipeline's output: apply these first.
    """
    return {mid: _pipeline_entries(algo.connector_pipeline(module_id=mid)) for mid in module_ids}


def _pipeline_entries(pipeline: Any) -> dict[str, Any]:
    if pipeline is None:
        return {}
    pieces = []
    for piece in pipeline.connectors:
        entry = dict(piece.to_spec() or {"type": type(piece).__name__})
        if hasattr(piece, "mean") and hasattr(piece, "std"):
            entry.update(mean=np.asarray(piece.mean).tolist(), std=np.asarray(piece.std).tolist())
        pieces.append(entry)
    return {"env_to_module": pieces}


def export_algorithm(
    algo: Any,
    out_dir: str | os.PathLike,
    *,
    format: str = "onnx",  # noqa: A002 - the CLI's --format
    module_id: str | None = None,
    all_modules: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Export modules of a built algorithm to ``out_dir``.

    Args:
        algo: An :class:`~tripod.algorithms.algorithm.Algorithm`.
        out_dir: The directory to write (new or empty, or a previous tripod export with ``overwrite``).
        format: ``"safetensors"`` (a tripod module checkpoint: one module, or with ``all_modules``
            the MultiRLModule), ``"onnx"`` or ``"pt2"`` (``<module_id>.<format>`` + ``<module_id>.json``).
        module_id: The module to export (default ``"default_policy"``).
        all_modules: Export every module (onnx/pt2: every torch module; others are skipped).
        overwrite: Replace a previous tripod export at ``out_dir``.

    Returns:
        ``{"path": out_dir, "modules": {module_id: path}, "skipped": [module ids], "class": name}``.
    """
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; use one of: {', '.join(FORMATS)}.")
    multi = algo.learner_group.get_module()
    chosen, skipped = select_modules(multi, module_id, all_modules)
    if format == "safetensors":
        if all_modules:
            path, what, skipped = multi.save_to_path(str(out_dir), overwrite=overwrite), multi, []
            chosen = dict(multi.items()) if hasattr(multi, "items") else chosen
        else:
            (what,) = chosen.values()
            path = what.save_to_path(str(out_dir), overwrite=overwrite)
        return {"path": Path(path), "modules": {mid: Path(path) for mid in chosen}, "skipped": skipped,
                "class": type(what).__name__}  # fmt: skip
    extra = connector_sidecar(algo, list(chosen))
    paths = export_modules(chosen, out_dir, format=format, overwrite=overwrite, module_sidecar_extra=extra)
    classes = sorted({type(m).__name__ for m in chosen.values()})
    return {"path": Path(os.path.abspath(out_dir)), "modules": paths, "skipped": skipped,
            "class": ", ".join(classes)}  # fmt: skip


def export_checkpoint(
    checkpoint: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    format: str = "onnx",  # noqa: A002 - the CLI's --format
    module_id: str | None = None,
    all_modules: bool = False,
    overwrite: bool = False,
    module_class: Any = None,
    trusted: bool = False,
    config_overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Load an algorithm checkpoint (or a run directory's newest) and export its modules.

    Loading follows ``Algorithm.from_checkpoint``'s rules (docs/checkpoints.md, "Security"):
    ``module_class`` for a module class defined in a script, ``trusted=True`` to let it import
    what the checkpoint names. The algorithm is built in this process (no Ray actors) and stopped
    afterwards. Other arguments and the result as for :func:`export_algorithm`.
    """
    from tripod.algorithms.algorithm import Algorithm
    from tripod.run.run_dir import resolve_checkpoint

    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; use one of: {', '.join(FORMATS)}.")
    source, out = Path(os.path.abspath(checkpoint)), Path(os.path.abspath(out_dir))
    if out == source or source in out.parents or out in source.parents:
        raise ExportError(
            f"{out_dir} is {checkpoint} itself, inside it or contains it; export to a directory outside "
            "the checkpoint and its run directory."
        )
    overrides = {**IN_PROCESS, **(config_overrides or {})}
    algo = Algorithm.from_checkpoint(
        str(resolve_checkpoint(checkpoint)), config_overrides=overrides, module_class=module_class,
        trusted=trusted,
    )  # fmt: skip
    try:
        return export_algorithm(
            algo, out_dir, format=format, module_id=module_id, all_modules=all_modules, overwrite=overwrite
        )
    finally:
        algo.stop()
