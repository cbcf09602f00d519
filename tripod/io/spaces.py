"""JSON encoding of gymnasium spaces, so checkpoints can store them without pickle.

``space_to_dict`` turns a space into plain JSON data and ``space_from_dict`` builds
it back; the round trip gives a space that is ``==`` (and :func:`spaces_equal`) to
the original. Supported: ``Box``, ``Discrete``, ``MultiDiscrete``, ``MultiBinary``,
``Dict`` and ``Tuple`` (nested freely). JSON has no infinity, so unbounded ``Box``
bounds are written as the strings ``"inf"`` / ``"-inf"``; bounds that are the same
in every element are written as one scalar.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

__all__ = ["SUPPORTED_SPACES", "space_from_dict", "space_to_dict", "spaces_equal"]

SUPPORTED_SPACES = ("Box", "Discrete", "MultiDiscrete", "MultiBinary", "Dict", "Tuple")

_INF_MARKERS = {"inf": np.inf, "-inf": -np.inf}


def space_to_dict(space: spaces.Space) -> dict[str, Any]:
    """Encode a gymnasium space as JSON-able data (dicts, lists, numbers, strings).

    Args:
        space: A ``Box``, ``Discrete``, ``MultiDiscrete``, ``MultiBinary``, ``Dict`` or
            ``Tuple`` space; ``Dict``/``Tuple`` may nest any of these.

    Returns:
        A dict with a ``"type"`` field naming the space class and its parameters.

    Raises:
        ValueError: For any other space class (including subclasses of the supported
            ones, which would not round trip as themselves).
    """
    kind = type(space)
    if kind is spaces.Box:
        return {
            "type": "Box",
            "shape": list(space.shape),
            "dtype": space.dtype.name,
            "low": _encode_bound(space.low, space.bounded_below, "-inf"),
            "high": _encode_bound(space.high, space.bounded_above, "inf"),
        }
    if kind is spaces.Discrete:
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start), "dtype": space.dtype.name}
    if kind is spaces.MultiDiscrete:
        return {
            "type": "MultiDiscrete",
            "nvec": space.nvec.tolist(),
            "start": space.start.tolist(),
            "dtype": space.dtype.name,
        }
    if kind is spaces.MultiBinary:
        n = space.n
        return {"type": "MultiBinary", "n": int(n) if np.ndim(n) == 0 else [int(i) for i in n]}
    if kind is spaces.Dict:
        items = []
        for key, sub in space.spaces.items():
            if isinstance(key, bool) or not isinstance(key, str | int):
                raise ValueError(
                    f"Dict space key {key!r} ({type(key).__name__}) cannot be stored; use str keys."
                )
            items.append([key, space_to_dict(sub)])
        return {"type": "Dict", "spaces": items}
    if kind is spaces.Tuple:
        return {"type": "Tuple", "spaces": [space_to_dict(sub) for sub in space.spaces]}
    raise ValueError(
        f"Cannot store a space of type {kind.__module__}.{kind.__qualname__} ({space!r}); "
        f"supported spaces are {', '.join(SUPPORTED_SPACES)}."
    )


def space_from_dict(data: dict[str, Any]) -> spaces.Space:
    """Build a gymnasium space from the output of :func:`space_to_dict`.

    Raises:
        ValueError: If ``data`` is malformed: not a dict, an unknown ``"type"``, a
            missing field, or parameters the space class rejects. The message says
            where in a nested space the problem is.
    """
    return _decode(data, "space")


def spaces_equal(a: spaces.Space, b: spaces.Space) -> bool:
    """Return whether two spaces are exactly the same.

    Stricter than ``==``: classes must match exactly, ``Box`` bounds must be equal
    (not merely close) and agree on which elements are unbounded, dtypes must match,
    and ``Dict`` keys must be in the same order (the order that flattening uses).
    Spaces of other classes fall back to ``==``.
    """
    if type(a) is not type(b):
        return False
    if type(a) is spaces.Box:
        return (
            a.shape == b.shape
            and a.dtype == b.dtype
            and np.array_equal(a.low, b.low)
            and np.array_equal(a.high, b.high)
            and np.array_equal(a.bounded_below, b.bounded_below)
            and np.array_equal(a.bounded_above, b.bounded_above)
        )
    if type(a) is spaces.Discrete:
        return int(a.n) == int(b.n) and int(a.start) == int(b.start) and a.dtype == b.dtype
    if type(a) is spaces.MultiDiscrete:
        return (
            a.dtype == b.dtype
            and a.nvec.shape == b.nvec.shape
            and np.array_equal(a.nvec, b.nvec)
            and np.array_equal(a.start, b.start)
        )
    if type(a) is spaces.Dict:
        return list(a.spaces) == list(b.spaces) and all(spaces_equal(a[k], b[k]) for k in a.spaces)
    if type(a) is spaces.Tuple:
        return len(a.spaces) == len(b.spaces) and all(map(spaces_equal, a.spaces, b.spaces))
    return bool(a == b)


def _encode_bound(values: np.ndarray, bounded: np.ndarray, marker: str) -> Any:
    """Encode Box bounds: unbounded elements become ``marker``; uniform bounds one scalar."""
    encoded = values.astype(object)
    if values.dtype.kind == "f":
        encoded[np.isposinf(values)] = "inf"
        encoded[np.isneginf(values)] = "-inf"
    else:
        encoded[~np.asarray(bounded, dtype=bool)] = marker
    flat = encoded.ravel()
    if flat.size > 0 and all(type(x) is type(flat[0]) and x == flat[0] for x in flat):
        return flat[0]
    return encoded.tolist()


def _decode_bound(value: Any, shape: tuple[int, ...], dtype: np.dtype, where: str) -> tuple[np.ndarray, Any]:
    """Decode one Box bound; returns the array and the mask of unbounded elements."""
    if isinstance(value, list):
        raw = np.array(value, dtype=object) if np.prod(shape) > 0 else np.empty(shape, dtype=object)
        if raw.shape != shape:
            raise ValueError(f"{where}: has shape {raw.shape}, but the Box shape is {shape}")
    elif isinstance(value, int | float | str):
        raw = np.full(shape, value, dtype=object)
    else:
        raise ValueError(f"{where}: expected a number, 'inf', '-inf' or a nested list, got {value!r}")
    is_marker = (
        np.vectorize(lambda x: isinstance(x, str), otypes=[bool])(raw) if raw.size else np.zeros(shape, bool)
    )
    for bad in raw[is_marker]:
        if bad not in _INF_MARKERS:
            raise ValueError(f"{where}: unknown value {bad!r}; only 'inf' and '-inf' are allowed as strings")
    if is_marker.any():
        if dtype.kind == "f":
            fill = dict(_INF_MARKERS)
        elif dtype.kind == "i":
            info = np.iinfo(dtype)
            fill = {"inf": int(info.max), "-inf": int(info.min)}
        else:
            raise ValueError(f"{where}: a Box of dtype {dtype.name} cannot have infinite bounds")
        raw[is_marker] = [fill[x] for x in raw[is_marker]]
    try:
        return raw.astype(dtype), is_marker
    except (TypeError, ValueError, OverflowError) as err:
        raise ValueError(f"{where}: values do not fit dtype {dtype.name}: {err}") from err


def _field(data: dict[str, Any], name: str, where: str) -> Any:
    if name not in data:
        raise ValueError(f"{where}: {data.get('type')} space is missing field {name!r} (has {sorted(data)})")
    return data[name]


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: expected an integer, got {value!r}")
    return value


def _dtype(data: dict[str, Any], where: str, default: str | None = None) -> np.dtype:
    name = data.get("dtype", default) if default is not None else _field(data, "dtype", where)
    try:
        return np.dtype(name)
    except TypeError as err:
        raise ValueError(f"{where}: unknown dtype {name!r}") from err


def _decode(data: Any, where: str) -> spaces.Space:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a dict describing a space, got {type(data).__name__}: {data!r}")
    kind = data.get("type")
    if kind not in SUPPORTED_SPACES:
        raise ValueError(
            f"{where}: unknown space type {kind!r}; supported types are {', '.join(SUPPORTED_SPACES)}"
        )
    try:
        if kind == "Box":
            shape = tuple(_int(d, f"{where}.shape") for d in _field(data, "shape", where))
            dtype = _dtype(data, where)
            low, low_inf = _decode_bound(_field(data, "low", where), shape, dtype, f"{where}.low")
            high, high_inf = _decode_bound(_field(data, "high", where), shape, dtype, f"{where}.high")
            box = spaces.Box(low=low, high=high, shape=shape, dtype=dtype)
            if dtype.kind == "i":
                # Integer bounds cannot hold inf; gymnasium records "unbounded" separately.
                box.bounded_below = ~low_inf
                box.bounded_above = ~high_inf
            return box
        if kind == "Discrete":
            dtype = _dtype(data, where, default="int64")
            start = _int(data.get("start", 0), f"{where}.start")
            return spaces.Discrete(_int(_field(data, "n", where), f"{where}.n"), start=start, dtype=dtype)
        if kind == "MultiDiscrete":
            dtype = _dtype(data, where, default="int64")
            nvec = np.array(_field(data, "nvec", where), dtype=dtype)
            start = np.array(data["start"], dtype=dtype) if "start" in data else None
            return spaces.MultiDiscrete(nvec, dtype=dtype, start=start)
        if kind == "MultiBinary":
            n = _field(data, "n", where)
            where_n = f"{where}.n"
            return spaces.MultiBinary(
                [_int(i, where_n) for i in n] if isinstance(n, list) else _int(n, where_n)
            )
        if kind == "Dict":
            items = _field(data, "spaces", where)
            if not isinstance(items, list) or not all(isinstance(p, list) and len(p) == 2 for p in items):
                raise ValueError(f"{where}: Dict 'spaces' must be a list of [key, space] pairs")
            return spaces.Dict([(k, _decode(v, f"{where}[{k!r}]")) for k, v in items])
        items = _field(data, "spaces", where)
        if not isinstance(items, list):
            raise ValueError(f"{where}: Tuple 'spaces' must be a list")
        return spaces.Tuple([_decode(v, f"{where}[{i}]") for i, v in enumerate(items)])
    except (TypeError, OverflowError) as err:
        raise ValueError(f"{where}: invalid {kind} description {data!r}: {err}") from err
    except ValueError as err:
        if str(err).startswith(where):
            raise
        raise ValueError(f"{where}: invalid {kind} description {data!r}: {err}") from err
