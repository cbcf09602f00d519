"""Checkpoint I/O without pickle: tensors in safetensors, everything else in JSON.

A checkpoint is a directory written through :func:`atomic_directory` (a temp dir
renamed into place, so an old checkpoint is never lost to a failed save). It holds
``metadata.json`` (:func:`write_metadata`) and any number of named states, each a
``<name>.safetensors`` + ``<name>.json`` pair (:func:`save_state`). A state is a
nested dict whose array leaves go to safetensors and whose other leaves go to JSON;
:func:`load_state` rebuilds it with the same types. Nothing here ever unpickles:
files are read only by name and only with the JSON and safetensors parsers, and
every problem while loading is a :class:`CheckpointError` naming the path.

This module is the one import path for all of it; the code lives in one file per concern:

- :mod:`tripod.io.state_tree`: nested states as arrays + JSON (``flatten_state``, ``unflatten_state``);
- :mod:`tripod.io.atomic_write`: atomic files and directories (``atomic_directory``, ``write_json``);
- :mod:`tripod.io.checkpoint_files`: ``metadata.json`` and named states, written and read;
- :mod:`tripod.io.class_import`: class paths recorded in checkpoints (``class_path``, ``import_class``);
- :mod:`tripod.io.checkpoint_replace`: what a save may replace, and recovery of interrupted saves;
- :mod:`tripod.io.checkpoint_trust`: the trust model (manifests, which classes may be loaded).
"""

from __future__ import annotations

from tripod.io.atomic_write import atomic_directory, write_json
from tripod.io.checkpoint_files import (
    METADATA_FILE,
    CheckpointError,
    load_state,
    read_json,
    read_metadata,
    save_state,
    write_metadata,
)
from tripod.io.checkpoint_replace import (
    CheckpointSaveError,
    OverwriteError,
    check_replaceable,
    checkpoint_kind,
    find_leftovers,
    recover_leftovers,
)
from tripod.io.class_import import ClassImportError, class_path, import_class
from tripod.io.state_tree import FORMAT_VERSION, flatten_state, unflatten_state

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
