"""Flatten (nested) gymnasium spaces and batch entries into leaf arrays, and back.

A replay buffer keeps one preallocated array per leaf of an observation space (a
``Dict`` of a ``Box`` and a ``Tuple`` of two spaces has three leaves). A space is
described once by :func:`describe_space` as a structure tree whose nodes are
``("leaf", i)``, ``("dict", [(key, node), ...])`` or ``("tuple", [node, ...])``
plus a list of ``(shape, dtype)`` per leaf; :func:`split_leaves` then turns a
batch entry into its leaf arrays and :func:`join_leaves` rebuilds the nesting.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

__all__ = ["LEAF", "describe_space", "join_leaves", "split_leaves"]

LEAF = ("leaf", 0)
"""The structure of a plain (non-nested) entry with a single leaf."""

_ARRAY_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


def describe_space(
    space: spaces.Space, leaves: list[tuple[tuple[int, ...], np.dtype]], what: str = "observation"
) -> tuple:
    """The structure tree of ``space``; appends each leaf's ``(shape, dtype)`` to ``leaves``.

    Args:
        space: A ``Box``, ``Discrete``, ``MultiDiscrete`` or ``MultiBinary`` space, or
            ``Dict``/``Tuple`` spaces nesting them.
        leaves: List to append the leaves' shapes and dtypes to (in leaf order).
        what: Word for the space in error messages (``"observation"``, ``"action"``).

    Raises:
        TypeError: For any other space.
    """
    if isinstance(space, spaces.Dict):
        return ("dict", [(key, describe_space(sub, leaves, what)) for key, sub in space.spaces.items()])
    if isinstance(space, spaces.Tuple):
        return ("tuple", [describe_space(sub, leaves, what) for sub in space.spaces])
    if isinstance(space, _ARRAY_SPACES):
        leaves.append((tuple(space.shape), np.dtype(space.dtype)))
        return ("leaf", len(leaves) - 1)
    raise TypeError(
        f"cannot store {what} space {space!r}; supported are Box, Discrete, MultiDiscrete, "
        "MultiBinary and Dict/Tuple spaces nesting them."
    )


def split_leaves(node: tuple, value: Any, where: str) -> list[np.ndarray]:
    """The leaf arrays of a (nested) batch entry, in leaf order.

    Args:
        node: Structure tree from :func:`describe_space`.
        value: An array, or dicts/tuples of arrays matching ``node``.
        where: Name of the entry, for error messages.

    Raises:
        ValueError: If ``value`` does not have the nesting of ``node``.
    """
    kind, content = node
    if kind == "leaf":
        return [np.asarray(value)]
    try:
        if kind == "dict":
            parts = [(f"{where}[{key!r}]", sub, value[key]) for key, sub in content]
        else:
            parts = [(f"{where}[{i}]", sub, value[i]) for i, sub in enumerate(content)]
    except (KeyError, IndexError, TypeError) as err:
        raise ValueError(f"batch entry {where} does not match the {kind} space: {err!r}") from err
    return [leaf for name, sub, part in parts for leaf in split_leaves(sub, part, name)]


def join_leaves(node: tuple, leaves: list[np.ndarray]) -> Any:
    """Rebuild the nested structure of ``node`` from leaf arrays (inverse of :func:`split_leaves`)."""
    kind, content = node
    if kind == "leaf":
        return leaves[content]
    if kind == "dict":
        return {key: join_leaves(sub, leaves) for key, sub in content}
    return tuple(join_leaves(sub, leaves) for sub in content)
