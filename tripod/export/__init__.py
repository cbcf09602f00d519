"""Export a module's ``forward_inference`` to run without tripod: ONNX, ``torch.export`` (``.pt2``).

- :func:`to_onnx` / :func:`to_pt2`: one module to one file, plus a JSON sidecar describing the
  spaces, the named inputs and outputs, and how to get the greedy action (docs/export.md).
- :func:`export_modules`: every module of a MultiRLModule (or a dict of modules) into a directory.
- :func:`export_checkpoint` / :func:`export_algorithm`: what ``tripod export`` runs, from an
  algorithm checkpoint or a built algorithm (also as a tripod module checkpoint, ``safetensors``).

ONNX export needs ``pip install 'tripod-rl[onnx]'`` (onnx and onnxscript, imported only when
exporting); ``.pt2`` needs nothing beyond torch.
"""

from tripod.export.checkpoint import export_algorithm, export_checkpoint
from tripod.export.directory import check_export_target, export_modules
from tripod.export.graph import ExportError
from tripod.export.writers import to_onnx, to_pt2

__all__ = [
    "ExportError",
    "check_export_target",
    "export_algorithm",
    "export_checkpoint",
    "export_modules",
    "to_onnx",
    "to_pt2",
]
