"""Checks of what a module's forward returns, with errors that say how to fix it.

Runners and learners call :class:`OutputValidator` once per new batch shape, so
validation costs nothing on the steady-state path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from tripod.core.columns import Columns


class ModuleOutputError(ValueError):
    """A module's forward pass returned something tripod cannot use."""


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor | np.ndarray):
        return f"{type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, torch.distributions.Distribution):
        return f"{type(value).__name__} with batch_shape {tuple(value.batch_shape)}"
    return f"{type(value).__name__} {value!r}"[:200]


def _find_nonfinite(value: Any, key: str) -> tuple[str, Any] | None:
    """``(key path, leaf)`` of the first non-finite float leaf (nested dicts such as ``state_out`` too)."""
    if isinstance(value, Mapping):
        for sub_key, sub in value.items():
            found = _find_nonfinite(sub, f"{key}/{sub_key}")
            if found is not None:
                return found
        return None
    return (key, value) if _nonfinite(value) else None


def _nonfinite(value: Any) -> bool:
    from tripod.core.distribution.distribution import Distribution

    if isinstance(value, Distribution):
        return isinstance(value.logits, torch.Tensor) and _nonfinite(value.logits)
    if isinstance(value, torch.distributions.Distribution):
        params = [getattr(value, name, None) for name in ("logits", "loc", "scale")]
        return any(_nonfinite(p) for p in params if isinstance(p, torch.Tensor))
    if isinstance(value, torch.Tensor):
        return value.is_floating_point() and not bool(torch.isfinite(value).all())
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
        return not bool(np.isfinite(value).all())
    return False


def check_module_output(
    module: Any,
    method: str,
    output: Any,
    *,
    batch_size: int,
    action_space: gym.Space | None = None,
    require_action: bool = True,
) -> None:
    """Raise :class:`ModuleOutputError` if ``output`` does not fit the batch and spaces.

    Args:
        module: The module that produced ``output`` (named in errors).
        method: The method that produced it, e.g. ``"forward_exploration"``.
        output: What the method returned.
        batch_size: How many observations went in (rows expected out).
        action_space: The action space actions must lie in (default: the module's).
        require_action: Whether ``actions`` or ``action_dist_inputs`` must be present.
    """
    where = f"{type(module).__name__}.{method}()"
    space = action_space if action_space is not None else getattr(module, "action_space", None)
    if not isinstance(output, Mapping):
        raise ModuleOutputError(
            f"{where} returned {_describe(output)}; it must return a dict such as "
            f"{{Columns.ACTIONS: ...}} or {{Columns.ACTION_DIST_INPUTS: logits}}."
        )
    for key, value in output.items():
        bad = _find_nonfinite(value, str(key))
        if bad is not None:
            raise ModuleOutputError(
                f"{where} returned NaN or inf in '{bad[0]}' ({_describe(bad[1])}). Check the inputs for "
                "NaN, the learning rate (a diverged network) and divisions or logs of zero in the module."
            )
    has_actions = Columns.ACTIONS in output
    has_dist = Columns.ACTION_DIST_INPUTS in output
    if require_action and not (has_actions or has_dist):
        raise ModuleOutputError(
            f"{where} returned keys {sorted(output)} but neither '{Columns.ACTIONS}' nor "
            f"'{Columns.ACTION_DIST_INPUTS}'. Return actions, or logits / a torch Distribution "
            "under Columns.ACTION_DIST_INPUTS for tripod to sample from."
        )
    if has_actions:
        _check_actions(where, output[Columns.ACTIONS], batch_size, space)
    if has_dist and space is not None:
        dist_cls = getattr(module, "action_dist_cls", None)
        _check_dist_inputs(where, output[Columns.ACTION_DIST_INPUTS], batch_size, space, dist_cls)


def _check_actions(where: str, actions: Any, batch_size: int, space: gym.Space | None) -> None:
    arr = _to_numpy(actions)
    expected_tail = tuple(space.shape) if space is not None and space.shape is not None else None
    if arr.ndim == 0 and batch_size > 1:
        raise ModuleOutputError(
            f"{where} returned a single action ({_describe(actions)}) for a batch of {batch_size} "
            f"observations; expected {batch_size} actions, one per row. np.argmax(logits) on a batch "
            "returns one index for the whole flattened batch: use logits.argmax(dim=-1). "
            "np.random.choice(n) returns one action: use np.random.randint(n, size=len(obs)) or "
            "torch.randint(n, (len(obs),))."
        )
    if arr.ndim > 0 and arr.shape[0] != batch_size:
        raise ModuleOutputError(
            f"{where} returned actions of shape {arr.shape} for a batch of {batch_size} observations; "
            f"expected shape {(batch_size, *(expected_tail or ()))}, one action per row. If you reduce "
            "over logits, reduce the last dimension only (argmax(dim=-1))."
        )
    if space is None:
        return
    rows = arr.reshape((batch_size, *arr.shape[1:])) if arr.ndim else arr.reshape(1)
    if expected_tail is not None and tuple(rows.shape[1:]) != expected_tail:
        raise ModuleOutputError(
            f"{where} returned actions of shape {arr.shape}; expected {(batch_size, *expected_tail)} "
            f"for action space {space}."
        )
    if isinstance(space, gym.spaces.Discrete | gym.spaces.MultiDiscrete):
        if not np.issubdtype(rows.dtype, np.integer):
            raise ModuleOutputError(
                f"{where} returned actions of dtype {rows.dtype} for the discrete space {space}; "
                "expected integers. Return indices (e.g. logits.argmax(dim=-1)), not probabilities."
            )
        low = space.start
        high = space.start + (space.n if isinstance(space, gym.spaces.Discrete) else space.nvec)
        if rows.size and (np.any(rows < low) or np.any(rows >= high)):
            bad = rows[(rows < low) | (rows >= high)].ravel()[:5].tolist()
            raise ModuleOutputError(
                f"{where} returned actions {bad} outside the action space {space}. Check the size of "
                "the output layer against action_space.n."
            )


def _check_dist_inputs(
    where: str, inputs: Any, batch_size: int, space: gym.Space, dist_cls: Any = None
) -> None:
    from tripod.core.distribution.action_dist import get_action_dist_cls
    from tripod.core.distribution.distribution import Distribution

    if isinstance(inputs, Distribution):  # a tripod distribution: check the logits it was built from
        if not isinstance(inputs.logits, torch.Tensor):
            return
        dist_cls, inputs = type(inputs), inputs.logits
    elif isinstance(inputs, torch.distributions.Distribution):
        shape = tuple(inputs.batch_shape)
        # An unbatched distribution (batch_shape ()) is fine for one observation only.
        if shape[:1] != (batch_size,) and not (batch_size == 1 and len(shape) == 0):
            raise ModuleOutputError(
                f"{where} returned a {type(inputs).__name__} with batch_shape {shape} for a batch of "
                f"{batch_size} observations; expected batch_shape ({batch_size}, ...)."
            )
        logits = getattr(inputs, "logits", None)
        if isinstance(space, gym.spaces.Discrete) and logits is not None and logits.shape[-1] != space.n:
            raise ModuleOutputError(
                f"{where} returned a Categorical over {logits.shape[-1]} actions, but the action space "
                f"{space} has {space.n}. Size the output layer with action_space.n."
            )
        return
    if not isinstance(inputs, torch.Tensor):
        hint = " Convert it with torch.as_tensor(...)." if isinstance(inputs, np.ndarray) else ""
        raise ModuleOutputError(
            f"{where} returned {_describe(inputs)} under '{Columns.ACTION_DIST_INPUTS}'; expected a "
            f"logits torch.Tensor of shape [batch, width] or a torch.distributions.Distribution.{hint}"
        )
    try:
        width = (dist_cls or get_action_dist_cls(space)).required_input_dim(space)
    except (ValueError, NotImplementedError, TypeError, AttributeError):
        return
    shape = tuple(inputs.shape)
    if len(shape) == 1 and batch_size == 1:
        shape = (1, *shape)
    if len(shape) != 2 or shape[0] != batch_size or shape[1] != width:
        raise ModuleOutputError(
            f"{where} returned '{Columns.ACTION_DIST_INPUTS}' of shape {tuple(inputs.shape)}; expected "
            f"({batch_size}, {width}) for action space {space}. Size the output layer to the width "
            "the action distribution needs (e.g. action_space.n logits for Discrete, "
            "2 * action dims (mean, log_std) for Box)."
        )


def check_values(
    module: Any, values: Any, batch_size: int | tuple[int, ...], method: str = "compute_values"
) -> None:
    """Raise :class:`ModuleOutputError` unless ``values`` is a tensor of shape ``[batch_size]``.

    Cheap (a type and shape test), so learners call it on every value batch: a ``[B, 1]``
    output would broadcast against ``[B]`` targets into a ``[B, B]`` loss without a word.
    ``batch_size`` may be a shape tuple: ``(B, T)`` for the sequences of a recurrent module.
    """
    expected = (batch_size,) if isinstance(batch_size, int) else tuple(batch_size)
    if isinstance(values, torch.Tensor) and tuple(values.shape) == expected:
        return
    where = f"{type(module).__name__}.{method}()"
    if not isinstance(values, torch.Tensor):
        raise ModuleOutputError(
            f"{where} returned {_describe(values)}; expected a torch.Tensor of shape {expected}, one "
            "value per row of the batch."
        )
    shape = tuple(values.shape)
    hint = (
        " Return values.squeeze(-1): a value head nn.Linear(hidden, 1) gives [B, 1], and [B, 1] minus the "
        "[B] value targets broadcasts to a [B, B] loss that trains on the wrong numbers."
        if shape == (*expected, 1)
        else " Reduce or reshape the value head's output to one number per observation."
    )
    raise ModuleOutputError(
        f"{where} returned a tensor of shape {shape}; expected {expected}, one value per row.{hint}"
    )


class OutputValidator:
    """Validates a module's outputs once per (method, batch shape) and then gets out of the way."""

    def __init__(self, module: Any, action_space: gym.Space | None = None) -> None:
        self.module = module
        self.action_space = action_space
        self._seen: set[tuple] = set()

    def check(self, method: str, output: Any, batch_size: int, *, require_action: bool = True) -> None:
        """Validate ``output`` unless this method and batch size were seen before."""
        key = (method, batch_size)
        if key in self._seen:
            return
        check_module_output(
            self.module,
            method,
            output,
            batch_size=batch_size,
            action_space=self.action_space,
            require_action=require_action,
        )
        self._seen.add(key)

    def reset(self) -> None:
        """Forget what was checked (e.g. after the module's weights were replaced)."""
        self._seen.clear()
