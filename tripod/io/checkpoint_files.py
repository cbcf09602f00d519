"""The files of a checkpoint directory: ``metadata.json`` and named states, written and read.

A named state is a ``<name>.safetensors`` + ``<name>.json`` pair (:func:`save_state`,
:func:`load_state`; the format is :mod:`tripod.io.state_tree`). Files are read only by
name and only with the JSON and safetensors parsers (never pickle), and every problem
while reading is a :class:`CheckpointError` naming the path.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping
from importlib import metadata as _pkg_metadata
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy
import torch

import tripod
from tripod.io.atomic_write import atomic_write_file, write_json
from tripod.io.state_tree import FORMAT_VERSION, flatten_state, unflatten_state

__all__ = [
    "METADATA_FILE",
    "CheckpointError",
    "existing_dir",
    "load_state",
    "read_json",
    "read_metadata",
    "save_state",
    "write_metadata",
]

#: What to load a checkpoint of each kind with, for "wrong kind" errors.
_KIND_HINTS = {
    "rl_module": "it is a module alone (e.g. from tripod export): load it with RLModule.from_checkpoint().",
    "multi_rl_module": "it is a MultiRLModule: load it with RLModule.from_checkpoint() (or MultiRLModule's).",
    "algorithm": "it is an algorithm checkpoint: load it with Algorithm.from_checkpoint(), or load one of "
    "its modules with RLModule.from_checkpoint(<checkpoint>/module/<module_id>) (e.g. module/default_policy).",
}
METADATA_FILE = "metadata.json"
_REQUIRED_METADATA = ("format_version", "kind")


class CheckpointError(Exception):
    """A checkpoint could not be loaded; the message names the path and the problem."""


def save_state(directory: str | os.PathLike, name: str, nested_state: Mapping[str, Any]) -> None:
    """Save a nested state as ``<name>.safetensors`` (arrays) and ``<name>.json`` (the rest).

    Args:
        directory: Directory to write into (created if missing); usually the temp dir
            yielded by :func:`atomic_directory`.
        name: Base file name, e.g. ``"module_state"``; no path separators.
        nested_state: Nested dict accepted by :func:`flatten_state`.
    """
    _check_name(name)
    tensors, meta = flatten_state(nested_state)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_file(
        directory / f"{name}.safetensors", lambda tmp: safetensors.numpy.save_file(tensors, tmp)
    )
    write_json(directory / f"{name}.json", meta)


def write_metadata(directory: str | os.PathLike, meta: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``metadata.json``: ``meta`` plus the format and library versions.

    Args:
        directory: Checkpoint directory (created if missing).
        meta: Must contain ``"kind"`` (e.g. ``"rl_module"``, ``"algorithm"``); other
            JSON-able keys are stored as given. The version fields
            (``tripod_version``, ``torch_version``, ...) always describe the
            writing process and override any in ``meta``.

    Returns:
        The dict that was written.
    """
    meta = dict(meta)
    if not isinstance(meta.get("kind"), str) or not meta["kind"]:
        raise ValueError(f"checkpoint metadata needs a non-empty string 'kind', got {meta.get('kind')!r}")
    if meta.get("format_version", FORMAT_VERSION) != FORMAT_VERSION:
        raise ValueError(
            f"format_version is set by tripod ({FORMAT_VERSION}); got {meta['format_version']!r}"
        )
    meta.update(_library_versions())
    full = {"format_version": FORMAT_VERSION, **meta}
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_json(directory / METADATA_FILE, full)
    return full


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; any problem (missing, unreadable, invalid JSON) is a CheckpointError."""
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "is missing"
        raise CheckpointError(f"{path} {what}{_backup_hint(path.parent)}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise CheckpointError(f"cannot read {path}: {err}") from err
    if not text.strip():
        raise CheckpointError(f"{path} is empty (an interrupted write?); expected JSON")
    try:
        return json.loads(text)
    except RecursionError as err:
        raise CheckpointError(f"{path} is nested too deeply to be a tripod checkpoint file") from err
    except json.JSONDecodeError as err:
        raise CheckpointError(
            f"{path} is not valid JSON (corrupt or truncated): {err.msg} at line {err.lineno} column {err.colno}"
        ) from err


def read_metadata(directory: str | os.PathLike, expected_kind: str | None = None) -> dict[str, Any]:
    """Read and check ``metadata.json`` of a checkpoint directory.

    Args:
        directory: The checkpoint directory.
        expected_kind: If given, the checkpoint's ``kind`` must equal it.

    Raises:
        CheckpointError: If the directory or file is missing or unreadable, required
            keys are missing, the format version is not :data:`FORMAT_VERSION`, or
            the kind differs from ``expected_kind``.
    """
    directory = existing_dir(directory)
    path = directory / METADATA_FILE
    if not path.is_file():
        raise CheckpointError(f"{directory} is not a tripod checkpoint: {METADATA_FILE} is missing")
    meta = read_json(path)
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} must hold a JSON object, got {type(meta).__name__}")
    missing = [key for key in _REQUIRED_METADATA if key not in meta]
    if missing:
        raise CheckpointError(f"{path} is missing required keys {missing} (has {sorted(meta)})")
    version = meta["format_version"]
    if isinstance(version, bool) or not isinstance(version, int):
        raise CheckpointError(f"{path}: format_version must be an integer, got {version!r}")
    if version != FORMAT_VERSION:
        hint = "upgrade tripod to load it" if version > FORMAT_VERSION else "it predates this tripod's format"
        raise CheckpointError(
            f"{path}: checkpoint format version {version} is not supported (this tripod reads "
            f"version {FORMAT_VERSION}); {hint}. Written by tripod {meta.get('tripod_version', '?')}."
        )
    if expected_kind is not None and meta["kind"] != expected_kind:
        raise CheckpointError(
            f"{directory} holds a checkpoint of kind {meta['kind']!r}, but a {expected_kind!r} checkpoint "
            f"was expected; {_KIND_HINTS.get(meta['kind'], 'load it with the matching class.')}"
        )
    return meta


def load_state(directory: str | os.PathLike, name: str) -> dict[str, Any]:
    """Load a state saved by :func:`save_state`, restoring the original leaf types.

    Torch tensors come back on the CPU. Only ``<name>.safetensors`` and
    ``<name>.json`` are read, with the safetensors and JSON parsers (never pickle).

    Raises:
        CheckpointError: If a file is missing, truncated or corrupt, or the two files
            do not describe the same state.
    """
    _check_name(name)
    directory = existing_dir(directory)
    meta = read_json(directory / f"{name}.json")
    tensors = _read_safetensors(directory / f"{name}.safetensors")
    try:
        return unflatten_state(tensors, meta)
    except (ValueError, TypeError, KeyError, RuntimeError) as err:  # RuntimeError: also RecursionError
        raise CheckpointError(f"{directory}: state {name!r} is inconsistent or corrupt: {err}") from err


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name or name.startswith(".") or any(c in name for c in "/\\:"):
        raise ValueError(f"state name must be a plain file name without separators, got {name!r}")


def existing_dir(directory: str | os.PathLike) -> Path:
    """``directory`` as a Path; a :class:`CheckpointError` if it is missing or not a directory."""
    directory = Path(directory)
    if not directory.exists():
        raise CheckpointError(f"checkpoint directory {directory} does not exist{_backup_hint(directory)}")
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint path {directory} is not a directory")
    return directory


def _backup_hint(directory: Path) -> str:
    """Point to a backup left by an interrupted :func:`atomic_directory` replace."""
    if directory.exists():
        return ""
    backups = sorted(directory.parent.glob(f".{directory.name}.old-*")) if directory.parent.is_dir() else []
    return f" (a previous version survives at {backups[-1]}; rename it back)" if backups else ""


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise CheckpointError(f"{path} is missing{_backup_hint(path.parent)}")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(9)
    # A safetensors file starts with an 8-byte little-endian header length, then "{".
    header_len = int.from_bytes(head[:8], "little") if len(head) >= 8 else -1
    if header_len < 0 or 8 + header_len > size or head[8:9] != b"{":
        raise CheckpointError(
            f"{path} is truncated or not a safetensors file ({size} bytes; it does not start with "
            "a valid safetensors header). It was not loaded."
        )
    try:
        loaded = safetensors.numpy.load_file(path)
    except Exception as err:  # safetensors raises its own error types for corrupt data
        raise CheckpointError(f"{path} is truncated or corrupt: {err}") from err
    # Copy out of the memory map: writable arrays that do not keep the file open.
    return {key: np.array(value, copy=True) for key, value in loaded.items()}


def _library_versions() -> dict[str, Any]:
    def version(dist: str) -> str | None:
        try:
            return _pkg_metadata.version(dist)
        except _pkg_metadata.PackageNotFoundError:
            return None

    return {
        "tripod_version": tripod.__version__,
        "torch_version": torch.__version__,
        "gymnasium_version": version("gymnasium"),
        "numpy_version": np.__version__,
        "safetensors_version": getattr(safetensors, "__version__", None) or version("safetensors"),
        "python_version": platform.python_version(),
    }
