"""RemoteEnvRunnerGroup: env runners as Ray actors, behind the interface of tripod's local group.

The algorithm builds it (through :mod:`tripod.algorithms.scale_out`) when
``num_env_runners > 0`` and talks to it as to the local
:class:`~tripod.env.env_runner_group.EnvRunnerGroup`:

- :meth:`sample` asks every runner for its share at once and merges the answers into one
  ``{module_id: batch}`` with the runners' streams side by side
  (:func:`~tripod.data.stream_merge.concat_streams`). Batches are numpy arrays, so they
  travel through Ray's object store without per-step Python objects.
- :meth:`sync_weights` puts the state into the object store once (``ray.put``) and hands
  every runner the same reference; nothing is pickled per runner.
- A runner that dies (its process killed, ``os._exit`` in an env) or does not answer within
  ``sample_timeout_s`` is replaced by a fresh copy with the same worker index and the latest
  weights (``restart_failed_env_runners``, at most ``max_num_env_runner_restarts`` times);
  the call returns what the other runners sampled, and a failed runner's steps are never
  counted. An exception raised *inside* a runner (a bug in an env, a bad action) is raised
  here as it would be in-process.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from tripod.data.stream_merge import concat_streams
from tripod.distributed.cluster import ensure_ray
from tripod.distributed.env_runner_actor import EnvRunnerActor
from tripod.env.env_creation import env_registrations
from tripod.env.env_errors import EnvRunnerFailedError
from tripod.env.env_runner_group import SampleHandle, merge_runner_metrics

__all__ = ["RemoteEnvRunnerGroup"]

logger = logging.getLogger(__name__)

#: Seconds the runners get to start (build their envs and modules) before the group gives up.
START_TIMEOUT_S = 120.0
#: Rounds :meth:`RemoteEnvRunnerGroup.sample` tries when every runner failed in a round.
MAX_EMPTY_ROUNDS = 3


def _raise_task_error(err: RayTaskError) -> None:
    """Re-raise an exception from inside a runner as its own type (with the remote traceback)."""
    raise err.as_instanceof_cause() from None


class RemoteEnvRunnerGroup:
    """``num_env_runners`` env runners, each a Ray actor (worker indices 1..N).

    Args:
        make_runner: ``make_runner(worker_index) -> EnvRunner``; picklable.
        num_env_runners: How many runner actors.
        config: The algorithm config (CPUs per runner, fault tolerance, timeouts, the env).

    There is no runner in this process (``local_env_runner`` is None): spaces come from
    runner 1, evaluation has a group of its own.
    """

    def __init__(self, make_runner: Callable[[int], Any], *, num_env_runners: int, config: Any) -> None:
        ensure_ray(config)
        self._make_runner = make_runner
        self._config = config
        self._registrations = env_registrations(config.env)
        self._actor_class = ray.remote(EnvRunnerActor).options(
            num_cpus=config.num_cpus_per_env_runner, max_restarts=0, max_task_retries=0
        )
        # Single-agent runners keep their columns (sub-envs) from round to round, so a failed
        # runner's columns are filled with masked rows; multi-agent streams vary anyway.
        self._pad_width = None if config.is_multi_agent else config.num_envs_per_env_runner
        self._latest_state: dict[str, Any] = {}
        self._weights_seq_no = 0
        self._set_state_refs: list[Any] = []
        self._pending_metrics: list[dict[str, Any]] = []
        self._seq_nos: list[int] = []
        self._answered: list[int] = []
        self._restarts_period = self._restarts_total = self._sub_env_restarts_lifetime = 0
        self._actors: dict[int, Any] = {i: self._start(i) for i in range(1, num_env_runners + 1)}
        self._wait_started(list(self._actors))
        # a copy: arrays from the object store are read-only (a Box's low/high), torch wants its own
        self._spaces = copy.deepcopy(ray.get(self._actors[1].get_spaces.remote()))

    # ------------------------------------------------------------------ actors
    def _start(self, index: int) -> Any:
        threads = self._config.num_torch_threads
        return self._actor_class.remote(self._make_runner, index, self._registrations, threads)

    def _wait_started(self, indices: list[int]) -> None:
        refs = [self._actors[i].ping.remote() for i in indices]
        try:
            ray.get(refs, timeout=START_TIMEOUT_S)
        except RayTaskError as err:
            self.stop()
            _raise_task_error(err)
        except GetTimeoutError:
            self.stop()
            raise EnvRunnerFailedError(
                f"{len(indices)} remote env runners did not start within {START_TIMEOUT_S:g} s. Ray has "
                f"{ray.available_resources().get('CPU', 0):g} CPUs free and each runner asks for "
                f"{self._config.num_cpus_per_env_runner:g}; lower num_cpus_per_env_runner or num_env_runners."
            ) from None

    def _replace(self, index: int, reason: str) -> None:
        """Replace runner ``index`` after ``reason``, or raise when that is not allowed."""
        config = self._config
        what = f"Remote env runner {index} {reason}"
        if not config.restart_failed_env_runners:
            raise EnvRunnerFailedError(
                f"{what}. Training stops because restart_failed_env_runners=False; set it to True to "
                "replace failed runners and go on with the others."
            )
        if self._restarts_total >= config.max_num_env_runner_restarts:
            raise EnvRunnerFailedError(
                f"{what}, and the run has already replaced {self._restarts_total} runners "
                f"(max_num_env_runner_restarts={config.max_num_env_runner_restarts}). Raise that limit, or "
                "look for what kills the runners (memory, a crashing env)."
            )
        logger.warning("%s; starting a replacement.", what)
        with contextlib.suppress(Exception):  # already gone
            ray.kill(self._actors[index], no_restart=True)
        self._actors[index] = self._start(index)
        self._restarts_period += 1
        self._restarts_total += 1
        if self._latest_state:
            self._actors[index].set_state.remote(ray.put(self._latest_state))

    # ------------------------------------------------------------------ runners
    @property
    def local_env_runner(self) -> None:
        """None: a remote group has no runner in this process."""
        return None

    @property
    def num_env_runners(self) -> int:
        """How many runner actors the group keeps."""
        return len(self._actors)

    def foreach_env_runner(self, func: Callable[[Any], Any]) -> list[Any]:
        """``[func(runner) for each runner]``, run inside the actors (``func`` is pickled)."""
        return ray.get([actor.apply.remote(func) for actor in self._actors.values()])

    def healthy_env_runner_ids(self) -> list[int]:
        """Worker indices of the runners (failed ones are replaced at once)."""
        return sorted(self._actors)

    @property
    def num_healthy_env_runners(self) -> int:
        """How many runners answered the last :meth:`sample` call (all, when nothing failed)."""
        return min(self._answered) if self._answered else len(self._actors)

    def probe_unhealthy_env_runners(self) -> list[int]:
        """Nothing to probe: failed runners are replaced when they fail."""
        return []

    # ------------------------------------------------------------------ sampling
    def _shares(self, kwargs: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
        """Each runner's part of a :meth:`sample` call."""
        indices = sorted(self._actors)
        if kwargs.get("num_episodes") is not None:
            n, k = divmod(int(kwargs["num_episodes"]), len(indices))
            counts = {i: n + (j < k) for j, i in enumerate(indices)}
            return {i: {**kwargs, "num_episodes": c} for i, c in counts.items() if c > 0}
        if kwargs.get("num_timesteps") is not None:
            per = math.ceil(int(kwargs["num_timesteps"]) / len(indices))
            return {i: {**kwargs, "num_timesteps": per} for i in indices}
        return {i: dict(kwargs) for i in indices}

    def _collect(self, refs: dict[int, Any], actors: dict[int, Any]) -> dict[int, Any]:
        """The answers that arrive within ``sample_timeout_s``; failed runners are replaced."""
        deadline = time.monotonic() + self._config.sample_timeout_s
        ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=self._config.sample_timeout_s)
        ready_set = set(ready)
        answers: dict[int, Any] = {}
        for index, ref in refs.items():
            if ref not in ready_set:
                if actors[index] is self._actors[index]:
                    self._replace(index, f"did not answer sample() within sample_timeout_s="
                                  f"{self._config.sample_timeout_s:g} s")  # fmt: skip
                continue
            try:
                answers[index] = ray.get(ref, timeout=max(deadline - time.monotonic(), 1.0))
            except RayActorError as err:
                if actors[index] is self._actors[index]:
                    self._replace(index, f"died ({type(err).__name__})")
            except RayTaskError as err:
                _raise_task_error(err)
        return answers

    def _submit(self, kwargs: Mapping[str, Any]) -> tuple[dict[int, Any], dict[int, Any]]:
        actors = dict(self._actors)
        refs = {i: actors[i].sample.remote(share) for i, share in self._shares(kwargs).items()}
        return refs, actors

    def _finish(self, kwargs: Mapping[str, Any], refs: dict[int, Any], actors: dict[int, Any]) -> Any:
        self._check_set_state()
        answers = self._collect(refs, actors)
        for _ in range(MAX_EMPTY_ROUNDS - 1):
            if answers:
                break
            refs, actors = self._submit(kwargs)  # every runner failed: try the replacements
            answers = self._collect(refs, actors)
        if not answers:
            raise EnvRunnerFailedError(
                f"Every remote env runner failed {MAX_EMPTY_ROUNDS} times in a row; see the warnings above."
            )
        if kwargs.get("num_episodes") is not None:
            return merge_runner_metrics([answers[i][0] for i in sorted(answers)])
        self._answered.append(len(answers))
        for index in sorted(answers):
            self._pending_metrics.append(answers[index][1])
            self._seq_nos.append(answers[index][2])
        return self._merge_batches(answers)

    def _merge_batches(self, answers: dict[int, Any]) -> dict[str, Any]:
        indices = sorted(self._actors)
        module_ids = {mid: None for i in sorted(answers) for mid in answers[i][0]}
        return {
            mid: concat_streams(
                [answers[i][0].get(mid) if i in answers else None for i in indices],
                [self._pad_width] * len(indices),
            )
            for mid in module_ids
        }

    def sample(self, **kwargs: Any) -> Any:
        """Sample with every runner; ``kwargs`` as for :meth:`EnvRunner.sample`.

        ``num_timesteps`` is split evenly (each runner samples ``ceil(num_timesteps / N)``),
        ``num_episodes`` too. Returns ``{module_id: batch}`` (single-agent: under
        ``DEFAULT_MODULE_ID``) with runner 1's streams first; with ``num_episodes`` the merged
        episode results.
        """
        return self.sample_async(**kwargs).get()

    def sample_async(self, **kwargs: Any) -> SampleHandle:
        """Start :meth:`sample` on every runner and return at once; ``handle.get()`` waits for it."""
        refs, actors = self._submit(kwargs)
        return SampleHandle(lambda: self._finish(kwargs, refs, actors))

    def _check_set_state(self) -> None:
        """Raise what a runner's ``set_state`` raised (weights that do not fit, ...)."""
        refs, self._set_state_refs = self._set_state_refs, []
        for ref in refs:
            try:
                ray.get(ref)
            except RayTaskError as err:
                _raise_task_error(err)
            except RayActorError:
                pass  # the runner died; sampling finds out and replaces it

    def sync_weights(self, state: Mapping[str, Any]) -> None:
        """Send ``state`` to every runner: one ``ray.put``, the same reference for all.

        Weights get the next ``weights_seq_no`` (reported with the batches sampled with them).
        """
        state = dict(state)
        if "rl_module" in state:
            self._weights_seq_no += 1
            state["weights_seq_no"] = self._weights_seq_no
        self._latest_state.update(state)
        ref = ray.put(state)
        self._set_state_refs += [actor.set_state.remote(ref) for actor in self._actors.values()]

    def get_metrics(self) -> dict[str, Any]:
        """The runners' metrics since the last call, merged, plus the group's own.

        Adds ``num_healthy_env_runners`` (fewest runners that answered a call in this
        period), ``num_env_runner_restarts`` (runners replaced in this period) and
        ``..._lifetime``, ``num_env_restarts_lifetime`` (sub-env restarts) and
        ``weights_seq_no`` (the oldest weights a batch of this period was sampled with) and
        ``weights_staleness`` (how many weight versions those are behind the latest sent).
        """
        pending, self._pending_metrics = self._pending_metrics, []
        metrics = merge_runner_metrics(pending) if pending else {"num_env_steps_sampled": 0}
        self._sub_env_restarts_lifetime += int(metrics.get("num_env_restarts", 0))
        metrics.update(
            num_healthy_env_runners=self.num_healthy_env_runners,
            num_env_runner_restarts=self._restarts_period,
            num_env_runner_restarts_lifetime=self._restarts_total,
            num_env_restarts_lifetime=self._sub_env_restarts_lifetime,
        )
        if self._seq_nos:
            metrics["weights_seq_no"] = min(self._seq_nos)
            metrics["weights_staleness"] = self._weights_seq_no - min(self._seq_nos)
        self._restarts_period, self._answered, self._seq_nos = 0, [], []
        return metrics

    def get_spaces(self) -> tuple[Any, Any]:
        """Runner 1's ``(observation_space, action_space)`` (multi-agent: ``{module_id: space}`` each)."""
        return self._spaces

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, Any]:
        """Runner 1's state and the group's RNG states and counters (for checkpoints)."""
        return {
            "env_runner": ray.get(self._actors[min(self._actors)].get_state.remote()),
            "rng_state": self.get_rng_state(),
            "num_env_restarts_lifetime": self._sub_env_restarts_lifetime,
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`get_state` (each key optional) on every runner."""
        if "env_runner" in state:
            self.sync_weights(state["env_runner"])
        if "rng_state" in state:
            self.set_rng_state(state["rng_state"])
        self._sub_env_restarts_lifetime = int(state.get("num_env_restarts_lifetime", 0))

    def get_rng_state(self) -> dict[str, Any]:
        """Runner 1's RNG states (the local group's format) plus every runner's under ``"remote_runners"``."""
        states = ray.get([self._actors[i].get_rng_state.remote() for i in sorted(self._actors)])
        return {**states[0], "remote_runners": states}

    def set_rng_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`get_rng_state`: each runner's own states when the checkpoint had as many
        remote runners; otherwise the runners keep their freshly seeded generators (a
        checkpoint of an in-process run holds one runner's states, which N runners must not share)."""
        remote = state.get("remote_runners")
        if not isinstance(remote, list) or len(remote) != len(self._actors):
            logger.info("The checkpoint's env runner RNG states do not fit %d remote runners; not restored.",
                        len(self._actors))  # fmt: skip
            return
        ray.get([self._actors[i].set_rng_state.remote(s) for i, s in zip(sorted(self._actors), remote)])

    def stop(self) -> None:
        """Close every runner's envs and end the actors."""
        actors = list(getattr(self, "_actors", {}).values())
        refs = [actor.stop.remote() for actor in actors]
        ray.wait(refs, num_returns=len(refs), timeout=10.0)
        for actor in actors:
            ray.kill(actor, no_restart=True)
        self._actors = {}
