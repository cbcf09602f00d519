"""RemoteLearnerGroup: ``num_learners`` learners on Ray training data-parallel, behind the
interface of the local :class:`~tripod.learner.learner_group.LearnerGroup`.

The algorithm builds it (through :mod:`tripod.algorithms.scale_out`) when
``num_learners > 0`` and talks to it as to the local group:

- Each learner is a Ray actor (:class:`~tripod.distributed.learner_actor.LearnerActor`,
  ``num_cpus_per_learner`` CPUs, ``num_gpus_per_learner`` GPUs) holding a full copy of the
  modules and optimizers. They form one ``torch.distributed`` process group: gloo on CPUs,
  nccl when each learner has a GPU. Rank 0 picks the rendezvous address (its node's IP, a
  free port).
- :meth:`update` splits every module's time-major ``[T, N]`` batch along its streams
  (:func:`~tripod.data.stream_split.split_streams`; whole streams, so advantages are those
  of the whole batch) and sends each learner its shard. The learners average gradients
  once per optimizer step (one all-reduce of one flat bucket, weighted by real rows) and
  normalise advantages with statistics of the whole batch, so that with whole-batch
  minibatches (``minibatch_size=None``) an update equals a single learner's update on the
  whole batch, up to float rounding. With ``minibatch_size`` set, each learner draws its
  minibatches of ``minibatch_size`` rows from its own shard (as in RLlib, where
  ``minibatch_size`` is per learner): the same expectation, different minibatches.
- Weights, state and RNG states come from rank 0 (all learners hold the same), so a
  checkpoint has the same format whatever ``num_learners`` is; state is sent to every learner.
- A learner that dies, or raises inside an update while its peers wait for it, stops the
  whole group (the learners train in lockstep): :class:`LearnerFailedError`, or the
  learner's own exception. Checkpoints already written are untouched.

Only on-policy learners (PPO, PG: :meth:`~tripod.learner.learner.Learner.update`) run here;
replay-based learners (DQN, SAC) train in the driver with ``num_learners=0``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from tripod.algorithms.config_checks import ConfigError
from tripod.core.columns import Columns
from tripod.core.rl_module.multi_rl_module import MultiRLModule
from tripod.core.rl_module.rl_module import ModuleID, RLModule
from tripod.data.stream_split import shard_widths, split_streams
from tripod.distributed.cluster import ensure_ray
from tripod.distributed.learner_actor import LearnerActor, writable_arrays
from tripod.learner.learner import Learner
from tripod.learner.off_policy_learner import OffPolicyLearner

__all__ = ["LearnerFailedError", "RemoteLearnerGroup"]

#: Seconds the learners get to start (build their modules) and to form their process group.
START_TIMEOUT_S = 180.0
#: Seconds :meth:`RemoteLearnerGroup.shutdown` waits for the learners to leave the process group.
CLOSE_TIMEOUT_S = 5.0


class LearnerFailedError(RuntimeError):
    """A remote learner died, or the learner group was stopped after a learner failed."""


class RemoteLearnerGroup:
    """``config.num_learners`` learner actors training data-parallel (same interface as
    :class:`~tripod.learner.learner_group.LearnerGroup`).

    Args:
        learner_class: The algorithm's :class:`Learner` subclass (on-policy:
            replay-based learners are refused).
        config: The algorithm config (``num_learners``, ``num_cpus_per_learner``,
            ``num_gpus_per_learner``, and everything the learner reads).
        module_spec: An ``RLModuleSpec`` or ``MultiRLModuleSpec``, spaces filled in. The
            modules are built here once (in the caller's RNG scope, so the initial weights
            are those a local group would get) and every learner starts from these weights.
        module_ids_to_train: Which modules get optimizers (default: all with parameters).

    Raises:
        ConfigError: ``learner_class`` is a replay-based learner, several learners would
            share a GPU (``0 < num_gpus_per_learner < 1``), or Ray cannot place the learners
            (see :func:`~tripod.distributed.cluster.ensure_ray`).
        LearnerFailedError: The learners did not start within ``START_TIMEOUT_S``.
    """

    def __init__(
        self,
        learner_class: type[Learner],
        *,
        config: Any,
        module_spec: Any,
        module_ids_to_train: Iterable[ModuleID] | None = None,
    ) -> None:
        _check_settings(learner_class, config)
        ensure_ray(config)
        module = module_spec.build()
        self._module: MultiRLModule = (
            module if isinstance(module, MultiRLModule) else module.as_multi_rl_module()
        )
        self._module_fresh = True
        self._weights: dict[ModuleID, Any] | None = None
        self._num_env_steps_trained = 0
        self._failure: str | None = None
        self._config = config
        ids = None if module_ids_to_train is None else list(module_ids_to_train)
        actor_class = ray.remote(LearnerActor).options(
            num_cpus=config.num_cpus_per_learner, num_gpus=config.num_gpus_per_learner,
            max_restarts=0, max_task_retries=0,
        )  # fmt: skip
        initial = ray.put(self._module.get_state())
        world = int(config.num_learners)
        self._actors = [
            actor_class.remote(learner_class, config, module_spec, initial, ids, rank, world)
            for rank in range(world)
        ]
        self._start()

    def _start(self) -> None:
        """Wait for the learners to be built, then form their process group."""
        try:
            self._call("ping", timeout=START_TIMEOUT_S, fatal=True)
            ip, port = ray.get(self._actors[0].free_address.remote(), timeout=START_TIMEOUT_S)
            self._call("join", ip, port, timeout=START_TIMEOUT_S, fatal=True)
        except GetTimeoutError:
            self.shutdown()
            raise LearnerFailedError(
                f"{len(self._actors)} remote learners did not start within {START_TIMEOUT_S:g} s. Ray has "
                f"{ray.available_resources().get('CPU', 0):g} CPUs and "
                f"{ray.available_resources().get('GPU', 0):g} GPUs free; each learner asks for "
                f"num_cpus_per_learner={self._config.num_cpus_per_learner:g} and num_gpus_per_learner="
                f"{self._config.num_gpus_per_learner:g}. Lower them or num_learners."
            ) from None

    # ------------------------------------------------------------------ calling the actors
    def _call(self, method: str, *args: Any, timeout: float | None = None, fatal: bool = False) -> list[Any]:
        """``[actor.method(*args) for each learner]``, all at once; see :meth:`_gather`."""
        self._check_usable()
        refs = [getattr(actor, method).remote(*args) for actor in self._actors]
        return self._gather(refs, method, timeout=timeout, fatal=fatal)

    def _gather(
        self, refs: Sequence[Any], what: str, *, timeout: float | None = None, fatal: bool = False
    ) -> list[Any]:
        """The answers of ``refs`` (one per learner, in rank order), taken as they arrive.

        A dead learner stops the group (:class:`LearnerFailedError`). An exception raised
        inside a learner is raised here as its own type; with ``fatal`` (calls in which the
        learners wait for each other, such as :meth:`update`) the group is stopped first,
        since its peers would wait for it forever.
        """
        rank_of = {ref: rank for rank, ref in enumerate(refs)}
        answers: dict[int, Any] = {}
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=timeout)
            if not ready:
                raise GetTimeoutError(f"remote learners did not answer {what}() within {timeout} s")
            for ref in ready:
                rank = rank_of[ref]
                try:
                    answers[rank] = ray.get(ref)
                except RayActorError as err:
                    self._fail(f"remote learner {rank} (of {len(refs)}) died during {what}() "
                               f"({type(err).__name__})")  # fmt: skip
                except RayTaskError as err:
                    if fatal:
                        self._stop_after(
                            f"remote learner {rank} raised {type(err.cause).__name__} in {what}()"
                        )
                    raise err.as_instanceof_cause() from None
        return [answers[rank] for rank in range(len(refs))]

    def _fail(self, what: str) -> None:
        """Stop the group after a learner died (``what``) and raise :class:`LearnerFailedError`."""
        message = self._stop_after(what) + (
            " If learners keep dying, look for what kills them (memory: lower train_batch_size_per_learner "
            "or raise num_cpus_per_learner; a GPU fault)."
        )
        self._failure = message
        raise LearnerFailedError(message)

    def _stop_after(self, what: str) -> str:
        """Kill every learner after ``what``; later calls raise :class:`LearnerFailedError` with the
        message returned."""
        self._failure = (
            f"{what}. The {len(self._actors)} learners train in lockstep and cannot go on without it, so "
            "the learner group was stopped. Restore the last checkpoint (Algorithm.from_checkpoint(path), "
            "with the same or another num_learners) and train on; checkpoints written before are intact."
        )
        self._kill_actors()
        return self._failure

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise LearnerFailedError(self._failure)

    def _kill_actors(self) -> None:
        for actor in self._actors:
            with contextlib.suppress(Exception):  # already gone
                ray.kill(actor, no_restart=True)

    # ------------------------------------------------------------------ learners
    @property
    def is_local(self) -> bool:
        """False: the learners are Ray actors."""
        return False

    def foreach_learner(self, func: Callable[[Learner], Any]) -> list[Any]:
        """``[func(learner) for each learner]``, run inside the actors (``func`` is pickled)."""
        self._weights, self._module_fresh = None, False  # ``func`` may change the learners
        return self._call("apply", func)

    # ------------------------------------------------------------------ updates
    def update(
        self, batch: Mapping[ModuleID, Mapping[str, Any]], *, num_env_steps_sampled_lifetime: int = 0
    ) -> dict[ModuleID, dict[str, float]]:
        """Train on ``batch`` (``{module_id: [T, N] batch}``), split between the learners;
        returns per-module statistics of all learners (means weighted by their real rows)."""
        self._check_usable()
        shards, rows = shard_batch(batch, len(self._actors))
        refs = [
            actor.update.remote(shards[rank], rows, int(num_env_steps_sampled_lifetime), rank == 0)
            for rank, actor in enumerate(self._actors)
        ]
        answers = self._gather(refs, "update", fatal=True)
        results, self._num_env_steps_trained, self._weights = answers[0]
        self._module_fresh = False
        return results

    def update_from_replay(
        self,
        batch: Mapping[ModuleID, Mapping[str, Any]],
        *,
        num_env_steps_sampled_lifetime: int = 0,
        return_td_errors: bool = False,
    ) -> dict[ModuleID, Any]:
        """Not available: replay-based learners are refused when the group is built."""
        raise ConfigError(_OFF_POLICY_MESSAGE.format(name="this learner group", n=len(self._actors)))

    def set_learning_rates(self, num_env_steps: int) -> None:
        """Not available (replay-based learners only); see :meth:`update_from_replay`."""
        raise ConfigError(_OFF_POLICY_MESSAGE.format(name="this learner group", n=len(self._actors)))

    def collect_results(self) -> dict[ModuleID, dict[str, float]]:
        """Not available (replay-based learners only); see :meth:`update_from_replay`."""
        raise ConfigError(_OFF_POLICY_MESSAGE.format(name="this learner group", n=len(self._actors)))

    @property
    def num_env_steps_trained(self) -> int:
        """Env steps trained on over the group's life (each batch counted once, not per learner)."""
        return self._num_env_steps_trained

    # ------------------------------------------------------------------ modules and weights
    def get_weights(self, module_ids: Collection[ModuleID] | None = None) -> dict[ModuleID, Any]:
        """``{module_id: inference-only weights}`` (numpy) from rank 0; all modules by default."""
        if self._weights is None:
            self._weights = self._call("get_weights")[0] if not self._module_fresh else self._local_weights()
        weights = dict(self._weights)
        if module_ids is None:
            return weights
        return {mid: w for mid, w in weights.items() if mid in module_ids}

    def _local_weights(self) -> dict[ModuleID, Any]:
        return {mid: self._module[mid].get_state(inference_only=True) for mid in self._module}

    def set_weights(self, weights: Mapping[ModuleID, Any]) -> None:
        """Load ``{module_id: weights}`` into every learner (modules not named keep theirs)."""
        self._call("set_weights", ray.put(dict(weights)))
        self._weights, self._module_fresh = None, False

    def get_module(self, module_id: ModuleID | None = None) -> MultiRLModule | RLModule:
        """A copy in this process of the learners' module ``module_id`` (None: the whole
        MultiRLModule), with rank 0's current weights. Changing it does not change the
        learners: use :meth:`set_weights`."""
        if not self._module_fresh:
            self._module.set_state(writable_arrays(self._call("get_module_state")[0]))
            self._module_fresh = True
        return self._module if module_id is None else self._module[module_id]

    @property
    def module_ids(self) -> list[ModuleID]:
        """The ids of the modules the learners hold (trained or not)."""
        return list(self._module.keys())

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, Any]:
        """Rank 0's learner state: ``rl_module`` (full weights), ``optimizers``, ``extra``,
        counters (``num_env_steps_trained`` of the whole group). Same format as the local group."""
        return writable_arrays(self._call("get_state")[0])

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`get_state` (of a local or remote group) on every learner."""
        self._call("set_state", ray.put(dict(state)))
        self._num_env_steps_trained = int(state.get("num_env_steps_trained", 0))
        self._weights, self._module_fresh = None, False

    def get_rng_state(self) -> dict[str, Any]:
        """Rank 0's RNG states (a checkpoint's ``owned.learner``); every learner has the same."""
        return writable_arrays(self._call("get_rng_state")[0])

    def set_rng_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`get_rng_state` on every learner."""
        self._call("set_rng_state", ray.put(dict(state)))

    def shutdown(self) -> None:
        """Leave the process group and stop the learner actors (safe to call twice)."""
        if self._failure is None and self._actors:
            refs = [actor.close.remote() for actor in self._actors]
            with contextlib.suppress(Exception):  # dying actors
                ray.wait(refs, num_returns=len(refs), timeout=CLOSE_TIMEOUT_S)
        self._kill_actors()
        self._actors = []
        self._failure = self._failure or "the learner group was shut down (Algorithm.stop())"


_OFF_POLICY_MESSAGE = (
    "{name}: num_learners={n} trains on-policy learners (PPO, PG) data-parallel on Ray; replay-based "
    "learners (DQN, SAC) take one gradient step per replayed batch in the training process. Set "
    ".learners(num_learners=0) (and .resources(device='cuda') for a GPU)."
)


def _check_settings(learner_class: type, config: Any) -> None:
    """Refuse what remote learners cannot do: train replay-based learners, share a GPU."""
    if issubclass(learner_class, OffPolicyLearner):
        raise ConfigError(_OFF_POLICY_MESSAGE.format(name=learner_class.__name__, n=config.num_learners))
    gpus = config.num_gpus_per_learner
    if config.num_learners > 1 and 0 < gpus < 1:
        raise ConfigError(
            f"{type(config).__name__}: num_gpus_per_learner={gpus:g} with num_learners={config.num_learners} "
            "puts several learners on one GPU, and NCCL cannot reduce gradients between learners that "
            "share a GPU. Give each learner a whole GPU (num_gpus_per_learner=1), or use one learner "
            "(num_learners=1), or train on CPUs (num_gpus_per_learner=0)."
        )


def shard_batch(
    batch: Mapping[ModuleID, Mapping[str, Any]], num_shards: int
) -> tuple[list[dict[ModuleID, dict[str, Any]]], dict[ModuleID, int]]:
    """Each learner's ``{module_id: shard}`` and ``{module_id: rows of the whole batch}``.

    Every learner gets every module: where a module has fewer streams than there are
    learners, the learners without a stream get a copy of the first shard with
    ``loss_mask`` all False (it adds nothing to the loss, the gradients or the statistics,
    but keeps the learners' collectives in step).
    """
    shards: list[dict[ModuleID, dict[str, Any]]] = [{} for _ in range(num_shards)]
    rows: dict[ModuleID, int] = {}
    for mid, module_batch in batch.items():
        rewards = np.shape(module_batch[Columns.REWARDS])
        rows[mid] = int(rewards[0] * rewards[1])
        pieces = split_streams(module_batch, num_shards)
        widths = shard_widths(int(rewards[1]), num_shards)
        if min(widths) == 0 and max(widths) > 0:
            pieces = _fill_empty(pieces, widths)
        for shard, piece in zip(shards, pieces):
            shard[mid] = piece
    return shards, rows


def _fill_empty(pieces: list[dict[str, Any]], widths: list[int]) -> list[dict[str, Any]]:
    """Replace zero-stream shards by a fully masked copy of the first shard."""
    for piece, width in zip(pieces, widths):
        if width and Columns.LOSS_MASK not in piece:  # no mask: every row counts
            piece[Columns.LOSS_MASK] = np.ones(np.shape(piece[Columns.REWARDS])[:2], dtype=bool)
    dummy = dict(pieces[0])
    dummy[Columns.LOSS_MASK] = np.zeros_like(dummy[Columns.LOSS_MASK], dtype=bool)
    return [piece if width else dummy for piece, width in zip(pieces, widths)]
