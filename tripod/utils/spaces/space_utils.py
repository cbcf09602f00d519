"""Batching and space-structure helpers (RLlib path: ``ray.rllib.utils.spaces.space_utils``).

A *struct* is a dict or tuple (or list) nesting leaves; dicts keep their keys, and leaves are
numbers or numpy arrays. :func:`batch` turns a list of equally shaped structs (one per batch item)
into one struct of stacked arrays, and :func:`unbatch` turns it back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["batch", "flatten_space", "get_base_struct_from_space", "unbatch"]


def _map(fn: Callable[..., Any], first: Any, *rest: Any) -> Any:
    """Apply ``fn`` to the leaves of equally structured ``first, *rest``; keep the structure."""
    if isinstance(first, dict):
        if any(not isinstance(r, dict) or r.keys() != first.keys() for r in rest):
            raise ValueError(f"batch(): items differ in structure: dict keys {sorted(first)} vs others.")
        return {k: _map(fn, first[k], *(r[k] for r in rest)) for k in first}
    if isinstance(first, (tuple, list)):
        if any(not isinstance(r, (tuple, list)) or len(r) != len(first) for r in rest):
            raise ValueError(f"batch(): items differ in structure: a sequence of {len(first)} vs others.")
        mapped = [_map(fn, *parts) for parts in zip(first, *rest)]
        return type(first)(*mapped) if hasattr(first, "_fields") else type(first)(mapped)
    return fn(first, *rest)


def _leaves(struct: Any) -> list[Any]:
    """The leaves of ``struct``, depth first, dict values in key order of the dict."""
    if isinstance(struct, dict):
        return [leaf for v in struct.values() for leaf in _leaves(v)]
    if isinstance(struct, (tuple, list)):
        return [leaf for v in struct for leaf in _leaves(v)]
    return [struct]


def _rebuild(struct: Any, leaves: Any) -> Any:
    """``struct``'s structure with the next leaves taken from the iterator ``leaves``."""
    if isinstance(struct, dict):
        return {k: _rebuild(v, leaves) for k, v in struct.items()}
    if isinstance(struct, (tuple, list)):
        parts = [_rebuild(v, leaves) for v in struct]
        return type(struct)(*parts) if hasattr(struct, "_fields") else type(struct)(parts)
    return next(leaves)


def batch(list_of_structs: list[Any], *, individual_items_already_have_batch_dim: bool = False) -> Any:
    """Stack a list of structs (one per batch item) into one struct of numpy batches.

    ``[{"a": 1, "b": (4, 7.0)}, {"a": 2, "b": (5, 8.0)}]`` becomes
    ``{"a": array([1, 2]), "b": (array([4, 5]), array([7.0, 8.0]))}``.

    Args:
        list_of_structs: equally structured items; a list of plain leaves gives one array.
        individual_items_already_have_batch_dim: the leaves already have a leading batch
            dimension: concatenate along it instead of stacking.

    Raises:
        ValueError: the list is empty, or its items differ in structure.
    """
    if not list_of_structs:
        raise ValueError("batch() got an empty list: there is nothing to batch.")
    if individual_items_already_have_batch_dim:
        return _map(lambda *xs: np.concatenate(xs, axis=0), *list_of_structs)
    return _map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *list_of_structs)


def unbatch(batches_struct: Any) -> list[Any]:
    """The inverse of :func:`batch`: one struct per batch item, from a struct of batches.

    ``{"a": array([1, 2]), "b": (array([4, 5]), array([7.0, 8.0]))}`` becomes
    ``[{"a": 1, "b": (4, 7.0)}, {"a": 2, "b": (5, 8.0)}]`` (leaves are the batches' rows).
    """
    leaves = _leaves(batches_struct)
    if not leaves:
        return []
    size = len(leaves[0])
    if any(len(leaf) != size for leaf in leaves):
        raise ValueError(f"unbatch(): batches differ in size: {[len(leaf) for leaf in leaves]}.")
    return [_rebuild(batches_struct, iter([leaf[i] for leaf in leaves])) for i in range(size)]


def flatten_space(space: gym.Space) -> list[gym.Space]:
    """The primitive spaces inside ``space``: Tuple and Dict spaces are opened (Dict keys sorted)."""
    if isinstance(space, gym.spaces.Tuple):
        return [leaf for sub in space.spaces for leaf in flatten_space(sub)]
    if isinstance(space, gym.spaces.Dict):
        return [leaf for key in sorted(space.spaces) for leaf in flatten_space(space.spaces[key])]
    return [space]


def get_base_struct_from_space(space: gym.Space) -> Any:
    """``space`` as plain Python: a Tuple space becomes a tuple, a Dict space a dict, others stay."""
    if isinstance(space, gym.spaces.Tuple):
        return tuple(get_base_struct_from_space(sub) for sub in space.spaces)
    if isinstance(space, gym.spaces.Dict):
        return {key: get_base_struct_from_space(sub) for key, sub in space.spaces.items()}
    return space
