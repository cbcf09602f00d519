"""Writing checkpoints safely: what may be replaced, and clean-up after interrupted saves.

tripod never deletes a file it did not write: :func:`check_replaceable` allows
replacing only an empty directory or a previous tripod checkpoint (``metadata.json``
naming a tripod ``kind``) holding only files tripod writes. :func:`recover_leftovers`
handles the temp dirs (``.<name>.tmp-*``) and backups (``.<name>.old-*``) that
:func:`tripod.io.checkpoint.atomic_directory` leaves when a save is killed.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Collection
from pathlib import Path

__all__ = [
    "CheckpointSaveError",
    "OverwriteError",
    "check_replaceable",
    "checkpoint_kind",
    "find_leftovers",
    "occupied_directory",
    "recover_leftovers",
]

_METADATA_FILE = "metadata.json"
#: Checkpoint kinds that may replace one another (a module export may be single- or multi-module).
_KIND_FAMILIES = ({"rl_module", "multi_rl_module"},)
#: Suffixes of the files tripod writes into a checkpoint (:func:`save_state`, :func:`write_json`).
_TRIPOD_SUFFIXES = (".json", ".safetensors")


class OverwriteError(FileExistsError):
    """tripod refused to write a checkpoint where it would replace files it did not write.

    The message names the directory and the fix (another path, or ``overwrite=True``).
    """


class CheckpointSaveError(OSError):
    """A checkpoint could not be written (disk full, read-only, a file where a directory goes, ...).

    The message names the path and the OS error. Nothing was replaced: an older
    checkpoint at the same path is intact, and the object being saved is unchanged
    in memory, so saving again elsewhere works. ``path`` is the checkpoint path.
    """

    def __init__(self, message: str, path: str | os.PathLike | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else Path(path)

    def __str__(self) -> str:
        return str(self.args[0])


def checkpoint_kind(directory: str | os.PathLike) -> str | None:
    """The ``kind`` in ``directory/metadata.json`` if it is a tripod checkpoint, else None (never raises)."""
    try:
        meta = json.loads((Path(directory) / _METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(meta, dict) or isinstance(meta.get("format_version"), bool):
        return None
    kind = meta.get("kind")
    if not isinstance(meta.get("format_version"), int) or not isinstance(kind, str) or not kind:
        return None
    return kind


def occupied_directory(
    path: str | os.PathLike, *, instead: str, error: type[Exception] = OverwriteError
) -> Path | None:
    """The absolute ``path`` when it is a non-empty directory a writer must look into before
    replacing it; None when it is missing or empty (free to write).

    Raises:
        error: ``path`` is a file or a symlink, or it is the current directory or one of its
            parents (never replaced); ``instead`` ends that message with what to do.
    """
    target = Path(os.path.abspath(path))
    if not target.exists() and not target.is_symlink():
        return None
    if target.is_symlink() or not target.is_dir():
        raise error(f"{target} exists and is not a directory; refusing to replace it. Choose another path.")
    cwd = Path.cwd()
    if target == cwd or target in cwd.parents:
        raise error(f"{target} is the current directory or contains it; refusing to replace it. {instead}")
    return target if any(target.iterdir()) else None


def check_replaceable(
    path: str | os.PathLike, *, kinds: Collection[str] | None = None, overwrite: bool = True
) -> None:
    """Raise :class:`OverwriteError` unless writing a checkpoint at ``path`` loses nothing tripod did not write.

    Writing is allowed where ``path`` does not exist or is an empty directory, and,
    with ``overwrite=True``, where it is a previous tripod checkpoint (its
    ``metadata.json`` names a tripod ``kind``) of one of ``kinds`` (any kind when
    None) that holds only files tripod writes (``*.json``, ``*.safetensors``).
    Anything else is refused even with ``overwrite=True``: a file, a directory of
    other files, a checkpoint with foreign files or of another kind, and the
    current working directory or one of its parents.
    """
    target = occupied_directory(
        path, instead="Write the checkpoint into a new sub-directory instead (e.g. ./checkpoint)."
    )
    if target is None:
        return
    kind = checkpoint_kind(target)
    if kind is None:
        raise OverwriteError(
            f"{target} is not empty and is not a tripod checkpoint; refusing to replace it (tripod never "
            "deletes files it did not write, even with overwrite). Choose a new or empty directory."
        )
    if kinds is not None and not _same_family(kind, kinds):
        raise OverwriteError(
            f"{target} holds a tripod {kind!r} checkpoint, not {' or '.join(map(repr, sorted(kinds)))}; "
            "refusing to replace it with another kind. Choose another directory."
        )
    foreign = _foreign_files(target)
    if foreign:
        shown = ", ".join(str(p.relative_to(target)) for p in foreign[:3])
        raise OverwriteError(
            f"{target} holds a tripod checkpoint plus files tripod did not write ({shown}); refusing to "
            "replace it. Move those files away or choose another directory."
        )
    if not overwrite:
        raise OverwriteError(
            f"{target} already holds a tripod {kind!r} checkpoint; pass overwrite=True (CLI: --overwrite) to "
            "replace it, or choose another directory."
        )


def _same_family(kind: str, kinds: Collection[str]) -> bool:
    if kind in kinds:
        return True
    return any(kind in family and family & set(kinds) for family in _KIND_FAMILIES)


def _foreign_files(root: Path) -> list[Path]:
    """Entries under ``root`` that tripod does not write into checkpoints (sorted)."""
    foreign = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            entry = Path(dirpath) / name
            special = entry.is_symlink() or not (entry.is_dir() or entry.is_file())
            if special or (entry.is_file() and not name.endswith(_TRIPOD_SUFFIXES)):
                foreign.append(entry)
        dirnames[:] = [d for d in dirnames if not (Path(dirpath) / d).is_symlink()]
    return sorted(foreign)


def find_leftovers(target: str | os.PathLike) -> tuple[list[Path], list[Path]]:
    """``(temp dirs, backups)`` left next to ``target`` by interrupted saves (``.<name>.tmp-*``, ``.<name>.old-*``)."""
    target = Path(target)
    if not target.parent.is_dir():
        return [], []
    prefix = f".{target.name}."
    found = [
        p for p in target.parent.iterdir() if p.name.startswith(prefix) and p.is_dir() and not p.is_symlink()
    ]
    tmps = sorted(p for p in found if p.name[len(prefix) :].startswith("tmp-"))
    olds = sorted((p for p in found if p.name[len(prefix) :].startswith("old-")), key=_mtime)
    return tmps, olds


def recover_leftovers(target: str | os.PathLike) -> Path | None:
    """Clean up after saves to ``target`` that were interrupted (killed, power loss).

    If ``target`` is missing but a backup ``.<name>.old-*`` survives (the process
    died between renaming the old checkpoint away and the new one into place), the
    newest backup is renamed back and a warning says so. Once ``target`` holds a
    complete checkpoint, the leftover temp dirs and backups of earlier saves are
    deleted; only these tripod-named directories next to ``target`` are touched.
    Call it only while no other process saves to ``target``.

    Returns:
        The restored path, or None when nothing was restored.
    """
    target = Path(target)
    tmps, olds = find_leftovers(target)
    restored = None
    if not target.exists() and olds:
        backup = olds.pop()
        os.rename(backup, target)
        restored = target
        warnings.warn(
            f"{target} was missing after an interrupted save; put the previous checkpoint back from "
            f"{backup.name}.",
            stacklevel=2,
        )
    if target.exists():
        for leftover in tmps + olds:
            shutil.rmtree(leftover, ignore_errors=True)
    return restored


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
