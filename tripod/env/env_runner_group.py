"""EnvRunnerGroup: the env runners an algorithm samples from, behind one interface (RLlib's name).

This is the local group: one runner in this process, built by a factory
``make_runner(worker_index) -> EnvRunner``.
:class:`~tripod.distributed.env_runner_group.RemoteEnvRunnerGroup` (runners as Ray
actors, ``num_env_runners > 0``) has the same interface, so an algorithm talks to its
runners only through it:

    group = EnvRunnerGroup(make_runner)
    batch = group.sample(num_timesteps=2000)       # {module_id: batch}
    group.sync_weights({"rl_module": learner_group.get_weights(), "exploration": {"epsilon": 0.3}})
    metrics = group.get_metrics()

Single- and multi-agent runners sit behind it alike: :meth:`sample` returns
``{module_id: batch}`` for both (see :meth:`~tripod.env.env_runner.EnvRunner.sample_batches`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from tripod.env.env_runner import EnvRunner
from tripod.env.runner_helpers import episode_metrics

__all__ = ["EnvRunnerGroup", "SampleHandle", "merge_runner_metrics"]

#: Metrics recomputed from the merged episode lists rather than summed.
_PER_EPISODE = ("episode_return_mean", "episode_return_min", "episode_return_max", "episode_len_mean")


def _merge_values(values: list[Any]) -> Any:
    first = values[0]
    if isinstance(first, list | tuple):
        return [x for v in values for x in v]
    if isinstance(first, Mapping):
        keys = {k: None for v in values for k in v}
        return {k: _merge_values([v[k] for v in values if k in v]) for k in keys}
    if isinstance(first, bool | str) or first is None:
        return first
    return sum(values)


def merge_runner_metrics(metrics: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Several runners' :meth:`EnvRunner.get_metrics` results as one.

    Counts are summed, episode lists concatenated (in the order given), per-agent and
    per-module dicts merged key by key, and the means, minima and maxima recomputed from
    the merged episode lists.
    """
    if len(metrics) == 1:
        return dict(metrics[0])
    merged: dict[str, Any] = {}
    keys = {k: None for m in metrics for k in m}
    for key in keys:
        if key in _PER_EPISODE or key.endswith("_episode_returns_mean"):
            continue
        merged[key] = _merge_values([m[key] for m in metrics if key in m])
    merged.update(
        {k: v for k, v in episode_metrics(merged.get("episode_returns", []), merged.get("episode_lens", [])).items()
         if k in _PER_EPISODE}
    )  # fmt: skip
    for name in ("agent", "module"):
        if f"{name}_episode_returns" in merged:
            merged[f"{name}_episode_returns_mean"] = {
                k: float(np.mean(v)) for k, v in merged[f"{name}_episode_returns"].items() if len(v)
            }
    return merged


class SampleHandle:
    """A :meth:`EnvRunnerGroup.sample_async` call in flight; :meth:`get` waits for its result."""

    def __init__(self, get: Callable[[], Any]) -> None:
        self._get = get
        self._result: Any = None
        self._done = False

    def get(self) -> Any:
        """The result of the sample call (what :meth:`EnvRunnerGroup.sample` returns); waits if needed."""
        if not self._done:
            self._result, self._done = self._get(), True
        return self._result


class EnvRunnerGroup:
    """The env runners of an algorithm: here one runner in this process.

    Args:
        make_runner: ``make_runner(worker_index) -> EnvRunner``; a picklable callable (a
            module-level function or a ``functools.partial`` of one), so that a remote
            group can build runners in other processes. The local runner gets index 0.

    The remote group hands on one ``{module_id: batch}`` with its runners' sub-env streams
    side by side, and one merged metrics dict (:func:`merge_runner_metrics`), so callers do
    not change with the number of runners. Here both are the runner's own results (no copy).
    """

    def __init__(self, make_runner: Callable[[int], EnvRunner]) -> None:
        self._local = make_runner(0)
        self._restarts_lifetime = 0

    # ------------------------------------------------------------------ runners
    @property
    def local_env_runner(self) -> EnvRunner:
        """The runner in this process (RLlib's name)."""
        return self._local

    def foreach_env_runner(self, func: Callable[[EnvRunner], Any]) -> list[Any]:
        """``[func(runner) for each healthy runner]``, the local runner first."""
        return [func(self._local)]

    def healthy_env_runner_ids(self) -> list[int]:
        """Worker indices of the runners that answer (the local runner is 0)."""
        return [0]

    @property
    def num_healthy_env_runners(self) -> int:
        """How many runners answer."""
        return len(self.healthy_env_runner_ids())

    def probe_unhealthy_env_runners(self) -> list[int]:
        """Try to bring failed runners back; returns the indices restored (none can fail locally)."""
        return []

    # ------------------------------------------------------------------ data
    def sample(self, **kwargs: Any) -> Any:
        """Sample with every runner; ``kwargs`` go to :meth:`EnvRunner.sample`.

        Returns:
            ``{module_id: batch}`` (single-agent runners: ``{DEFAULT_MODULE_ID: batch}``);
            with ``num_episodes=`` the runners' episode results (``episode_returns``,
            ``episode_lens``, and per-agent returns from multi-agent runners).
        """
        if kwargs.get("num_episodes") is not None:
            return self._local.sample(**kwargs)
        return self._local.sample_batches(**kwargs)

    def sample_async(self, **kwargs: Any) -> SampleHandle:
        """Start :meth:`sample`; remote runners sample while this process goes on (the local
        runner samples now, before returning). Call ``get()`` on the handle for the result."""
        result = self.sample(**kwargs)
        return SampleHandle(lambda: result)

    def sync_weights(self, state: Mapping[str, Any]) -> None:
        """Send the driver's state to every runner (:meth:`EnvRunner.set_state`).

        ``state``: ``{"rl_module": {module_id: weights}, "exploration": {"epsilon": 0.3}}``,
        either key optional. Weights are copied into each runner's own module; nothing is
        shared with the sender.
        """
        self.foreach_env_runner(lambda runner: runner.set_state(state))

    def get_metrics(self) -> dict[str, Any]:
        """The runners' metrics since the last call (:meth:`EnvRunner.get_metrics`).

        ``num_env_restarts`` counts the sub-env restarts of this period, and
        ``num_env_restarts_lifetime`` those of the group's life.
        """
        metrics = self._local.get_metrics()
        self._restarts_lifetime += int(metrics.get("num_env_restarts", 0))
        metrics["num_env_restarts_lifetime"] = self._restarts_lifetime
        return metrics

    def get_spaces(self) -> tuple[Any, Any]:
        """The local runner's ``(observation_space, action_space)`` (multi-agent: ``{module_id: space}`` each)."""
        return self._local.get_spaces()

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, Any]:
        """The local runner's state and RNG states plus the group's restart count (for checkpoints)."""
        return {
            "env_runner": self._local.get_state(),
            "rng_state": self._local.get_rng_state(),
            "num_env_restarts_lifetime": self._restarts_lifetime,
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`get_state` on every runner (each key optional)."""
        if "env_runner" in state:
            self.foreach_env_runner(lambda runner: runner.set_state(state["env_runner"]))
        if "rng_state" in state:
            self.set_rng_state(state["rng_state"])
        self._restarts_lifetime = int(state.get("num_env_restarts_lifetime", self._restarts_lifetime))

    def get_rng_state(self) -> dict[str, Any]:
        """The local runner's :meth:`EnvRunner.get_rng_state` (a checkpoint's ``owned.env_runner``)."""
        return self._local.get_rng_state()

    def set_rng_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`get_rng_state` on the local runner."""
        self._local.set_rng_state(state)

    def stop(self) -> None:
        """Release every runner's envs."""
        self.foreach_env_runner(lambda runner: runner.stop())
