"""What loading a checkpoint may touch: the trust model, safe paths and SHA-256 manifests.

**Trust model.** Loading never imports, calls or executes anything a checkpoint
names, except tripod's own classes, RLModule subclasses, gymnasium envs and env
creators that the loading process has already imported or registered, and
registered gymnasium env ids. :func:`resolve_class` and :func:`resolve_function`
implement the "never imports" part: a class is found only in a module that is
already imported (or in tripod itself) and only if it is a subclass of the kind
the field needs; a function only if the caller's ``accept`` test says it is one
the process registered. Anything else raises :class:`UntrustedCheckpointError`,
whose message names the reference and the two ways to load it anyway: pass the
object, or opt in with ``trusted=True`` (``--trust-checkpoint``).

**Integrity.** :func:`write_manifest` records the size and SHA-256 of every file
of a checkpoint in ``manifest.json``; :func:`check_checkpoint` refuses symlinks,
FIFOs and devices anywhere inside a checkpoint and verifies the manifest (bit rot
or an edit is an error naming the file). The manifest is not a signature: whoever
can edit a file can rewrite the manifest too. The trust model is what keeps code
from running.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tripod.io.atomic_write import write_json
from tripod.io.checkpoint_files import CheckpointError, existing_dir, read_json
from tripod.io.class_import import ClassImportError, current_class_path, import_class

__all__ = [
    "MANIFEST_FILE",
    "TRUST_HINT",
    "UntrustedCheckpointError",
    "check_checkpoint",
    "check_tree",
    "resolve_class",
    "resolve_function",
    "safe_child",
    "untrusted",
    "verify_manifest",
    "write_manifest",
]

MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1
#: The only kinds of file tripod reads from a checkpoint; unlisted ones of these kinds are refused.
_READ_SUFFIXES = (".json", ".safetensors")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_CHUNK = 1 << 20

TRUST_HINT = (
    "Loading a checkpoint never imports or calls code it names (docs/checkpoints.md#security). "
    "To load it anyway, pass the object yourself ({fix}), or, if you trust where this checkpoint "
    "comes from, opt in with trusted=True (command line: --trust-checkpoint)."
)


class UntrustedCheckpointError(CheckpointError):
    """A checkpoint names code that loading does not import or call without an explicit opt-in."""


def untrusted(source: str, what: str, ref: str, reason: str, fix: str) -> UntrustedCheckpointError:
    """The error for a refused reference: names it, says why, and gives both ways to load anyway."""
    return UntrustedCheckpointError(
        f"{source}: {what} {ref!r} was not loaded: {reason}. {TRUST_HINT.format(fix=fix)}"
    )


# --------------------------------------------------------------------------- classes and functions


def _is_tripod_module(name: str) -> bool:
    parts = name.split(".")
    return parts[0] == "tripod" and "__main__" not in parts


def _candidates(path: str) -> list[tuple[str, str]]:
    if ":" in path:
        module_name, _, qualname = path.partition(":")
        return [(module_name, qualname)]
    parts = path.split(".")
    return [(".".join(parts[:i]), ".".join(parts[i:])) for i in range(len(parts) - 1, 0, -1)]


def _find(path: str, source: str, what: str, fix: str) -> Any:
    """The object ``"pkg.mod.Qual.Name"`` names, without importing any module but tripod's own.

    Attributes are read from ``__dict__``s only, so no ``__getattr__`` hook runs.
    """
    path = current_class_path(path)
    if not isinstance(path, str) or not _DOTTED.fullmatch(path.replace(":", ".", 1)):
        if isinstance(path, str) and "<locals>" in path:
            import_class(path)  # raises the ClassImportError that explains local classes
        raise CheckpointError(
            f"{source}: {what} {path!r:.120} is not a valid import path; the checkpoint is damaged."
        )
    candidates = _candidates(path)
    for module_name, qualname in candidates:
        module = sys.modules.get(module_name)
        if module is None and _is_tripod_module(module_name):
            try:
                module = importlib.import_module(module_name)  # tripod's own code only
            except ImportError:
                module = None
        if module is None:
            continue
        obj: Any = module
        for attr in qualname.split("."):
            namespace = getattr(obj, "__dict__", None)
            if not isinstance(namespace, dict | type(type.__dict__)) or attr not in namespace:
                where = (
                    "the script run as __main__" if module_name == "__main__" else f"module {module_name!r}"
                )
                raise ClassImportError(
                    f"{source}: {what} {path!r} not found: {where} has no attribute {attr!r}. "
                    f"Pass it when loading ({fix}); or move it into an importable module."
                )
            obj = namespace[attr]
        return obj
    top = candidates[-1][0]
    reason = f"module {top!r} is not imported in this process, and tripod does not import modules a checkpoint names"
    raise untrusted(source, what, path, reason, fix)


def resolve_class(
    path: str,
    bases: tuple[type, ...],
    *,
    source: str,
    what: str,
    fix: str,
    trusted: bool = False,
) -> type:
    """The class ``path`` names, if it is a subclass of one of ``bases`` loading may use.

    Untrusted (the default), the class must live in a module this process has
    already imported, or in tripod itself; nothing else is imported. Trusted,
    :func:`~tripod.io.checkpoint.import_class` imports its module. Either way the
    class must be a subclass of one of ``bases`` (an empty tuple accepts nothing
    untrusted and any class trusted).

    Args:
        path: ``"package.module.QualName"`` from the checkpoint.
        bases: The kinds of class the field holds (e.g. ``(RLModule,)``).
        source: The checkpoint path or file, for messages.
        what: What the reference is, for messages (e.g. ``"module class"``).
        fix: How to pass the object instead, e.g. ``"module_class=MyModule"``.
        trusted: Import the module if needed (``trusted=True`` / ``--trust-checkpoint``).

    Raises:
        UntrustedCheckpointError: The module is not imported, or the class is not of a kind allowed.
        ClassImportError: The module is imported but lacks the class, or (trusted) cannot be imported.
        CheckpointError: ``path`` is not an import path.
    """
    if trusted:
        if not isinstance(path, str):
            raise CheckpointError(
                f"{source}: {what} {path!r:.120} is not an import path; the checkpoint is damaged."
            )
        try:
            cls = import_class(path)
        except ClassImportError as err:
            raise ClassImportError(f"{source}: {err}") from err
        if bases and not _subclass_of(cls, bases):
            raise CheckpointError(f"{source}: {what} {path!r} is not a subclass of {_names(bases)}.")
        return cls
    obj = _find(path, source, what, fix)
    if not (bases and isinstance(obj, type) and _subclass_of(obj, bases)):
        kind = "a class" if isinstance(obj, type) else f"a {type(obj).__name__}, not a class"
        needed = f"a subclass of {_names(bases)}" if bases else "a class allowed here (none is)"
        raise untrusted(source, what, path, f"it is {kind}, and only {needed} is loaded", fix)
    return obj


def resolve_function(
    ref: Any,
    accept: Callable[[Any], bool],
    *,
    source: str,
    what: str,
    fix: str,
    trusted: bool = False,
    allowed: str = "a function this process registered",
) -> Any:
    """The function ``ref`` (``{"module": ..., "qualname": ...}``) names, if ``accept(function)``.

    Untrusted, the module must already be imported and ``accept`` (e.g. "is a
    registered env creator") decides; being importable is never enough
    (``subprocess.run`` is importable). Trusted, the module is imported and any
    callable is returned.

    Raises:
        UntrustedCheckpointError: The function is not one ``accept`` allows, or its module is not imported.
        CheckpointError: ``ref`` is malformed, or (trusted) cannot be imported.
    """
    if not (
        isinstance(ref, dict) and isinstance(ref.get("module"), str) and isinstance(ref.get("qualname"), str)
    ):
        raise CheckpointError(
            f"{source}: {what} {ref!r:.120} is not a function reference; the checkpoint is damaged."
        )
    path = f"{ref['module']}:{ref['qualname']}"
    if trusted:
        try:
            obj: Any = importlib.import_module(ref["module"])
            for part in ref["qualname"].split("."):
                obj = getattr(obj, part)
        except Exception as err:
            raise CheckpointError(
                f"{source}: {what} {path!r} cannot be imported ({type(err).__name__}: {err}). "
                f"Pass it when loading ({fix})."
            ) from err
        if not callable(obj):
            raise CheckpointError(f"{source}: {what} {path!r} is not callable.")
        return obj
    obj = _find(path, source, what, fix)
    if not (callable(obj) and not isinstance(obj, type) and accept(obj)):
        raise untrusted(source, what, path, f"only {allowed} is called", fix)
    return obj


def _subclass_of(cls: type, bases: tuple[type, ...]) -> bool:
    mro = type.__dict__["__mro__"].__get__(cls)  # no metaclass hooks
    return any(base in mro for base in bases)


def _names(bases: tuple[type, ...]) -> str:
    return " or ".join(b.__name__ for b in bases)


# --------------------------------------------------------------------------- paths


def safe_child(root: str | os.PathLike, name: Any, *, what: str = "sub-directory") -> str:
    """``root/name`` for a single path component ``name`` read from a checkpoint.

    Raises:
        CheckpointError: ``name`` is not a plain name (empty, ``.``/``..``, a separator, absolute).
    """
    bad = (
        not isinstance(name, str)
        or name in ("", ".", "..")
        or any(c in name for c in "/\\\0")
        or os.path.isabs(name)
        or (os.altsep is not None and os.altsep in name)
    )
    if bad:
        raise CheckpointError(
            f"{root}: metadata.json names {what} {name!r:.120}, which is not a plain name inside the "
            "checkpoint (paths out of the checkpoint, like '..' or absolute paths, are refused); the "
            "checkpoint is damaged or was tampered with."
        )
    return os.path.join(os.fspath(root), name)


def check_tree(directory: str | os.PathLike) -> None:
    """Refuse symlinks, FIFOs, sockets and devices anywhere inside a checkpoint directory.

    The tree is walked with ``lstat`` (links are never followed). ``directory``
    itself may be a link: the caller chose it.

    Raises:
        CheckpointError: Naming the first such entry.
    """
    pending = [os.fspath(directory)]
    while pending:
        current = pending.pop()
        try:
            names = sorted(os.listdir(current))
        except OSError as err:
            raise CheckpointError(
                f"cannot list checkpoint directory {current}: {err.strerror or err}"
            ) from err
        for name in names:
            entry = os.path.join(current, name)
            try:
                mode = os.lstat(entry).st_mode
            except OSError as err:
                raise CheckpointError(f"cannot read {entry}: {err.strerror or err}") from err
            if stat.S_ISDIR(mode):
                pending.append(entry)
            elif not stat.S_ISREG(mode):
                kind = _kind_of(mode)
                raise CheckpointError(
                    f"{entry} is a {kind}; a checkpoint holds only regular files and directories, so it "
                    f"was not loaded (a {kind} could lead outside the checkpoint or block reading). "
                    "Replace it with the file itself."
                )


def _kind_of(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device file"
    return "special file"


# --------------------------------------------------------------------------- manifests


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _covered_files(root: str) -> list[str]:
    """Relative paths (``/``-separated) a manifest at ``root`` covers.

    Every file below ``root`` except ``root``'s own manifest; a sub-directory with its
    own manifest contributes only that manifest (which covers the rest of it).
    """
    out: list[str] = []
    pending = [""]
    while pending:
        rel = pending.pop()
        here = os.path.join(root, rel) if rel else root
        for name in sorted(os.listdir(here)):
            child_rel = f"{rel}/{name}" if rel else name
            child = os.path.join(here, name)
            if os.path.isdir(child) and not os.path.islink(child):
                if os.path.isfile(os.path.join(child, MANIFEST_FILE)):
                    out.append(f"{child_rel}/{MANIFEST_FILE}")
                else:
                    pending.append(child_rel)
            elif child_rel != MANIFEST_FILE:
                out.append(child_rel)
    return sorted(out)


def write_manifest(directory: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Record the size and SHA-256 of every file of a checkpoint being written in ``manifest.json``.

    Call it last, after every other file (``metadata.json`` included) is written;
    sub-directories that already hold a manifest (written first) are covered
    through it. Returns ``{relative_path: {"sha256": ..., "size": ...}}``.
    """
    root = os.fspath(directory)
    files = {}
    for rel in _covered_files(root):
        path = os.path.join(root, *rel.split("/"))
        files[rel] = {"sha256": _sha256(path), "size": os.path.getsize(path)}
    write_json(os.path.join(root, MANIFEST_FILE), {"format_version": MANIFEST_VERSION, "files": files})
    return files


def verify_manifest(directory: str | os.PathLike) -> bool:
    """Check the files of a checkpoint against its ``manifest.json`` (and nested manifests).

    A checkpoint without a manifest (written before tripod recorded them) passes
    unchecked: returns False. Files the manifest lists but that are missing are left
    to the loader, which says so when it needs them (e.g. a deleted replay buffer).
    Files it does not list are ignored, except ``.json`` and ``.safetensors`` files
    (the only kinds tripod reads), which are refused.

    Raises:
        CheckpointError: A file's size or SHA-256 differs from the recorded one (bit
            rot, a partial copy or an edit), the manifest is malformed or lists a path
            out of the checkpoint, or a ``.json``/``.safetensors`` file is not listed.
    """
    root = os.fspath(directory)
    manifest_path = os.path.join(root, MANIFEST_FILE)
    if not os.path.lexists(manifest_path):
        return False
    recorded = _read_manifest(manifest_path)
    for rel, entry in recorded.items():
        path = os.path.join(root, *rel.split("/"))
        if not os.path.lexists(path):
            continue
        _check_file(path, entry, manifest_path)
        if rel.endswith(f"/{MANIFEST_FILE}"):
            verify_manifest(os.path.dirname(path))
    extra = [rel for rel in _covered_files(root) if rel not in recorded and rel.endswith(_READ_SUFFIXES)]
    if extra:
        raise CheckpointError(
            f"{os.path.join(root, extra[0])} is not listed in {manifest_path}: it was added after the "
            "checkpoint was saved, so it was not loaded. Remove it (tripod reads only the files it wrote)."
        )
    return True


def _check_file(path: str, entry: dict[str, Any], manifest_path: str) -> None:
    if not os.path.isfile(path):
        raise CheckpointError(f"{path} is damaged: {manifest_path} records a file there, not a directory.")
    size = os.path.getsize(path)
    if size != entry["size"]:
        how = "truncated" if size < entry["size"] else "grown"
        raise CheckpointError(
            f"{path} is damaged ({how}): it has {size} bytes, but {entry['size']} were saved (an interrupted "
            "copy or an edit). It was not loaded; use another copy of the checkpoint or an older checkpoint."
        )
    if _sha256(path) != entry["sha256"]:
        raise CheckpointError(
            f"{path} is damaged: its SHA-256 does not match the one recorded in {manifest_path} when "
            "the checkpoint was saved (bit rot, an incomplete copy or an edit). It was not loaded; "
            "use another copy of the checkpoint or an older checkpoint."
        )


def _read_manifest(path: str) -> dict[str, dict[str, Any]]:
    data = read_json(path)
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        raise CheckpointError(f"{path} is damaged: it must hold an object with a 'files' table.")
    for rel, entry in files.items():
        parts = rel.split("/")
        if (
            not rel
            or os.path.isabs(rel)
            or any(p in ("", ".", "..") or "\\" in p or "\0" in p for p in parts)
        ):
            raise CheckpointError(
                f"{path} lists {rel!r:.120}, a path out of the checkpoint; the checkpoint is damaged or "
                "was tampered with."
            )
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        size = entry.get("size") if isinstance(entry, dict) else None
        if not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)) or not (
            type(size) is int and size >= 0
        ):
            raise CheckpointError(f"{path} is damaged: its entry for {rel!r:.120} is {entry!r:.120}.")
    return files


def check_checkpoint(directory: str | os.PathLike) -> bool:
    """:func:`check_tree` then :func:`verify_manifest`: run before reading anything else of a checkpoint.

    Returns whether a manifest was verified (False for checkpoints written before manifests).

    Raises:
        CheckpointError: The directory is missing, holds a link or special file, or a file is damaged.
    """
    path: Path = existing_dir(directory)
    check_tree(path)
    return verify_manifest(path)
