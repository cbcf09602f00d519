"""The JSON sidecar of an exported module: its spaces, inputs, outputs and how to act on them.

Written next to each exported file as ``<module_id>.json`` (or ``<file stem>.json``), so a
program without tripod can feed the inputs and turn the outputs into env actions. The schema
(``tripod_export: 1``) is documented in ``docs/export.md``; :func:`greedy_rule` says how the
greedy action follows from the outputs, mirroring what tripod's runners do at evaluation
(the distribution's deterministic action, the ``Discrete(start=...)`` offset, clipping of
bounded ``Box`` actions).
"""

from __future__ import annotations

import contextlib
import platform
from importlib import metadata
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import tripod
from tripod.core.columns import Columns
from tripod.core.distribution.torch.torch_distribution import (
    TorchCategorical,
    TorchDiagGaussian,
    TorchMultiCategorical,
    TorchSquashedGaussian,
)
from tripod.export.graph import InferenceGraph
from tripod.io.spaces import space_to_dict

__all__ = ["SIDECAR_VERSION", "build_sidecar", "greedy_rule"]

SIDECAR_VERSION = 1


def _space(space: Any) -> Any:
    if space is None:
        return None
    try:
        return space_to_dict(space)
    except ValueError:
        return {"type": type(space).__name__, "repr": repr(space)}


def _bound(values: np.ndarray) -> Any:
    flat = np.asarray(values, dtype=np.float64)
    if flat.size and np.all(flat == flat.flat[0]):
        return float(flat.flat[0])
    return flat.tolist()


def _clip(space: Any) -> dict[str, Any] | None:
    if isinstance(space, gym.spaces.Box) and space.is_bounded("both"):
        return {"low": _bound(space.low), "high": _bound(space.high)}
    return None


def _offset(space: Any) -> Any:
    start = getattr(space, "start", None)
    if isinstance(space, gym.spaces.Discrete | gym.spaces.MultiDiscrete) and np.any(start):
        return np.asarray(start).tolist()
    return None


def _dist_rule(module: Any, kind: str) -> dict[str, Any]:
    """The distribution behind ``action_dist_inputs`` and its greedy action."""
    if kind == "torch_categorical":
        return {"distribution": "Categorical", "greedy": "argmax"}
    if kind == "torch_normal":
        return {"distribution": "DiagGaussian", "greedy": "mean"}
    dist_cls = module.get_inference_action_dist_cls()
    base, kwargs = getattr(dist_cls, "dist_cls", dist_cls), dict(getattr(dist_cls, "kwargs", {}) or {})
    if isinstance(base, type) and issubclass(base, TorchMultiCategorical):
        return {"distribution": "MultiCategorical", "greedy": "argmax_per_slice",
                "input_lens": [int(n) for n in kwargs.get("input_lens", ())]}  # fmt: skip
    if isinstance(base, type) and issubclass(base, TorchCategorical):
        return {"distribution": "Categorical", "greedy": "argmax"}
    if isinstance(base, type) and issubclass(base, TorchSquashedGaussian):
        low, high = kwargs.get("low", -1.0), kwargs.get("high", 1.0)
        low = low.tolist() if isinstance(low, torch.Tensor) else float(low)
        high = high.tolist() if isinstance(high, torch.Tensor) else float(high)
        return {"distribution": "SquashedGaussian", "greedy": "squashed_mean", "low": low, "high": high}
    if isinstance(base, type) and issubclass(base, TorchDiagGaussian):
        return {"distribution": "DiagGaussian", "greedy": "mean"}
    name = getattr(base, "__qualname__", type(base).__name__)
    return {"distribution": name, "greedy": "custom"}


_GREEDY_TEXT = {
    "argmax": "greedy action = argmax over the last axis",
    "argmax_per_slice": "greedy action = argmax of each slice of input_lens along the last axis",
    "mean": "greedy action = mean = the first half of the last axis (reshaped to the action shape)",
    "squashed_mean": "greedy action = low + (tanh(mean) + 1) / 2 * (high - low), mean = the first half "
    "of the last axis",
    "custom": "greedy action = <distribution>.from_logits(x).to_deterministic().sample() in tripod",
}
_DIST_TEXT = {
    "Categorical": "logits of a Categorical over {space}",
    "MultiCategorical": "concatenated logits of one Categorical per sub-action of {space}",
    "DiagGaussian": "concat(mean, log_std) of a diagonal Gaussian over {space}",
    "SquashedGaussian": "concat(mean, log_std) of a tanh-squashed Gaussian over {space}",
}


def greedy_rule(module: Any, graph: InferenceGraph) -> dict[str, Any]:
    """How to get the greedy env action from the outputs, as data.

    ``{"output": name, "distribution": ..., "greedy": "identity" | "argmax" | "argmax_per_slice" |
    "mean" | "squashed_mean" | "custom", "offset": start or None, "clip": {"low", "high"} or None}``
    (plus ``input_lens`` or ``low``/``high`` where the rule needs them). ``offset`` is added after
    an argmax (``Discrete(n, start=...)``); ``clip`` is applied last, as tripod's runners do.
    """
    space = module.action_space
    names = [spec.name for spec in graph.outputs]
    if Columns.ACTIONS in names:
        return {"output": Columns.ACTIONS, "distribution": None, "greedy": "identity", "offset": None,
                "clip": _clip(space)}  # fmt: skip
    if Columns.ACTION_DIST_INPUTS in names:
        rule = _dist_rule(module, graph.dist_kinds.get(Columns.ACTION_DIST_INPUTS, "logits"))
        offset = _offset(space) if rule["greedy"] in ("argmax", "argmax_per_slice", "custom") else None
        return {"output": Columns.ACTION_DIST_INPUTS, **rule, "offset": offset, "clip": _clip(space)}
    return {"output": names[0], "distribution": None, "greedy": "identity", "offset": None, "clip": None}


def _action_text(rule: dict[str, Any], space: Any) -> str:
    if rule["greedy"] == "identity":
        text = f"greedy actions in {space}, one row per observation"
    else:
        what = _DIST_TEXT.get(rule["distribution"], "inputs of the action distribution {dist} over {space}")
        text = what.format(space=space, dist=rule["distribution"]) + "; " + _GREEDY_TEXT[rule["greedy"]]
    if rule.get("offset") is not None:
        text += f", plus the space's start {rule['offset']}"
    if rule.get("clip") is not None:
        text += f"; tripod clips actions to [low, high] = [{rule['clip']['low']}, {rule['clip']['high']}] "
        text += "before env.step"
    return text


def _meaning(name: str, graph: InferenceGraph, rule: dict[str, Any], space: Any) -> str:
    if name == rule["output"]:
        return _action_text(rule, space)
    if name == Columns.VF_PREDS:
        return "value estimates V(obs), one per row"
    if name.startswith(Columns.STATE_OUT):
        return (
            f"the next recurrent state: feed it back as {Columns.STATE_IN + name[len(Columns.STATE_OUT) :]}"
        )
    if name.startswith(Columns.STATE_IN):
        return (f"the recurrent state: {Columns.STATE_OUT + name[len(Columns.STATE_IN):]} of the previous "
                "step, or initial_state (repeated per row) at an episode's start")  # fmt: skip
    if name.startswith(Columns.OBS):
        where = "observations" if name == Columns.OBS else f"the observation's leaf {name[len('obs_') :]!r}"
        time = " with a time axis of length 1 ([batch, 1, ...])" if graph.stateful else ""
        return f"{where}, one row per env{time}"
    return f"the module's {name!r} output"


def build_sidecar(module: Any, graph: InferenceGraph, *, fmt: str, file: str, module_id: str | None) -> dict:
    """The sidecar's content for ``module`` exported as ``file`` in format ``fmt`` (no hash yet)."""
    rule = greedy_rule(module, graph)
    space = module.action_space
    cls = type(module)

    def entry(spec: Any) -> dict[str, Any]:
        return {**spec.as_dict(), "meaning": _meaning(spec.name, graph, rule, space)}

    sidecar = {
        "tripod_export": SIDECAR_VERSION,
        "format": fmt,
        "file": file,
        "module_id": module_id,
        "module_class": f"{cls.__module__}.{cls.__qualname__}",
        "method": "forward_inference",
        "observation_space": _space(module.observation_space),
        "action_space": _space(space),
        "stateful": graph.stateful,
        "inputs": [entry(spec) for spec in graph.inputs],
        "outputs": [entry(spec) for spec in graph.outputs],
        "greedy_action": rule,
        "initial_state": {name: value.tolist() for name, value in graph.initial_state.items()},
        "versions": {
            "tripod": tripod.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },  # fmt: skip
    }
    if fmt == "onnx":
        for package in ("onnx", "onnxscript"):
            with contextlib.suppress(metadata.PackageNotFoundError):
                sidecar["versions"][package] = metadata.version(package)
    return sidecar
