"""Advantage and return estimation as pure functions over time-major arrays.

Every function here takes arrays laid out the way :class:`~tripod.env.EnvRunner`
produces them: shape ``[T, N]`` for ``T`` steps of ``N`` vector sub-environments
(1-D ``[T]`` arrays, one environment, are accepted as well and give 1-D results).
Row ``t`` of environment ``n`` is one transition ``(s_t, a_t, r_t, s_{t+1})``.
``terminateds[t, n]`` / ``truncateds[t, n]`` say that the episode of environment
``n`` ended at step ``t``; row ``t + 1`` then starts a new episode.

* termination: ``s_{t+1}`` is a true terminal state, its value is 0;
* truncation (time limit): the episode was cut, so we bootstrap from the value
  of the final observation, ``next_values[t, n]``;
* the last row of the batch is usually cut off mid-episode and bootstraps from
  the value of the runner's bootstrap observation.

``next_values[t, n] = V(s_{t+1})`` with ``s_{t+1}`` the *real* next observation;
:func:`build_next_values` assembles it from ``values`` plus the sparse values of
final/bootstrap observations that the runner reports.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "build_next_values",
    "compute_gae",
    "compute_returns",
    "explained_variance",
    "normalize_advantages",
]

# Up to this many envs a per-env loop over Python floats beats a per-row numpy
# loop (about 0.2 us per element against about 2.5 us per numpy row).
_SCALAR_SCAN_MAX_ENVS = 8


def compute_gae(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    terminateds: np.ndarray,
    truncateds: np.ndarray,
    *,
    gamma: float,
    lambda_: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Generalised Advantage Estimation (Schulman et al., 2016).

    .. math::

        \\delta_t = r_t + \\gamma (1 - \\text{term}_t) V(s_{t+1}) - V(s_t)

        A_t = \\delta_t + \\gamma \\lambda (1 - \\text{done}_t) A_{t+1}

    with ``done = terminated | truncated`` and ``A`` of the last row equal to its
    ``delta`` (the cut-off tail is covered by bootstrapping from
    ``next_values[-1]``). A truncated row bootstraps from ``next_values`` (the
    value of the final observation) but does not carry advantages across the
    episode boundary.

    Args:
        rewards: ``[T, N]`` (or ``[T]``) rewards ``r_t``.
        values: ``[T, N]`` values ``V(s_t)``.
        next_values: ``[T, N]`` values ``V(s_{t+1})`` of the real next
            observations (see :func:`build_next_values`). Ignored at terminated rows.
        terminateds: ``[T, N]`` bool, episode reached a terminal state at ``t``.
        truncateds: ``[T, N]`` bool, episode was truncated at ``t``.
        gamma: discount factor.
        lambda_: GAE lambda; 1 gives Monte-Carlo returns minus values, 0 the
            one-step TD error.

    Returns:
        ``(advantages, value_targets)``, both float32 of the input shape, with
        ``value_targets = advantages + values``.
    """
    r, squeeze = _time_major(rewards, "rewards")
    v, _ = _time_major(values, "values")
    nv, _ = _time_major(next_values, "next_values")
    term, _ = _time_major(terminateds, "terminateds", dtype=bool)
    trunc, _ = _time_major(truncateds, "truncateds", dtype=bool)
    _check_same_shape(rewards=r, values=v, next_values=nv, terminateds=term, truncateds=trunc)

    # np.where rather than multiplying by (1 - term): a NaN/inf placeholder at a
    # terminated row must not leak into the advantage.
    deltas = r + np.float32(gamma) * np.where(term, np.float32(0.0), nv) - v
    carry = np.where(term | trunc, np.float32(0.0), np.float32(gamma * lambda_))
    advantages = _reverse_linear_scan(deltas, carry)
    value_targets = advantages + v
    if squeeze:
        return advantages[:, 0], value_targets[:, 0]
    return advantages, value_targets


def compute_returns(
    rewards: np.ndarray,
    terminateds: np.ndarray,
    truncateds: np.ndarray,
    *,
    gamma: float,
    next_values: np.ndarray | None = None,
) -> np.ndarray:
    """Discounted returns-to-go within each episode segment.

    ``G_t = r_t + gamma * r_{t+1} + ...`` up to the end of the episode that row
    ``t`` belongs to. How a segment ends decides what follows its last reward:

    * terminated: nothing (the terminal state is worth 0);
    * truncated, or the last row of the batch while the episode is still running
      (cut off): ``gamma * next_values[t]`` when ``next_values`` is given,
      otherwise nothing, i.e. the missing tail is treated as worth 0. That is
      the plain REINFORCE estimate; pass ``next_values`` for a bootstrapped one.

    Args:
        rewards: ``[T, N]`` (or ``[T]``) rewards.
        terminateds: ``[T, N]`` bool termination flags.
        truncateds: ``[T, N]`` bool truncation flags.
        gamma: discount factor.
        next_values: optional ``[T, N]`` values of the real next observations;
            only the entries at truncated rows and at the last row are read.

    Returns:
        float32 returns of the input shape.
    """
    r, squeeze = _time_major(rewards, "rewards")
    term, _ = _time_major(terminateds, "terminateds", dtype=bool)
    trunc, _ = _time_major(truncateds, "truncateds", dtype=bool)
    _check_same_shape(rewards=r, terminateds=term, truncateds=trunc)

    continues = ~(term | trunc)
    continues[-1] = False  # nothing after the last row; its tail is the bootstrap below
    bias = r
    if next_values is not None:
        nv, _ = _time_major(next_values, "next_values")
        _check_same_shape(rewards=r, next_values=nv)
        bootstraps = ~term & ~continues
        bias = r + np.float32(gamma) * np.where(bootstraps, nv, np.float32(0.0))
    carry = np.where(continues, np.float32(gamma), np.float32(0.0))
    returns = _reverse_linear_scan(bias, carry)
    return returns[:, 0] if squeeze else returns


def build_next_values(
    values: np.ndarray,
    bootstrap_values: np.ndarray,
    bootstrap_index: np.ndarray,
) -> np.ndarray:
    """Assemble ``next_values[t, n] = V(s_{t+1})`` from per-row values.

    Inside an episode the next observation is the next row's observation, so
    ``next_values[t] = values[t + 1]``. The runner additionally reports the
    observations that are not any row's ``s_t``: the final observation of every
    episode that ended at some row, and the bootstrap observation after the last
    row of each env. Their values overwrite the default at those positions.

    Args:
        values: ``[T, N]`` (or ``[T]``) values ``V(s_t)``.
        bootstrap_values: ``[K]`` values of the extra observations.
        bootstrap_index: ``[K]`` int flat positions ``t * N + n`` of the rows
            those observations follow. Must include the last row of every env.

    Returns:
        float32 ``next_values`` of the shape of ``values``.

    Raises:
        ValueError: on mismatched lengths, out-of-range indices, or when the
            last row of some env has no bootstrap value.
    """
    v, squeeze = _time_major(values, "values")
    num_steps, num_envs = v.shape
    boot_values = np.asarray(_to_numpy(bootstrap_values), dtype=np.float32).reshape(-1)
    boot_index = np.asarray(_to_numpy(bootstrap_index)).reshape(-1)
    if boot_values.shape != boot_index.shape:
        raise ValueError(
            f"bootstrap_values has {boot_values.size} entries but bootstrap_index has "
            f"{boot_index.size}; pass one value per index."
        )
    if boot_index.size and not np.issubdtype(boot_index.dtype, np.integer):
        raise ValueError(f"bootstrap_index must hold integers, got dtype {boot_index.dtype}.")
    if boot_index.size and (boot_index.min() < 0 or boot_index.max() >= v.size):
        raise ValueError(
            f"bootstrap_index must lie in [0, {v.size}) for values of shape {v.shape} "
            f"(flat index t * N + n), got range [{boot_index.min()}, {boot_index.max()}]."
        )
    last_row_start = (num_steps - 1) * num_envs
    covered = np.zeros(num_envs, dtype=bool)
    covered[boot_index[boot_index >= last_row_start] - last_row_start] = True
    if not covered.all():
        missing = np.flatnonzero(~covered).tolist()
        raise ValueError(
            f"No bootstrap value for the last row of env(s) {missing}: bootstrap_index must "
            f"contain (T - 1) * N + n for every env n, since s_T is not any row's observation."
        )

    next_values = np.empty_like(v)
    next_values[:-1] = v[1:]
    next_values.reshape(-1)[boot_index] = boot_values
    return next_values[:, 0] if squeeze else next_values


def normalize_advantages(adv: Any, eps: float = 1e-8) -> Any:
    """Shift and scale advantages to mean 0 and standard deviation 1.

    Uses the population standard deviation (``ddof=0``) over all entries.

    Args:
        adv: numpy array or torch tensor of any shape.
        eps: added to the standard deviation to avoid dividing by zero.

    Returns:
        Same type, shape and dtype as ``adv``.
    """
    if isinstance(adv, np.ndarray) or not hasattr(adv, "detach"):
        arr = np.asarray(adv)
        if arr.size == 0:
            return arr
        return ((arr - arr.mean()) / (arr.std() + eps)).astype(arr.dtype, copy=False)
    if adv.numel() == 0:  # a torch tensor
        return adv
    return (adv - adv.mean()) / (adv.std(correction=0) + eps)


def explained_variance(y_pred: Any, y_true: Any) -> float:
    """Fraction of the variance of ``y_true`` that ``y_pred`` explains.

    ``1 - Var(y_true - y_pred) / Var(y_true)``: 1 is a perfect prediction, 0 is
    no better than predicting the mean, negative is worse than that. Returns
    NaN when ``y_true`` is constant (or empty).

    Args:
        y_pred: predictions (numpy array or torch tensor), e.g. value estimates.
        y_true: targets of the same shape, e.g. value targets.
    """
    pred = np.asarray(_to_numpy(y_pred), dtype=np.float64).reshape(-1)
    true = np.asarray(_to_numpy(y_true), dtype=np.float64).reshape(-1)
    if pred.shape != true.shape:
        raise ValueError(f"y_pred has {pred.size} entries but y_true has {true.size}.")
    if true.size == 0:
        return float("nan")
    var_true = true.var()
    if var_true == 0.0:
        return float("nan")
    return float(1.0 - (true - pred).var() / var_true)


def _reverse_linear_scan(bias: np.ndarray, carry: np.ndarray) -> np.ndarray:
    """Solve ``x_t = bias_t + carry_t * x_{t+1}`` backwards from ``x_T = 0``; float32 ``[T, N]``."""
    num_steps, num_envs = bias.shape
    out = np.empty((num_steps, num_envs), dtype=np.float32)
    if num_envs <= _SCALAR_SCAN_MAX_ENVS:
        # Few envs: Python floats per env are cheaper than one numpy call per row.
        column = [0.0] * num_steps
        for n in range(num_envs):
            b, c = bias[:, n].tolist(), carry[:, n].tolist()
            x = 0.0
            for t in range(num_steps - 1, -1, -1):
                x = b[t] + c[t] * x
                column[t] = x
            out[:, n] = column
        return out
    x = np.zeros(num_envs, dtype=np.float32)
    for t in range(num_steps - 1, -1, -1):
        x = bias[t] + carry[t] * x
        out[t] = x
    return out


def _time_major(x: Any, name: str, dtype: Any = np.float32) -> tuple[np.ndarray, bool]:
    """``x`` as a ``[T, N]`` array of ``dtype``; the flag says it was 1-D ``[T]``."""
    arr = np.asarray(_to_numpy(x), dtype=dtype)
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must have shape [T, N] or [T], got {arr.shape}.")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty (T = 0); postprocessing needs at least one step.")
    return (arr[:, None], True) if arr.ndim == 1 else (arr, False)


def _check_same_shape(**arrays: np.ndarray) -> None:
    shapes = {name: arr.shape for name, arr in arrays.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name}={shape}" for name, shape in shapes.items())
        raise ValueError(f"Arrays must share one [T, N] shape, got {listed}.")


def _to_numpy(x: Any) -> Any:
    """Detach and move a torch tensor to a numpy array; pass anything else through."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        return x.detach().cpu().numpy()
    return x
