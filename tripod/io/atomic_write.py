"""Writing files and directories atomically: a failed or interrupted save never loses the old one.

:func:`atomic_directory` yields a temp directory and renames it into place (keeping the
previous directory until the new one is complete); :func:`write_json` and
:func:`atomic_write_file` do the same for one file (temp file, fsync, rename).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

from tripod.io.checkpoint_replace import (
    CheckpointSaveError,
    OverwriteError,
    check_replaceable,
    recover_leftovers,
)

__all__ = ["atomic_directory", "atomic_write_file", "swap_into_place", "write_json"]


@contextlib.contextmanager
def atomic_directory(
    path: str | os.PathLike, *, kinds: Collection[str] | None = None, overwrite: bool = True
) -> Iterator[Path]:
    """Write a directory atomically: yield a temp dir, then rename it to ``path``.

    The temp dir is created next to ``path`` (same filesystem, so renames are
    atomic). When the ``with`` body succeeds, its files are fsynced and the temp dir
    is renamed into place; an existing ``path`` is first renamed to a hidden backup
    that is deleted only after the new directory is in place. When the body raises,
    the temp dir is removed and ``path`` is left untouched.

    :func:`check_replaceable` (``kinds``, ``overwrite``) decides first what may be
    replaced: never a directory tripod did not write. :func:`recover_leftovers` puts
    back a backup whose checkpoint is missing (a save died between the renames) and
    removes the leftovers of interrupted saves once ``path`` is complete.

    Raises:
        OverwriteError: If ``path`` may not be replaced (see :func:`check_replaceable`).
        CheckpointSaveError: If the file system refuses a write (names path and OS error).
    """
    target = Path(os.path.abspath(path))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        recover_leftovers(target)
    except OSError as err:
        raise _save_error(target, err) from err
    check_replaceable(target, kinds=kinds, overwrite=overwrite)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    except OSError as err:
        raise _save_error(target, err) from err
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; checkpoints get normal permissions
        yield tmp
        _fsync_tree(tmp)
        swap_into_place(tmp, target)
    except OverwriteError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, CheckpointSaveError) and isinstance(err.__cause__, OSError):
            err = err.__cause__  # a nested save (the module inside an algorithm): name the outer path
        raise _save_error(target, err) from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    recover_leftovers(target)


def swap_into_place(tmp: Path, target: Path) -> None:
    """Rename the finished directory ``tmp`` to ``target``; a directory already at ``target`` is
    moved aside first, put back if the rename fails, and removed (with everything in it) after.
    Callers check beforehand that ``target`` may be replaced."""
    backup = None
    if target.exists():
        backup = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:12]}"
        os.rename(target, backup)
    try:
        os.rename(tmp, target)
    except BaseException:
        if backup is not None:
            os.rename(backup, target)
        raise
    _fsync(target.parent, is_dir=True)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def _save_error(target: Path, err: OSError) -> CheckpointSaveError:
    name = str(getattr(err, "filename", None) or "")
    internal = (
        not name or name == str(target) or ".tmp-" in name or ".old-" in name
    )  # tripod's own temp paths
    where = "" if internal else f" ({name})"
    reason = err.strerror or str(err) or type(err).__name__
    if isinstance(err, FileExistsError) and err.filename and Path(err.filename).is_file():
        reason, where = f"{err.filename} is a file, not a directory", ""
    return CheckpointSaveError(f"cannot write checkpoint {target}: {reason}{where}", target)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as strict JSON (no NaN/Infinity) atomically: temp file, fsync, rename.

    Raises:
        ValueError/TypeError: If ``obj`` is not JSON-serialisable (checked before
            anything is written).
    """
    text = json.dumps(obj, indent=2, allow_nan=False) + "\n"
    atomic_write_file(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_file(path: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp_path)`` on a temp file next to ``path``, fsync, then rename over ``path``."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp makes it private; match files written normally
    tmp = Path(tmp_name)
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync(path: Path, *, is_dir: bool = False) -> None:
    # Directories cannot be opened (Windows) or fsynced (some filesystems) everywhere; that is fine.
    with contextlib.suppress(OSError) if is_dir else contextlib.nullcontext():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_tree(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        for filename in filenames:
            _fsync(Path(dirpath) / filename)
        _fsync(Path(dirpath), is_dir=True)
