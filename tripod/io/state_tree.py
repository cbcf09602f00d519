"""Nested states as arrays plus JSON: the format of a checkpoint's named states.

:func:`flatten_state` splits a nested dict into array leaves (written to safetensors) and
a JSON description of everything else (structure, key types, each array's kind and
dtype); :func:`unflatten_state` rebuilds the same types from the two. No file I/O here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["FORMAT_VERSION", "flatten_state", "unflatten_state"]

#: The version of tripod's checkpoint format (state trees and ``metadata.json``).
FORMAT_VERSION = 1

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
