"""Exporting several modules into one directory, atomically: :func:`export_modules`.

The directory holds ``<module_id>.onnx`` (or ``.pt2``) and ``<module_id>.json`` per module and a
``metadata.json`` (``kind: "module_export"``) listing every file with its SHA-256. It is written
as a temp directory next to the target and renamed into place, so a failed export leaves the
previous one intact. :func:`check_export_target` decides first what may be replaced: a missing
or empty directory, or (with ``overwrite``) a previous export whose files are all tripod's and
unchanged; never anything else.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tripod.export.graph import ExportError
from tripod.export.writers import SUFFIXES, require_onnx, sha256, write_error, write_export
from tripod.io.atomic_write import swap_into_place
from tripod.io.checkpoint import CheckpointError, read_json, recover_leftovers, write_metadata
from tripod.io.checkpoint_replace import occupied_directory

__all__ = ["EXPORT_KIND", "check_export_target", "export_modules"]

EXPORT_KIND = "module_export"
_SAFE_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def _previous_export_is_ours(target: Path) -> str | None:
    """``None`` if ``target`` is an unchanged tripod export, else why it is not."""
    try:
        meta = read_json(target / "metadata.json")
    except CheckpointError:
        return "it is not empty and is not a tripod export"
    if (
        not isinstance(meta, dict)
        or meta.get("kind") != EXPORT_KIND
        or not isinstance(meta.get("files"), dict)
    ):
        kind = meta.get("kind") if isinstance(meta, dict) else None
        return (
            f"it holds a tripod {kind!r} checkpoint, not an export" if kind else "it is not a tripod export"
        )
    files = meta["files"]
    for entry in sorted(target.iterdir()):
        if entry.name == "metadata.json":
            continue
        if entry.is_symlink() or not entry.is_file() or entry.name not in files:
            return f"it holds {entry.name}, which tripod did not write"
        if sha256(entry) != files[entry.name]:
            return f"{entry.name} was changed after tripod wrote it"
    return None


def check_export_target(path: str | os.PathLike, *, overwrite: bool = False) -> None:
    """Raise :class:`ExportError` unless an export may be written to directory ``path``.

    Allowed: a missing or empty directory; with ``overwrite``, a previous ONNX/pt2 export by
    tripod whose files are unchanged. Refused even with ``overwrite``: a file, a directory
    holding anything else, the current directory or one of its parents.
    """
    target = occupied_directory(
        path, instead="Export into a new sub-directory instead (e.g. ./exported).", error=ExportError
    )
    if target is None:
        return
    why = _previous_export_is_ours(target)
    if why is not None:
        raise ExportError(
            f"{target}: {why}; refusing to replace it (tripod never deletes files it did not write, even "
            "with overwrite). Choose a new or empty directory."
        )
    if not overwrite:
        raise ExportError(
            f"{target} already holds a tripod export; pass overwrite=True (CLI: --overwrite) to replace it, "
            "or choose another directory."
        )


def _check_ids(module_ids: list[str]) -> None:
    for module_id in module_ids:
        if not isinstance(module_id, str) or not _SAFE_ID.match(module_id) or module_id == "metadata":
            raise ExportError(
                f"module id {module_id!r} cannot name a file (<module_id>.onnx): export it alone with "
                "tripod.export.to_onnx(module, path) / to_pt2(module, path) and a file name of your choice."
            )


def _write_into_place(modules: Mapping[str, Any], fmt: str, target: Path, extras: Mapping[str, dict]) -> None:
    """Write every module into a temp dir next to ``target``, then rename it into place."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        os.chmod(tmp, 0o755)
        files: dict[str, str] = {}
        for module_id, module in modules.items():
            path = tmp / f"{module_id}{SUFFIXES[fmt]}"
            extra = extras.get(module_id) or None
            files[path.name] = write_export(module, fmt, path, module_id=module_id, extra=extra)["sha256"]
            files[f"{module_id}.json"] = sha256(tmp / f"{module_id}.json")
        write_metadata(tmp, {"kind": EXPORT_KIND, "format": fmt, "modules": list(modules), "files": files})
        swap_into_place(tmp, target)  # target checked by check_export_target: empty, or an unchanged export
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def export_modules(
    modules: Mapping[str, Any],
    out_dir: str | os.PathLike,
    *,
    format: str = "onnx",  # noqa: A002 - the CLI's --format
    overwrite: bool = False,
    sidecar_extra: dict[str, Any] | None = None,
    module_sidecar_extra: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, Path]:
    """Export each module of ``modules`` (a MultiRLModule or ``{module_id: module}``) into ``out_dir``.

    Writes ``<module_id>.onnx`` (``format="onnx"``) or ``<module_id>.pt2`` (``format="pt2"``) and
    ``<module_id>.json`` (the sidecar, see :func:`tripod.export.to_onnx`) per module, plus
    ``metadata.json``; all or nothing (atomic rename).

    Args:
        modules: The modules to export, by module id.
        out_dir: A new or empty directory, or a previous tripod export (with ``overwrite``).
        format: ``"onnx"`` or ``"pt2"``.
        overwrite: Replace a previous tripod export at ``out_dir``.
        sidecar_extra: Entries added to every sidecar.
        module_sidecar_extra: ``{module_id: entries}`` added to that module's sidecar (a run's
            ``env_to_module`` connectors, per module in a multi-agent run).

    Returns:
        ``{module_id: path of the exported file}``.

    Raises:
        ExportError: Bad format, unsafe module ids, a module that cannot be exported, or an
            ``out_dir`` that may not be replaced.
        ImportError: ``format="onnx"`` without the onnx extra.
    """
    if format not in SUFFIXES:
        raise ExportError(f"unknown export format {format!r}; use one of: {', '.join(SUFFIXES)}.")
    ids = list(modules.keys())
    if not ids:
        raise ExportError("nothing to export: no modules given.")
    _check_ids(ids)
    if format == "onnx":
        require_onnx()
    target = Path(os.path.abspath(out_dir))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        recover_leftovers(target)
        check_export_target(target, overwrite=overwrite)
        per_module = module_sidecar_extra or {}
        extras = {mid: {**(sidecar_extra or {}), **(per_module.get(mid) or {})} for mid in ids}
        _write_into_place(modules, format, target, extras)
        recover_leftovers(target)
    except OSError as err:  # a file where a directory goes, read-only, disk full: nothing was replaced
        raise write_error(target, err) from err
    return {module_id: target / f"{module_id}{SUFFIXES[format]}" for module_id in ids}
