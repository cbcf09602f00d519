"""One data-parallel learner in its own process: the Ray actor of a
:class:`~tripod.distributed.learner_group.RemoteLearnerGroup`, and the mix-in that makes an
algorithm's :class:`~tripod.learner.learner.Learner` average gradients with its peers.

Why no ``DistributedDataParallel`` wrapper: tripod's learner calls the module's
``forward_train``/``compute_values`` and the loss itself, once per minibatch, and steps its
own optimizers, so there is no single ``forward`` for DDP to wrap. DDP's work — all-reduce
the gradients once per optimizer step, in one flat bucket, before the step — happens in
:meth:`DataParallelLearner.reduce_gradients`, between ``backward()`` and gradient clipping.
That is the same arithmetic as DDP, with one difference that makes it exact: each learner's
gradient is weighted by its share of the minibatch's real (``loss_mask``) rows, so that the
result is the gradient of the loss over all shards together, even when shards differ in size.
"""

from __future__ import annotations

import datetime
import socket
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from tripod.core.columns import Columns
from tripod.core.rl_module.multi_rl_module import MultiRLModule
from tripod.core.rl_module.rl_module import ModuleID
from tripod.data.batch import batch_size, tree_map
from tripod.learner.advantages import batch_statistics_summed_with
from tripod.learner.learner import Learner

__all__ = ["DataParallelLearner", "LearnerActor", "data_parallel_class", "writable_arrays"]

#: How long learners wait for each other in ``init_process_group`` and in each collective.
COLLECTIVE_TIMEOUT = datetime.timedelta(minutes=30)


def _real_rows(batch: Mapping[str, Any] | None) -> float:
    """Rows of ``batch`` that count in the loss: ``loss_mask`` ones, or all rows without a mask."""
    if not batch or batch_size(batch, Columns.OBS) == 0:
        return 0.0
    mask = batch.get(Columns.LOSS_MASK)
    return float(batch_size(batch, Columns.OBS)) if mask is None else float(mask.sum())


class DataParallelLearner:
    """Mixed in before an algorithm's learner class (see :func:`data_parallel_class`).

    Every learner holds a full copy of the modules and trains on its own shard of each
    batch; the process group (``torch.distributed``, gloo or nccl) must be initialised
    before the first :meth:`~tripod.learner.learner.Learner.update`. Overrides the
    data-parallel hooks of :class:`~tripod.learner.learner.Learner`:

    - :meth:`reduce_gradients`: one all-reduce per optimizer step of a flat bucket holding
      every trained parameter's gradient times the learner's real-row count, plus the
      counts, then divided by the total: the gradient of the mean loss over all shards
      (losses must be means over real rows, as tripod's are).
    - :meth:`sum_across_learners` and :meth:`postprocess`: batch-wide statistics
      (advantage normalisation) over the whole batch.
    - :meth:`num_minibatches`: the largest count over the learners, so all step together.
    - :meth:`after_update`: the statistics of all learners, weighted by their real rows, so
      that every learner adapts (e.g. PPO's KL coefficient) from the same numbers.
    """

    data_parallel = True

    def num_minibatches(self, sizes: Mapping[ModuleID, int]) -> int:
        """The largest minibatch count over all learners."""
        local = super().num_minibatches(sizes)  # type: ignore[misc]
        count = torch.tensor([local], dtype=torch.int64, device=self.device)  # type: ignore[attr-defined]
        dist.all_reduce(count, op=dist.ReduceOp.MAX)
        return int(count.item())

    def sum_across_learners(self, value: torch.Tensor) -> torch.Tensor:
        """``value`` summed over all learners (a new tensor)."""
        out = value.detach().clone()
        dist.all_reduce(out)
        return out

    def postprocess(self, module_id: ModuleID, batch: Mapping[str, Any]) -> dict[str, Any]:
        """The algorithm's postprocessing, with batch-wide statistics over all shards."""
        with batch_statistics_summed_with(self.sum_across_learners):
            out = super().postprocess(module_id, batch)  # type: ignore[misc]
        self._shard_rows = {**getattr(self, "_shard_rows", {}), module_id: _real_rows(out)}
        return out

    def reduce_gradients(self, minibatch: Mapping[ModuleID, Mapping[str, Any]]) -> None:
        """Replace each trained parameter's grad by the gradient of the loss over all shards."""
        groups = [(mid, self._params[mid]) for mid in self.optimizers]  # type: ignore[attr-defined]
        params = [p for _, ps in groups for p in ps]
        if not params:
            return
        counts = [_real_rows(minibatch.get(mid)) for mid, _ in groups]
        dtype = params[0].dtype
        for p in params[1:]:
            dtype = torch.promote_types(dtype, p.dtype)
        pieces = []
        for (_, ps), n in zip(groups, counts):
            pieces += [
                torch.zeros(p.numel(), dtype=dtype, device=p.device)
                if p.grad is None
                else p.grad.detach().reshape(-1).to(dtype) * n
                for p in ps
            ]
        flags = [float(p.grad is not None) for p in params]
        bucket = torch.cat([*pieces, torch.tensor(flags + counts, dtype=dtype, device=params[0].device)])
        dist.all_reduce(bucket)
        self._unpack_gradients(groups, bucket)

    @staticmethod
    def _unpack_gradients(groups: list[tuple[ModuleID, list[torch.Tensor]]], bucket: torch.Tensor) -> None:
        num_params = sum(len(ps) for _, ps in groups)
        tail = bucket[bucket.numel() - num_params - len(groups) :].tolist()
        flags, totals = tail[:num_params], tail[num_params:]
        offset, k = 0, 0
        for (_, ps), total in zip(groups, totals):
            for p in ps:
                size = p.numel()
                if flags[k] > 0:
                    p.grad = (bucket[offset : offset + size] / max(total, 1.0)).view_as(p).to(p.dtype)
                else:
                    p.grad = None  # no learner computed one: the optimizer skips the parameter
                offset += size
                k += 1

    def after_update(self, results: dict[ModuleID, dict[str, float]]) -> None:
        """Replace ``results`` by the statistics of all learners, then the algorithm's own hook."""
        gathered: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, (results, getattr(self, "_shard_rows", {})))
        combined = _weighted_results(gathered)
        results.clear()
        results.update(combined)
        super().after_update(results)  # type: ignore[misc]


def _weighted_results(gathered: Iterable[tuple[dict, dict]]) -> dict[ModuleID, dict[str, float]]:
    """Per module and statistic, the mean over learners weighted by their real rows."""
    per_module: dict[ModuleID, list[tuple[dict, float]]] = {}
    for results, rows in gathered:
        for mid, stats in results.items():
            per_module.setdefault(mid, []).append((stats, float(rows.get(mid, 0.0))))
    combined: dict[ModuleID, dict[str, float]] = {}
    for mid, entries in per_module.items():
        names = list(dict.fromkeys(name for stats, _ in entries for name in stats))
        out = {}
        for name in names:
            values = [(float(stats[name]), w) for stats, w in entries if name in stats]
            total = sum(w for _, w in values)
            if all(v == values[0][0] for v, _ in values):
                out[name] = values[0][0]  # the same everywhere (lr, coefficients): kept exactly
            elif total > 0:
                out[name] = sum(v * w for v, w in values) / total
            else:
                out[name] = sum(v for v, _ in values) / len(values)
        combined[mid] = out
    return combined


def data_parallel_class(learner_class: type[Learner]) -> type[Learner]:
    """``learner_class`` with :class:`DataParallelLearner` mixed in (named ``DataParallel<Name>``)."""
    name = f"DataParallel{learner_class.__name__}"
    return type(name, (DataParallelLearner, learner_class), {"__module__": __name__})


def _to_cpu(value: Any) -> Any:
    return tree_map(lambda x: x.detach().cpu() if isinstance(x, torch.Tensor) else x, value)


def writable_arrays(value: Any) -> Any:
    """Copies of the read-only numpy arrays Ray hands out from its object store (zero-copy)."""
    return tree_map(lambda x: x.copy() if isinstance(x, np.ndarray) and not x.flags.writeable else x, value)


class LearnerActor:
    """One learner of a remote group, in its own process (used as ``ray.remote(LearnerActor)``).

    Args:
        learner_class: The algorithm's learner class (data-parallel hooks are mixed in here).
        config: The algorithm config (``device`` is replaced by ``cuda`` when the actor has a GPU).
        module_spec: The module spec; the modules are built from it, then loaded with
            ``initial_state`` so that every learner starts from the driver's weights.
        initial_state: ``MultiRLModule.get_state()`` of the driver's copy.
        module_ids_to_train: As for :class:`~tripod.learner.learner.Learner`.
        rank: This learner's rank (0..world_size-1).
        world_size: How many learners train together.
    """

    def __init__(
        self,
        learner_class: type[Learner],
        config: Any,
        module_spec: Any,
        initial_state: Mapping[ModuleID, Any],
        module_ids_to_train: list[ModuleID] | None,
        rank: int,
        world_size: int,
    ) -> None:
        threads = config.num_torch_threads
        torch.set_num_threads(threads if threads is not None else max(1, int(config.num_cpus_per_learner)))
        self.rank, self.world_size = rank, world_size
        self.backend = "nccl" if config.num_gpus_per_learner > 0 else "gloo"
        # An exception in an actor's constructor reaches the driver only as text (ActorDiedError),
        # so it is kept and raised by ping(), which the group calls first: the driver then gets
        # the learner's own exception (e.g. the TypeError of a module without a value function).
        self._init_error: Exception | None = None
        try:
            self.learner = self._build(learner_class, config, module_spec, initial_state, module_ids_to_train)
        except Exception as err:  # noqa: BLE001
            self._init_error = err

    def _build(
        self,
        learner_class: type[Learner],
        config: Any,
        module_spec: Any,
        initial_state: Mapping[ModuleID, Any],
        module_ids_to_train: list[ModuleID] | None,
    ) -> Learner:
        config = config.copy()
        if self.backend == "nccl":
            torch.cuda.set_device(0)  # Ray makes the actor's GPU(s) visible from index 0
            config.device = "cuda"
        module = module_spec.build()
        multi = module if isinstance(module, MultiRLModule) else module.as_multi_rl_module()
        multi.set_state(writable_arrays(dict(initial_state)))
        extra = {} if module_ids_to_train is None else {"module_ids_to_train": module_ids_to_train}
        return data_parallel_class(learner_class)(config=config, module=multi, **extra)

    # ------------------------------------------------------------------ process group
    def free_address(self) -> tuple[str, int]:
        """``(node ip, free port)`` for the process group's rendezvous (asked of rank 0)."""
        import ray

        ip = ray.util.get_node_ip_address()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((ip, 0))
            return ip, int(sock.getsockname()[1])

    def join(self, ip: str, port: int) -> bool:
        """Join the process group (blocks until every learner has joined)."""
        dist.init_process_group(
            self.backend, init_method=f"tcp://{ip}:{port}", rank=self.rank, world_size=self.world_size,
            timeout=COLLECTIVE_TIMEOUT,
        )  # fmt: skip
        return True

    def close(self) -> None:
        """Leave the process group."""
        if dist.is_initialized():
            dist.destroy_process_group()

    # ------------------------------------------------------------------ training
    def update(
        self,
        shard: Mapping[ModuleID, Mapping[str, Any]],
        rows: Mapping[ModuleID, int],
        num_env_steps_sampled_lifetime: int,
        return_weights: bool,
    ) -> tuple[dict[ModuleID, dict[str, float]], int, dict[ModuleID, Any] | None]:
        """Train on this learner's shard; ``rows`` are the whole batch's rows per module.

        Returns ``(results, num_env_steps_trained, inference weights or None)``: the
        statistics of all learners, and the env steps of the whole batch counted once.
        """
        learner = self.learner
        before = learner.num_env_steps_trained
        shard = writable_arrays(dict(shard))
        results = learner.update(shard, num_env_steps_sampled_lifetime=num_env_steps_sampled_lifetime)
        trained = [mid for mid in shard if mid in learner.optimizers]
        learner.num_env_steps_trained = before + sum(int(rows[mid]) for mid in trained)
        for mid, stats in results.items():
            if mid in rows:
                stats["num_module_steps_trained"] = int(rows[mid]) * learner.config.num_epochs
        weights = learner.get_weights() if return_weights else None
        return results, learner.num_env_steps_trained, weights

    def apply(self, func: Callable[[Learner], Any]) -> Any:
        """``func(learner)`` (``foreach_learner``)."""
        return func(self.learner)

    # ------------------------------------------------------------------ state and weights
    def get_weights(self) -> dict[ModuleID, Any]:
        """Inference-only weights (numpy)."""
        return self.learner.get_weights()

    def get_module_state(self) -> dict[ModuleID, Any]:
        """Full module weights (numpy)."""
        return self.learner.get_module().get_state()

    def set_weights(self, weights: Mapping[ModuleID, Any]) -> None:
        """Load ``{module_id: weights}``."""
        self.learner.set_module_weights(writable_arrays(dict(weights)))

    def get_state(self) -> dict[str, Any]:
        """The learner's state, tensors on the CPU."""
        return _to_cpu(self.learner.get_state())

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`get_state`."""
        self.learner.set_state(writable_arrays(dict(state)))

    def get_rng_state(self) -> dict[str, Any]:
        """The learner's RNG states, tensors on the CPU."""
        return _to_cpu(self.learner.get_rng_state())

    def set_rng_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`get_rng_state`."""
        self.learner.set_rng_state(writable_arrays(dict(state)))

    def ping(self) -> bool:
        """True once the learner is built; raises the error that stopped its construction."""
        if self._init_error is not None:
            raise self._init_error
        return True
