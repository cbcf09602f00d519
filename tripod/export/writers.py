"""Writing one module as an ONNX or ``torch.export`` file with its JSON sidecar.

:func:`to_onnx` and :func:`to_pt2` export ``forward_inference`` of a single module to a file
and write ``<file stem>.json`` (:mod:`tripod.export.sidecar`) next to it. ONNX needs the
``onnx`` and ``onnxscript`` packages (``pip install 'tripod-rl[onnx]'``), imported only here
and only when called. An existing file is replaced only when tripod wrote it: its sidecar
names it and records its SHA-256.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from tripod.export.graph import ExportError, InferenceGraph, build_graph
from tripod.export.sidecar import SIDECAR_VERSION, build_sidecar
from tripod.io.atomic_write import write_json

__all__ = ["ONNX_INSTALL_HINT", "to_onnx", "to_pt2", "write_model"]

ONNX_INSTALL_HINT = "pip install 'tripod-rl[onnx]'"
SUFFIXES = {"onnx": ".onnx", "pt2": ".pt2"}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def require_onnx() -> None:
    """Raise ``ImportError`` naming the extra to install when ONNX export cannot run here."""
    missing = []
    for name in ("onnx", "onnxscript"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        what = " and ".join(missing) + (" packages" if len(missing) > 1 else " package")
        raise ImportError(f"ONNX export needs the {what}, which torch.onnx.export uses: {ONNX_INSTALL_HINT}")


@contextlib.contextmanager
def _quiet_exporter():
    """Silence the exporters' progress lines and warnings about packages tripod does not use, and
    turn off ``torch.distributions`` argument validation while tracing."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    validate = torch.distributions.Distribution._validate_args
    try:
        # A module returning torch.distributions objects: their argument checks branch on tensor values.
        torch.distributions.Distribution.set_default_validate_args(False)
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        torch.distributions.Distribution.set_default_validate_args(validate)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _export_failed(graph: InferenceGraph, fmt: str, err: Exception) -> ExportError:
    while err.__cause__ is not None and isinstance(err.__cause__, Exception):
        err = err.__cause__  # the exporters wrap torch.export's error in their own
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return ExportError(
        f"{type(graph.module).__name__}.forward_inference() could not be exported to {fmt} with a dynamic "
        f"batch dimension: {type(err).__name__}: {first}. The forward must be traceable by torch.export: "
        "no Python branches on tensor values, no numpy inside, shapes computed from the batch rather "
        "than fixed to its size."
    )


def _program(graph: InferenceGraph) -> torch.export.ExportedProgram:
    try:
        with _quiet_exporter():
            return torch.export.export(graph.wrapper, graph.example, dynamic_shapes=graph.dynamic_shapes())
    except Exception as err:
        raise _export_failed(graph, "pt2", err) from err


def write_model(graph: InferenceGraph, fmt: str, path: Path) -> None:
    """Write ``graph`` as ``path`` in format ``fmt`` (``"onnx"`` or ``"pt2"``); no sidecar."""
    if fmt == "pt2":
        program = _program(graph)
        torch.export.save(program, str(path))
        return
    require_onnx()
    names_in = [spec.name for spec in graph.inputs]
    names_out = [spec.name for spec in graph.outputs]
    try:
        with _quiet_exporter():
            torch.onnx.export(
                graph.wrapper, graph.example, str(path), input_names=names_in, output_names=names_out,
                dynamic_shapes=graph.dynamic_shapes(), external_data=False, dynamo=True, verbose=False,
            )  # fmt: skip
    except ImportError as err:
        raise ImportError(f"ONNX export failed to import {err.name or err}: {ONNX_INSTALL_HINT}") from err
    except Exception as err:
        raise _export_failed(graph, "onnx", err) from err


def write_error(target: Path, err: OSError) -> ExportError:
    """The error for an export the file system refused (nothing was replaced)."""
    name = getattr(err, "filename", None)
    if name and Path(name).is_file() and isinstance(err, FileExistsError | NotADirectoryError):
        return ExportError(f"cannot write export {target}: {name} is a file, not a directory.")
    where = f" ({name})" if name else ""
    return ExportError(f"cannot write export {target}: {err.strerror or err}{where}.")


def _check_file_target(path: Path, sidecar: Path, overwrite: bool) -> None:
    """Refuse to replace ``path`` or ``sidecar`` unless tripod wrote both (and ``overwrite``)."""
    if not path.exists() and not sidecar.exists():
        return
    if path.is_symlink() or path.is_dir() or sidecar.is_symlink() or sidecar.is_dir():
        raise ExportError(f"{path} or {sidecar} is a directory or a link; refusing to replace it.")
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        ours = meta.get("tripod_export") == SIDECAR_VERSION and meta.get("file") == path.name
        ours = ours and (not path.exists() or meta.get("sha256") == sha256(path))
        other = meta.get("file") if meta.get("tripod_export") == SIDECAR_VERSION else None
    except (OSError, ValueError, AttributeError):
        ours, other = False, None
    if not ours and other and other != path.name:
        raise ExportError(
            f"{sidecar} is the sidecar of {other}, another export next to {path.name}; the two would share "
            "it. Choose another file name (e.g. one ending in _"
            + path.suffix.lstrip(".")
            + path.suffix
            + ")."
        )
    if not ours:
        raise ExportError(
            f"{path} or {sidecar} exists and was not written by tripod's export (or was changed since); "
            "refusing to replace it (tripod never overwrites files it did not write). Choose another path."
        )
    if not overwrite:
        raise ExportError(
            f"{path} already holds a tripod export; pass overwrite=True to replace it, or choose another path."
        )


def write_export(
    module: Any, fmt: str, path: Path, *, module_id: str | None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Export ``module`` to ``path`` and its sidecar (plus ``extra`` entries) to ``path.with_suffix('.json')``."""
    graph = build_graph(module)
    tmp_fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(tmp_fd)
    tmp = Path(tmp_name)
    try:
        write_model(graph, fmt, tmp)
        digest = sha256(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    sidecar = build_sidecar(graph.module, graph, fmt=fmt, file=path.name, module_id=module_id)
    sidecar.update(extra or {})
    sidecar["sha256"] = digest
    write_json(path.with_suffix(".json"), sidecar)
    return sidecar


def _export_file(module: Any, path: str | os.PathLike, fmt: str, overwrite: bool) -> Path:
    path = Path(os.path.abspath(path))
    if path.suffix != SUFFIXES[fmt]:
        raise ExportError(
            f"{path}: format {fmt!r} writes a {SUFFIXES[fmt]} file; name it e.g. policy{SUFFIXES[fmt]}."
        )
    if fmt == "onnx":
        require_onnx()
    sidecar = path.with_suffix(".json")
    _check_file_target(path, sidecar, overwrite)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_export(module, fmt, path, module_id=None)
    except OSError as err:  # a file where the directory goes, read-only, disk full
        raise write_error(path, err) from err
    return path


def to_onnx(module: Any, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Export ``module.forward_inference`` as an ONNX file, with a JSON sidecar next to it.

    Inputs are named ``obs`` (``obs_<key>`` per leaf of a Dict/Tuple observation) and
    ``state_in_<key>`` for recurrent modules; outputs are named after the columns the module
    returns (``action_dist_inputs`` or ``actions``, ``state_out_<key>``, ...). The batch
    dimension is dynamic. ``<path stem>.json`` describes the spaces, inputs and outputs and
    how to get the greedy action (docs/export.md). Needs ``pip install 'tripod-rl[onnx]'``.

    Args:
        module: A single TorchRLModule (for a MultiRLModule pass ``multi[module_id]``, or use
            :func:`tripod.export.export_modules`). A copy is exported in eval mode; ``module``
            itself is not changed.
        path: The ``.onnx`` file to write.
        overwrite: Replace a previous tripod export at ``path`` (never a file tripod did not write).

    Returns:
        The path written.

    Raises:
        ImportError: If onnx or onnxscript is not installed (names the extra).
        ExportError: If the module cannot be exported (names what to change), or ``path`` holds
            a file tripod did not write.
    """
    return _export_file(module, path, "onnx", overwrite)


def to_pt2(module: Any, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Export ``module.forward_inference`` with ``torch.export`` as a ``.pt2`` file, with a JSON sidecar.

    Load it with ``torch.export.load(path).module()`` and call it with the inputs in the order
    the sidecar lists them; it returns the outputs as a tuple in the sidecar's order. Arguments,
    naming and errors as for :func:`to_onnx` (no extra package needed).
    """
    return _export_file(module, path, "pt2", overwrite)
