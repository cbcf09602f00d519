"""A module's ``forward_inference`` as a graph of named tensors: :class:`InferenceGraph`.

Exporters (``torch.export``, ``torch.onnx``) trace a ``torch.nn.Module`` whose inputs and
outputs are plain tensors. :func:`build_graph` wraps a copy of an RLModule (eval mode) in
such a module: the observation's leaves (one ``obs`` input, or ``obs_<key>`` per leaf of a
Dict/Tuple space) and the recurrent state's leaves (``state_in_<key>``) go in; the tensors
``forward_inference`` returns come out under their column names (``action_dist_inputs``,
``actions``, ``vf_preds``, ``state_out_<key>``, ...). A distribution object returned as
``action_dist_inputs`` is exported as its logits (``concat(mean, log_std)`` for a Gaussian).
The structure is found by one eager call on example inputs, whose outputs are also the
reference the exported file is checked against.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import distributions as td

from tripod.core.columns import Columns
from tripod.core.distribution.distribution import Distribution
from tripod.data.space_leaves import describe_space, join_leaves

__all__ = ["ExportError", "InferenceGraph", "TensorSpec", "build_graph"]

#: Rows of the example batch: not 0 or 1, which torch.export would specialise on.
EXAMPLE_BATCH = 3


class ExportError(ValueError):
    """A module cannot be exported as asked; the message names the module and what to change."""


@dataclass(frozen=True)
class TensorSpec:
    """One named input or output: its shape (``"batch"`` for the dynamic dimension) and dtype."""

    name: str
    shape: tuple[Any, ...]
    dtype: str
    path: tuple[Any, ...] = ()  # where it sits in the module's batch or output (keys/indices)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass
class InferenceGraph:
    """A traceable wrapper of one module plus the description of its inputs and outputs.

    Attributes:
        wrapper: The ``torch.nn.Module`` to export (positional tensor inputs, tuple output).
        inputs / outputs: Named tensors in positional order.
        example: Example inputs (``EXAMPLE_BATCH`` rows).
        reference: ``forward_inference``'s outputs on ``example``, in output order (numpy).
        stateful: Whether the module is recurrent (``obs`` then has a time axis of length 1).
        initial_state: ``{state_in name: numpy array}`` for one sequence (no batch axis).
        dist_kinds: ``{output name: "logits" | "torch_categorical" | "torch_normal"}`` for
            ``action_dist_inputs`` outputs (how they were made).
    """

    module: Any
    wrapper: torch.nn.Module
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    example: tuple[torch.Tensor, ...]
    reference: list[np.ndarray]
    stateful: bool
    initial_state: dict[str, np.ndarray] = field(default_factory=dict)
    dist_kinds: dict[str, str] = field(default_factory=dict)

    def dynamic_shapes(self) -> tuple[dict[int, Any], ...]:
        """``dynamic_shapes`` for ``torch.export``/``torch.onnx.export``: dim 0 of every input.

        The wrapper takes its inputs as ``*leaves``: one parameter, whose spec is a tuple.
        """
        batch = torch.export.Dim("batch")
        return (tuple({0: batch} for _ in self.inputs),)


# ----------------------------------------------------------------------------- trees
def _flatten(tree: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    """``[(path, leaf)]`` of nested dicts/tuples/lists, in order."""
    if isinstance(tree, Mapping):
        return [item for key, sub in tree.items() for item in _flatten(sub, (*path, key))]
    if isinstance(tree, tuple | list):
        return [item for i, sub in enumerate(tree) for item in _flatten(sub, (*path, i))]
    return [(path, tree)]


def _get(tree: Any, path: tuple) -> Any:
    for key in path:
        tree = tree[key]
    return tree


def _rebuild(template: Any, leaves: list[Any], start: int = 0) -> tuple[Any, int]:
    """``template``'s nesting with its leaves replaced by ``leaves[start:]`` in order."""
    if isinstance(template, Mapping):
        out = {}
        for key, sub in template.items():
            out[key], start = _rebuild(sub, leaves, start)
        return out, start
    if isinstance(template, tuple | list):
        items = []
        for sub in template:
            item, start = _rebuild(sub, leaves, start)
            items.append(item)
        return type(template)(items), start
    return leaves[start], start + 1


def _name(prefix: str, path: tuple) -> str:
    return "_".join([prefix, *map(str, path)]) if path else prefix


# ----------------------------------------------------------------------------- inputs
def _obs_leaves(module: Any) -> tuple[tuple, list[tuple[tuple[int, ...], np.dtype]]]:
    space = module.observation_space
    if space is None:
        raise ExportError(
            f"{type(module).__name__} has no observation_space, so tripod cannot tell what its input "
            "looks like. Build the module with observation_space=... (RLModuleSpec does)."
        )
    leaves: list[tuple[tuple[int, ...], np.dtype]] = []
    try:
        node = describe_space(space, leaves)
    except TypeError:
        raise ExportError(
            f"{type(module).__name__}: cannot export a module whose observation space is {space!r}. "
            "Supported: Box, Discrete, MultiDiscrete, MultiBinary, and Dict/Tuple spaces of them "
            "(exported as one input per leaf, obs_<key>)."
        ) from None
    return node, leaves


def _example_leaf(shape: tuple[int, ...], dtype: np.dtype, rows: tuple[int, ...]) -> torch.Tensor:
    # float64 observations reach modules as float32 (tripod.data.batch.to_torch); keep that here.
    dtype = np.dtype(np.float32) if dtype == np.float64 else np.dtype(dtype)
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.floating):
        value = rng.standard_normal((*rows, *shape)).astype(dtype)
    else:
        value = np.zeros((*rows, *shape), dtype=dtype)
    return torch.from_numpy(value)


def _initial_state(module: Any) -> Any:
    state = module.get_initial_state()
    return {} if state is None else state


def _inputs(module: Any, stateful: bool) -> tuple[tuple, list[TensorSpec], list[torch.Tensor], Any]:
    """``(obs structure, input specs, example tensors, state template)``."""
    node, leaves = _obs_leaves(module)
    rows = (EXAMPLE_BATCH, 1) if stateful else (EXAMPLE_BATCH,)
    specs, example = [], []
    paths = [p for p, _ in _flatten(join_leaves(node, list(range(len(leaves)))))]
    for path, (shape, dtype) in zip(paths, leaves, strict=True):
        tensor = _example_leaf(shape, dtype, rows)
        dims = ("batch", *tensor.shape[1:])
        specs.append(
            TensorSpec(_name(Columns.OBS, path), dims, str(tensor.dtype).removeprefix("torch."), path)
        )
        example.append(tensor)
    template = None
    if stateful:
        template = _initial_state(module)
        for path, leaf in _flatten(template):
            leaf = torch.as_tensor(np.asarray(leaf.detach().cpu() if torch.is_tensor(leaf) else leaf))
            tensor = leaf.unsqueeze(0).expand(EXAMPLE_BATCH, *leaf.shape).clone()
            dims = ("batch", *leaf.shape)
            name = _name(Columns.STATE_IN, path)
            specs.append(TensorSpec(name, dims, str(tensor.dtype).removeprefix("torch."), path))
            example.append(tensor)
    return node, specs, example, template


# ----------------------------------------------------------------------------- outputs
def _dist_tensor(module: Any, value: Any) -> tuple[torch.Tensor, str]:
    """``(tensor, kind)`` for an ``action_dist_inputs`` value: logits, or a distribution's parameters."""
    if isinstance(value, torch.Tensor):
        return value, "logits"
    if isinstance(value, td.Categorical):
        return value.logits, "torch_categorical"
    if isinstance(value, td.Independent) and type(value.base_dist) is td.Normal:
        value = value.base_dist
    if type(value) is td.Normal:
        return torch.cat([value.loc, value.scale.log()], dim=-1), "torch_normal"
    if isinstance(value, Distribution) and isinstance(getattr(value, "logits", None), torch.Tensor):
        return value.logits, "logits"
    raise ExportError(
        f"{type(module).__name__}.forward_inference() returns action_dist_inputs as "
        f"{type(value).__name__}, which tripod cannot export. Return logits (a tensor), a "
        "torch.distributions Categorical or Normal, or the greedy actions under Columns.ACTIONS."
    )


def _output_leaves(module: Any, out: Any) -> list[tuple[str, tuple, Any, str | None]]:
    """``[(name, path, tensor, dist kind)]`` of what ``forward_inference`` returned."""
    if not isinstance(out, Mapping):
        raise ExportError(
            f"{type(module).__name__}.forward_inference() returned {type(out).__name__}, not a dict of "
            "Columns (e.g. {Columns.ACTION_DIST_INPUTS: logits})."
        )
    found = []
    for key, value in out.items():
        if key == Columns.ACTION_DIST_INPUTS:
            tensor, kind = _dist_tensor(module, value)
            found.append((str(key), (key,), tensor, kind))
            continue
        for path, leaf in _flatten(value, (key,)):
            if isinstance(leaf, torch.Tensor):
                found.append((_name(str(key), path[1:]), path, leaf, None))
    if not any(name == Columns.ACTION_DIST_INPUTS or name.startswith(Columns.ACTIONS) for name, *_ in found):
        raise ExportError(
            f"{type(module).__name__}.forward_inference() returned {sorted(map(str, out))}: no "
            "action_dist_inputs or actions tensor to export."
        )
    return found


class _Wrapper(torch.nn.Module):
    """``forward(*leaves)``: rebuild the batch, call ``forward_inference``, return the output tensors."""

    def __init__(self, module: Any, obs_node: tuple, num_obs: int, state_template: Any, outs: list) -> None:
        super().__init__()
        self.module = module
        self._obs_node, self._num_obs, self._state = obs_node, num_obs, state_template
        self._outs = [(path, kind) for _, path, _, kind in outs]

    def forward(self, *leaves: torch.Tensor) -> tuple[torch.Tensor, ...]:
        batch: dict[str, Any] = {Columns.OBS: join_leaves(self._obs_node, list(leaves[: self._num_obs]))}
        if self._state is not None:
            batch[Columns.STATE_IN] = _rebuild(self._state, list(leaves[self._num_obs :]))[0]
        out = self.module.forward_inference(batch)
        result = []
        for path, kind in self._outs:
            value = _get(out, path)
            result.append(value if kind is None else _dist_tensor(self.module, value)[0])
        return tuple(result)


def _fresh_copy(module: Any) -> Any:
    """A copy of ``module`` in eval mode with gradients off (the original is left as it is)."""
    try:
        module = copy.deepcopy(module)
    except Exception as err:  # noqa: BLE001 - any failure means: export from a copy is impossible
        raise ExportError(
            f"{type(module).__name__} cannot be copied for export ({type(err).__name__}: {err}); tripod "
            "exports a copy so that the module you pass is left untouched."
        ) from err
    module.train(False)
    for param in module.parameters():
        param.requires_grad_(False)
    return module


def _check_exportable(module: Any) -> None:
    if isinstance(module, Mapping) or hasattr(module, "_rl_modules"):
        ids = ", ".join(map(repr, module.keys())) if hasattr(module, "keys") else ""
        raise ExportError(
            f"{type(module).__name__} is a MultiRLModule: export its modules one by one "
            f"(module[module_id], ids: {ids}) or all at once with tripod.export.export_modules()."
        )
    if not isinstance(module, torch.nn.Module) or not hasattr(module, "forward_inference"):
        raise ExportError(
            f"{type(module).__name__} is not a TorchRLModule; only torch modules can be exported "
            "(a heuristic RLModule without networks has nothing to export)."
        )


def _eager_outputs(module: Any, wrapper: _Wrapper, specs: list[TensorSpec], example: list) -> list:
    """``forward_inference`` on the example inputs, as :func:`_output_leaves`."""
    try:
        with torch.no_grad():
            raw = module.forward_inference(_eager_batch(wrapper, example))
    except Exception as err:
        names = ", ".join(f"{s.name} {tuple(t.shape)}" for s, t in zip(specs, example, strict=True))
        raise ExportError(
            f"{type(module).__name__}.forward_inference() failed on an example batch ({names}): "
            f"{type(err).__name__}: {err}"
        ) from err
    outs = _output_leaves(module, raw)
    names = [spec.name for spec in specs] + [name for name, *_ in outs]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ExportError(
            f"{type(module).__name__}: the export's inputs and outputs would share the names {clashes} "
            "(nested keys are joined with '_'); rename the clashing keys of the batch or the output."
        )
    return outs


def build_graph(module: Any) -> InferenceGraph:
    """Wrap a copy of ``module``'s ``forward_inference`` for export (see the module docstring).

    Raises:
        ExportError: If ``module`` is not a single torch RLModule, its observation space cannot
            be fed as tensors, or its output holds nothing to act on.
    """
    _check_exportable(module)
    module = _fresh_copy(module)
    stateful = bool(module.is_stateful())
    node, specs, example, template = _inputs(module, stateful)
    num_obs = sum(not spec.name.startswith(Columns.STATE_IN) for spec in specs)
    outs = _eager_outputs(module, _Wrapper(module, node, num_obs, template, []), specs, example)
    outputs = [
        TensorSpec(name, ("batch", *t.shape[1:]), str(t.dtype).removeprefix("torch."), path)
        for name, path, t, _ in outs
    ]
    initial = {
        spec.name: t[0].numpy().copy() for spec, t in zip(specs, example, strict=True)
        if spec.name.startswith(Columns.STATE_IN)
    }  # fmt: skip
    return InferenceGraph(
        module=module,
        wrapper=_Wrapper(module, node, num_obs, template, outs).eval(),
        inputs=specs,
        outputs=outputs,
        example=tuple(example),
        reference=[t.detach().cpu().numpy() for _, _, t, _ in outs],
        stateful=stateful,
        initial_state=initial,
        dist_kinds={name: kind for name, _, _, kind in outs if kind is not None},
    )


def _eager_batch(wrapper: _Wrapper, example: list[torch.Tensor]) -> dict[str, Any]:
    batch: dict[str, Any] = {Columns.OBS: join_leaves(wrapper._obs_node, example[: wrapper._num_obs])}
    if wrapper._state is not None:
        batch[Columns.STATE_IN] = _rebuild(wrapper._state, example[wrapper._num_obs :])[0]
    return batch
