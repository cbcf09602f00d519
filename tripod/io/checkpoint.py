"""Checkpoint I/O without pickle: tensors in safetensors, everything else in JSON.

A checkpoint is a directory written through :func:`atomic_directory` (a temp dir
renamed into place, so an old checkpoint is never lost to a failed save). It holds
``metadata.json`` (:func:`write_metadata`) and any number of named states, each a
``<name>.safetensors`` + ``<name>.json`` pair (:func:`save_state`). A state is a
nested dict whose array leaves go to safetensors and whose other leaves go to JSON;
:func:`load_state` rebuilds it with the same types. Nothing here ever unpickles:
files are read only by name and only with the JSON and safetensors parsers, and
every problem while loading is a :class:`CheckpointError` naming the path.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import platform
import shutil
import tempfile
import uuid
from collections.abc import Collection, Iterator, Mapping
from importlib import metadata as _pkg_metadata
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy
import torch

from tripod.io.checkpoint_replace import (
    CheckpointSaveError,
    OverwriteError,
    check_replaceable,
    checkpoint_kind,
    find_leftovers,
    recover_leftovers,
)

__all__ = [
    "FORMAT_VERSION",
    "METADATA_FILE",
    "CheckpointError",
    "CheckpointSaveError",
    "ClassImportError",
    "OverwriteError",
    "atomic_directory",
    "check_replaceable",
    "checkpoint_kind",
    "class_path",
    "find_leftovers",
    "flatten_state",
    "import_class",
    "load_state",
    "read_json",
    "read_metadata",
    "recover_leftovers",
    "save_state",
    "unflatten_state",
    "write_json",
    "write_metadata",
]

FORMAT_VERSION = 1
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


class ClassImportError(CheckpointError, ImportError):
    """A class named in a checkpoint (``"module.QualName"``) cannot be imported."""


# --------------------------------------------------------------------------- state trees

# numpy dtypes that safetensors stores.
_STORABLE = {np.dtype(t) for t in (bool, np.uint8, np.int8, np.int16, np.uint16, np.int32, np.uint32)}
_STORABLE |= {np.dtype(t) for t in (np.int64, np.uint64, np.float16, np.float32, np.float64, np.complex64)}
# torch dtypes without a numpy equivalent are stored bit for bit as integers of the same width.
_BITCAST = {
    "bfloat16": torch.int16,
    **{f"float8_{s}": torch.uint8 for s in ("e4m3fn", "e5m2", "e4m3fnuz", "e5m2fnuz")},
}


def flatten_state(nested: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Split a nested state into arrays (for safetensors) and JSON metadata.

    ``nested`` is a dict (keys ``str`` or ``int``) whose values may be dicts, lists,
    tuples, torch tensors, numpy arrays, numpy scalars, or ``int``/``float``/``bool``/
    ``str``/``None``. Array leaves go to ``tensors`` under their key path joined with
    ``"/"``; the returned ``meta`` (JSON-able) records the structure, every key's
    type and every array leaf's kind and dtype, so :func:`unflatten_state` restores
    torch tensors as torch tensors (on the CPU), numpy as numpy, ``int`` keys as
    ``int``, tuples as tuples, and ``nan``/``inf`` floats. Other mappings come back
    as plain dicts. Arrays may share memory with the input.

    Raises:
        TypeError: For a leaf or key of another type, naming its key path.
    """
    if not isinstance(nested, Mapping):
        raise TypeError(f"flatten_state expects a dict, got {type(nested).__name__}")
    tensors: dict[str, np.ndarray] = {}
    return tensors, {"format_version": FORMAT_VERSION, "tree": _encode(nested, (), tensors)}


def unflatten_state(tensors: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> dict[str, Any]:
    """Rebuild the nested state from the output of :func:`flatten_state`.

    Raises:
        ValueError: If ``meta`` is malformed or does not match ``tensors`` (a missing
            array, or a dtype or shape other than recorded).
    """
    if not isinstance(meta, Mapping) or "tree" not in meta:
        raise ValueError("state metadata must be a dict with a 'tree' entry")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"state format version {meta.get('format_version')!r} is not {FORMAT_VERSION}")
    if not (isinstance(meta["tree"], dict) and "dict" in meta["tree"]):
        raise ValueError("state metadata 'tree' must describe a dict")
    return _decode(meta["tree"], tensors, "")


def _encode(value: Any, path: tuple, tensors: dict[str, np.ndarray]) -> Any:
    where = "/".join(map(str, path)) or "<root>"
    if isinstance(value, np.generic):  # before float: np.float64 subclasses float
        return _encode_array(np.asarray(value), "numpy_scalar", value.dtype.name, path, tensors)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().resolve_conj().resolve_neg().contiguous()
        dtype = str(t.dtype).removeprefix("torch.")
        try:
            arr = (t.view(_BITCAST[dtype]) if dtype in _BITCAST else t).numpy()
        except (TypeError, RuntimeError) as err:
            raise TypeError(f"cannot store torch tensor of dtype {dtype} at {where!r}: {err}") from err
        return _encode_array(arr, "torch", dtype, path, tensors)
    if isinstance(value, np.ndarray):
        arr = value if value.flags.c_contiguous else value.copy(order="C")
        return _encode_array(arr, "numpy", arr.dtype.name, path, tensors)
    if isinstance(value, Mapping):
        items = []
        for key, item in value.items():
            if isinstance(key, bool) or not isinstance(key, str | int):
                raise TypeError(f"key {key!r} ({type(key).__name__}) at {where!r}: keys must be str or int")
            items.append([key, _encode(item, (*path, key), tensors)])
        return {"dict": items}
    if isinstance(value, list | tuple):
        items = [_encode(item, (*path, i), tensors) for i, item in enumerate(value)]
        return items if isinstance(value, list) else {"tuple": items}
    raise TypeError(
        f"cannot store a value of type {type(value).__name__} at {where!r}; allowed are dicts, lists, "
        "tuples, torch tensors, numpy arrays and scalars, int, float, bool, str and None"
    )


def _encode_array(arr: np.ndarray, lib: str, dtype: str, path: tuple, tensors: dict) -> dict[str, Any]:
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if arr.dtype not in _STORABLE:
        raise TypeError(f"cannot store an array of dtype {arr.dtype} at {'/'.join(map(str, path))!r}")
    base = "/".join(str(p).replace("%", "%25").replace("/", "%2F") for p in path)
    name, i = base, 1
    while name in tensors:  # e.g. keys 1 and "1" in one dict
        i += 1
        name = f"{base}#{i}"
    tensors[name] = arr
    return {"tensor": name, "lib": lib, "dtype": dtype, "shape": list(arr.shape)}


def _decode(node: Any, tensors: Mapping[str, np.ndarray], where: str) -> Any:
    if node is None or isinstance(node, bool | int | float | str):
        return node
    if isinstance(node, list):
        return [_decode(item, tensors, _join(where, i)) for i, item in enumerate(node)]
    if isinstance(node, dict) and isinstance(node.get("dict"), list):
        out = {}
        for pair in node["dict"]:
            if not (isinstance(pair, list) and len(pair) == 2) or type(pair[0]) not in (str, int):
                raise ValueError(f"bad dict entry at {where or '<root>'!r}: {pair!r:.80}")
            out[pair[0]] = _decode(pair[1], tensors, _join(where, pair[0]))
        return out
    if isinstance(node, dict) and isinstance(node.get("tuple"), list):
        return tuple(_decode(item, tensors, _join(where, i)) for i, item in enumerate(node["tuple"]))
    if isinstance(node, dict) and node.get("float") in ("inf", "-inf", "nan"):
        return float(node["float"])
    if isinstance(node, dict) and "tensor" in node:
        return _decode_array(node, tensors, where)
    raise ValueError(f"unrecognised entry at {where or '<root>'!r}: {node!r:.80}")


def _join(where: str, key: Any) -> str:
    return f"{where}/{key}" if where else str(key)


def _decode_array(node: dict[str, Any], tensors: Mapping[str, np.ndarray], where: str) -> Any:
    name, lib, dtype = node.get("tensor"), node.get("lib"), node.get("dtype")
    if name not in tensors:
        raise ValueError(f"array {name!r} for {where!r} is missing from the tensor file")
    arr = tensors[name]
    if list(arr.shape) != node.get("shape"):
        raise ValueError(f"array {name!r} has shape {list(arr.shape)}, expected {node.get('shape')}")
    if lib == "torch":
        value = torch.from_numpy(arr)
        if dtype in _BITCAST and value.dtype == _BITCAST[dtype]:
            value = value.view(getattr(torch, dtype))
        found = str(value.dtype).removeprefix("torch.")
    elif lib in ("numpy", "numpy_scalar"):
        value, found = (arr if lib == "numpy" else arr[()]), arr.dtype.name
    else:
        raise ValueError(f"unknown array kind {lib!r} for {where!r}")
    if found != dtype:
        raise ValueError(f"array {name!r} has dtype {found}, expected {dtype}")
    return value


# --------------------------------------------------------------------------- writing


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
        _swap_into_place(tmp, target)
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


def _swap_into_place(tmp: Path, target: Path) -> None:
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
    _atomic_write(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


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
    _atomic_write(directory / f"{name}.safetensors", lambda tmp: safetensors.numpy.save_file(tensors, tmp))
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


# --------------------------------------------------------------------------- reading


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
    directory = _existing_dir(directory)
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
    directory = _existing_dir(directory)
    meta = read_json(directory / f"{name}.json")
    tensors = _read_safetensors(directory / f"{name}.safetensors")
    try:
        return unflatten_state(tensors, meta)
    except (ValueError, TypeError, KeyError, RuntimeError) as err:  # RuntimeError: also RecursionError
        raise CheckpointError(f"{directory}: state {name!r} is inconsistent or corrupt: {err}") from err


# --------------------------------------------------------------------------- classes


def class_path(cls: type) -> str:
    """Return ``"module.QualName"`` for a class, the form :func:`import_class` reads."""
    if not isinstance(cls, type):
        raise TypeError(f"class_path expects a class, got {type(cls).__name__}: {cls!r}")
    return f"{cls.__module__}.{cls.__qualname__}"


def import_class(path: str) -> type:
    """Import a class from ``"package.module.QualName"`` (or ``"package.module:QualName"``).

    Raises:
        ClassImportError: (a :class:`CheckpointError` and an ``ImportError``) if the
            module cannot be imported, has no such attribute, or the attribute is not
            a class. Classes defined in a script run as ``__main__`` or inside a
            function cannot be found again; the message says to move the class into
            an importable module or to pass ``module_class`` explicitly when loading.
    """
    fix = "Move the class into an importable module, or pass module_class=... explicitly when loading."
    if not isinstance(path, str) or not path.strip(". :"):
        raise ClassImportError(f"invalid class path {path!r}; expected 'package.module.ClassName'")
    if "<locals>" in path:
        raise ClassImportError(f"class {path!r} was defined inside a function and cannot be imported. {fix}")
    if ":" in path:
        module_name, _, qualname = path.partition(":")
        candidates = [(module_name, qualname)]
    else:
        parts = path.split(".")
        candidates = [(".".join(parts[:i]), ".".join(parts[i:])) for i in range(len(parts) - 1, 0, -1)]
    for module_name, qualname in candidates:
        try:
            obj: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name and (module_name == err.name or module_name.startswith(err.name + ".")):
                continue  # this prefix is not a module; try a shorter one
            raise ClassImportError(f"importing {module_name!r} for class {path!r} failed: {err}") from err
        except Exception as err:
            raise ClassImportError(f"importing {module_name!r} for class {path!r} failed: {err!r}") from err
        for attr in qualname.split("."):
            if not hasattr(obj, attr):
                where = (
                    "the script run as __main__" if module_name == "__main__" else f"module {module_name!r}"
                )
                raise ClassImportError(f"class {path!r} not found: {where} has no attribute {attr!r}. {fix}")
            obj = getattr(obj, attr)
        if not isinstance(obj, type):
            raise ClassImportError(f"{path!r} is not a class but an object of type {type(obj).__name__}")
        return obj
    raise ClassImportError(f"cannot import class {path!r}: no module named {candidates[-1][0]!r}. {fix}")


# --------------------------------------------------------------------------- helpers


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name or name.startswith(".") or any(c in name for c in "/\\:"):
        raise ValueError(f"state name must be a plain file name without separators, got {name!r}")


def _existing_dir(directory: str | os.PathLike) -> Path:
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic_write(path: Path, write: Any) -> None:
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


def _library_versions() -> dict[str, Any]:
    import tripod

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
