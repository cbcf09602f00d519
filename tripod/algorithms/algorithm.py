"""Algorithm: runs the loop sample → learn → sync weights, and owns metrics and checkpoints."""

from __future__ import annotations

import functools
import os
import time
from collections import deque
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import torch

from tripod.algorithms import scale_out
from tripod.algorithms.algorithm_config import AlgorithmConfig
from tripod.algorithms.connector_sync import ConnectorSync
from tripod.algorithms.multi_agent import (
    AgentReturnWindows,
    check_supported,
    default_module_spec,
    evaluation_results,
    learner_module_spec,
    make_env_runner,
    modules_to_train,
)
from tripod.callbacks.callbacks import callback_hooks, make_callbacks
from tripod.core.rl_module.rl_module import DEFAULT_MODULE_ID, ModuleID, RLModule
from tripod.env.env_runner import CUSTOM_METRICS
from tripod.io.checkpoint import (
    atomic_directory,
    class_path,
    load_state,
    read_metadata,
    save_state,
    write_metadata,
)
from tripod.io.checkpoint_trust import check_checkpoint, write_manifest
from tripod.io.seeding import (
    ALGORITHM_STREAM,
    GlobalRNGScope,
    get_rng_state,
    seed_everything,
    set_rng_state,
)
from tripod.learner.learner import Learner
from tripod.utils.metrics.metrics_logger import MetricsLogger

KIND_ALGORITHM = "algorithm"
EVAL_SEED_OFFSET = 10_000
#: Entries of env runner groups' metrics that go into ``result["env_runners"]`` as they are (the
#: remote group reports all of them, the local one the lifetime sub-env restarts).
RUNNER_GROUP_KEYS = (
    "num_healthy_env_runners",
    "num_env_runner_restarts",
    "num_env_runner_restarts_lifetime",
    "num_env_restarts_lifetime",
    "weights_seq_no",
    "weights_staleness",
)


class Algorithm:
    """Base class of tripod's algorithms.

    Build one with ``SomeConfig().environment(...).build_algo()``; call
    :meth:`train` for one iteration (sample, update, sync weights) and
    :meth:`evaluate` for greedy episodes. Subclasses set ``config_class``,
    ``learner_class`` and ``default_module_class`` and may override
    :meth:`training_step`.

    The algorithm is the driver: it talks to its env runners only through
    :attr:`env_runner_group` (:class:`~tripod.env.env_runner_group.EnvRunnerGroup`)
    and to its learners only through :attr:`learner_group`
    (:class:`~tripod.learner.learner_group.LearnerGroup`); batches, weights and
    state dicts are all that cross. Single- and multi-agent configs run the same code.

    Attributes:
        env_runner_group: The runners that sample (``sample()`` returns ``{module_id: batch}``).
        learner_group: The learners that train (``update({module_id: batch})``).
        module_spec: The learner's module spec (spaces filled in from the env).
    """

    config_class: type[AlgorithmConfig] = AlgorithmConfig
    learner_class: type[Learner] = Learner
    default_module_class: type[RLModule] | None = None
    #: Whether the algorithm trains multi-agent configs (replay-based ones do not yet).
    supports_multi_agent: bool = True

    def __init__(self, config: AlgorithmConfig) -> None:
        config.validate()
        self.config = config
        if config.num_torch_threads is not None:
            torch.set_num_threads(config.num_torch_threads)
        seed_everything(config.seed)
        # The global RNG states this algorithm, its env runner and its learner draw from:
        # swapped in once per train() call, so interleaved algorithms do not disturb each other.
        self.global_rng = GlobalRNGScope(config.seed, ALGORITHM_STREAM)
        self.iteration = 0
        self.num_env_steps_sampled_lifetime = 0
        self.num_episodes_lifetime = 0
        self.time_total_s = 0.0
        self._returns: deque[float] = deque(maxlen=config.metrics_window)
        self._lens: deque[float] = deque(maxlen=config.metrics_window)
        self._agent_windows = AgentReturnWindows(config.metrics_window)
        self._eval_group: Any = None
        self._next_sample: Any = None  # async_sampling: the sample call in flight
        self._connectors = ConnectorSync(config)  # connector statistics between runners and checkpoints
        check_supported(type(self).__name__, self.supports_multi_agent, config)
        self.callbacks = make_callbacks(config.callbacks_class)
        self._hooks = callback_hooks(self.callbacks)
        #: Custom metrics the algorithm's callbacks log (``on_train_result`` ...): top level of results.
        self.metrics = MetricsLogger()
        self._runner_metrics = MetricsLogger()  # the env runners' custom metrics, merged
        with self.global_rng:
            self._build_groups()
        self._callback("on_algorithm_init", metrics_logger=self.metrics)

    def _callback(self, hook: str, **kwargs: Any) -> None:
        """Call ``hook`` of the callbacks if it is overridden (``algorithm=self`` added)."""
        if hook in self._hooks:
            getattr(self.callbacks, hook)(algorithm=self, **kwargs)

    def _build_groups(self) -> None:
        """The env runner group, module spec and learner group, built in :attr:`global_rng`
        (module init draws from it)."""
        config = self.config
        self._runner_spec = default_module_spec(
            config, self.default_module_class, functools.partial(self.default_model_config, config)
        )
        make_runner = functools.partial(make_env_runner, config, self._runner_spec, seed=config.seed)
        self.env_runner_group = scale_out.env_runner_group(
            config,
            make_runner,
            num_env_runners=config.num_env_runners,
            make_local_runner=functools.partial(make_runner, global_rng=self.global_rng),
        )
        self.module_spec = learner_module_spec(self._runner_spec, *self.env_runner_group.get_spaces())
        self.learner_group = scale_out.learner_group(
            self.learner_class,
            config=config,
            module_spec=self.module_spec,
            module_ids_to_train=modules_to_train(config),
            global_rng=self.global_rng,
        )
        self._sync_weights()

    @classmethod
    def default_model_config(cls, config: AlgorithmConfig, module_class: type | None) -> dict[str, Any]:
        """The ``model_config`` a module gets when its spec has none: ``config.model_config``.

        Algorithms may add their settings for their own default module (DQN: ``dueling``). A
        classmethod, so that a runner built from a config alone gets the same (RLlib's
        ``SingleAgentEnvRunner(config=...)``).
        """
        return dict(config.model_config)

    # ---------------------------------------------------------------- weights
    def get_weights(self, module_ids: Collection[ModuleID] | None = None) -> dict[ModuleID, Any]:
        """``{module_id: inference-only weights}`` of the trained modules (all by default)."""
        return self.learner_group.get_weights(module_ids)

    def set_weights(self, weights: Mapping[ModuleID, Any]) -> None:
        """Load ``{module_id: weights}`` into the learners and send them on to the env runners."""
        self.learner_group.set_weights(weights)
        self._sync_weights()

    def exploration_values(self) -> dict[str, Any]:
        """Exploration settings the env runners' modules sample with, computed from the global step
        (DQN: ``{"epsilon": ...}``); sent with the weights. None by default."""
        return {}

    def _sync_weights(self, *, weights: bool = True) -> None:
        """Send the learners' weights (``weights=True``) and :meth:`exploration_values` to the env runners."""
        state: dict[str, Any] = {"rl_module": self.learner_group.get_weights()} if weights else {}
        exploration = self.exploration_values()
        if exploration:
            state["exploration"] = exploration
        if state:
            self.env_runner_group.sync_weights(state)

    # --------------------------------------------------------------- training
    def training_step(self) -> dict[str, Any]:
        """One iteration's work: sample ``train_batch_size_per_learner`` steps, update, sync.

        With ``async_sampling`` the runners sample the next batch while the learner updates
        on this one, with the weights of the iteration before (``weights_staleness`` 1).
        """
        t0 = time.perf_counter()
        batch = self._sample_batch()
        t1 = time.perf_counter()
        runner_metrics = self.env_runner_group.get_metrics()
        self.num_env_steps_sampled_lifetime += runner_metrics["num_env_steps_sampled"]
        self._connectors.after_sample(self.env_runner_group)
        if self.config.async_sampling:
            self._next_sample = self.env_runner_group.sample_async(num_timesteps=self._batch_steps())
        learner_results = self.learner_group.update(
            batch, num_env_steps_sampled_lifetime=self.num_env_steps_sampled_lifetime
        )
        self._sync_weights()
        t2 = time.perf_counter()
        return {
            "env_runner_metrics": runner_metrics,
            "learners": learner_results,
            "timers": {"sample_time_s": t1 - t0, "learn_time_s": t2 - t1},
        }

    def _batch_steps(self) -> int:
        """Env steps per iteration: ``train_batch_size_per_learner`` for each learner (as in RLlib)."""
        return self.config.train_batch_size_per_learner * max(1, self.config.num_learners)

    def _sample_batch(self) -> Any:
        """This iteration's batch: the one sampled ahead (``async_sampling``) or a fresh one."""
        pending, self._next_sample = self._next_sample, None
        if pending is not None:
            return pending.get()
        return self.env_runner_group.sample(num_timesteps=self._batch_steps())

    def train(self) -> dict[str, Any]:
        """Run one training iteration; returns RLlib-style results.

        Keys: ``env_runners`` (``episode_return_mean`` and ``episode_len_mean``
        over the last ``metrics_window`` episodes, ...), ``learners``
        (per-module losses), ``num_env_steps_sampled_lifetime``,
        ``training_iteration``, ``time_this_iter_s``, ``perf``, and
        ``evaluation`` on evaluation iterations.
        """
        t0 = time.perf_counter()
        interval = self.config.evaluation_interval
        evaluating = bool(interval) and (self.iteration + 1) % interval == 0
        parallel = evaluating and self.config.evaluation_parallel_to_training
        pending_eval = self._start_evaluation() if parallel else None
        with self.global_rng:  # once per iteration; the runner's and learner's own calls then cost nothing
            step = self.training_step()
        runner = step["env_runner_metrics"]
        self._record_episodes(runner)
        self.iteration += 1
        elapsed = time.perf_counter() - t0
        self.time_total_s += elapsed
        result = {
            "training_iteration": self.iteration,
            "env_runners": self._env_runner_results(runner),
            "learners": step["learners"],
            "num_env_steps_sampled_lifetime": self.num_env_steps_sampled_lifetime,
            "num_env_steps_trained_lifetime": self.learner_group.num_env_steps_trained,
            "num_episodes_lifetime": self.num_episodes_lifetime,
            "time_this_iter_s": elapsed,
            "time_total_s": self.time_total_s,
            "perf": {
                "env_steps_per_s": runner["num_env_steps_sampled"] / max(elapsed, 1e-9),
                **step.get("timers", {}),
            },
        }
        if pending_eval is not None:
            result["evaluation"] = self._finish_evaluation(pending_eval)
        elif evaluating:
            result["evaluation"] = self.evaluate()
        self._callback("on_train_result", metrics_logger=self.metrics, result=result)
        result.update(self.metrics.reduce())
        return result

    def _record_episodes(self, runner: dict[str, Any]) -> None:
        returns = runner.get("episode_returns", [])
        self._returns.extend(float(r) for r in returns)
        self._lens.extend(float(n) for n in runner.get("episode_lens", []))
        self.num_episodes_lifetime += len(returns)
        self._agent_windows.record(runner)

    def _env_runner_results(self, runner: dict[str, Any]) -> dict[str, Any]:
        def stat(fn, values):
            return float(fn(values)) if len(values) else float("nan")

        return {
            **self._agent_windows.results(runner),
            "episode_return_mean": stat(np.mean, self._returns),
            "episode_return_min": stat(np.min, self._returns),
            "episode_return_max": stat(np.max, self._returns),
            "episode_len_mean": stat(np.mean, self._lens),
            "num_episodes": len(runner.get("episode_returns", [])),
            "num_episodes_lifetime": self.num_episodes_lifetime,
            "num_env_steps_sampled": runner["num_env_steps_sampled"],
            "num_env_steps_sampled_lifetime": self.num_env_steps_sampled_lifetime,
            "num_env_restarts": runner.get("num_env_restarts", 0),
            **{key: runner[key] for key in RUNNER_GROUP_KEYS if key in runner},
            **self._custom_runner_metrics(runner),
        }

    def _custom_runner_metrics(self, runner: dict[str, Any]) -> dict[str, Any]:
        """The custom metrics the env runners' callbacks logged, reduced over this iteration."""
        if CUSTOM_METRICS in runner:
            self._runner_metrics.merge_values(runner[CUSTOM_METRICS])
        return self._runner_metrics.reduce()

    # ------------------------------------------------------------- evaluation
    def evaluate(self, num_episodes: int | None = None) -> dict[str, Any]:
        """Run greedy (``forward_inference``) episodes; returns ``{"env_runners": {...}}``.

        On the evaluation runners (``evaluation_num_env_runners``; 0: in this process), with the
        learners' current weights; ``num_episodes`` defaults to ``evaluation_duration``.
        """
        return self._finish_evaluation(self._start_evaluation(num_episodes))

    def _finish_evaluation(self, pending: Any) -> dict[str, Any]:
        results = self._evaluation_results(pending.get())
        self._callback("on_evaluate_end", metrics_logger=self.metrics, evaluation_metrics=results)
        return results

    def _start_evaluation(self, num_episodes: int | None = None) -> Any:
        """Send the weights to the evaluation runners and start their episodes (a sample handle)."""
        self._callback("on_evaluate_start", metrics_logger=self.metrics)
        config = self.config
        if self._eval_group is None:
            seed = None if config.seed is None else config.seed + EVAL_SEED_OFFSET
            make = functools.partial(make_env_runner, config, self._runner_spec, seed=seed, index_offset=1)
            self._eval_group = scale_out.env_runner_group(
                config, make, num_env_runners=config.evaluation_num_env_runners,
                name="evaluation_num_env_runners",
            )  # fmt: skip
        self._eval_group.sync_weights(
            {"rl_module": self.learner_group.get_weights(), **self._connectors.state_for_evaluation(self.env_runner_group)}
        )
        n = num_episodes or config.evaluation_duration
        return self._eval_group.sample_async(num_episodes=n, explore=False)

    def _evaluation_results(self, out: dict[str, Any]) -> dict[str, Any]:
        return {"env_runners": evaluation_results(out)}

    # ------------------------------------------------------------- accessors
    def get_module(self, module_id: ModuleID = DEFAULT_MODULE_ID) -> RLModule:
        """The learner's (trained) module."""
        return self.learner_group.get_module(module_id)

    # -------------------------------------------------------------- inference
    def compute_single_action(
        self,
        observation: Any,
        state: Any = None,
        *,
        explore: bool = False,
        policy_id: ModuleID | None = None,
        module_id: ModuleID | None = None,
        full_fetch: bool = False,
    ) -> Any:
        """The trained module's action for one (unbatched) observation, as in RLlib's old API stack.

        Greedy by default (RLlib's default follows ``config.explore``); ``explore=True`` samples.
        Returns the action, or RLlib's ``(action, state_out, {})`` when the module is stateful,
        ``state`` is given or ``full_fetch=True`` (``state_out`` is ``[]`` for stateless modules).
        Pass ``state_out`` back as ``state``; ``state=None`` starts from the initial state.
        ``module_id`` (or RLlib's ``policy_id``) picks the module of a multi-agent config.
        See :func:`tripod.data.inference.compute_actions`.
        """
        from tripod.algorithms.inference_api import pick_module_id, single_action

        mid = pick_module_id(policy_id, module_id)
        return single_action(self, observation, state, mid, explore, full_fetch)

    def compute_actions(
        self,
        observations: Any,
        state: Any = None,
        *,
        explore: bool = False,
        episode_start: Any = None,
        policy_id: ModuleID | None = None,
        module_id: ModuleID | None = None,
    ) -> Any:
        """Actions for a batch of observations ``[B, ...]`` (a single one works too).

        Returns the actions, or ``(actions, state_out)`` for a stateful module (``state``:
        the previous ``state_out``, ``episode_start``: bools ``[B]`` resetting those rows).
        Multi-agent configs: ``{agent_id: observation}`` without ``module_id`` returns
        ``{agent_id: action}``, each agent's module chosen by ``policy_mapping_fn``
        (stateless modules only). See :func:`tripod.data.inference.compute_actions`.
        """
        from tripod.algorithms.inference_api import (
            agent_actions,
            is_agent_dict,
            pick_module_id,
            through_connectors,
        )
        from tripod.data.inference import compute_actions

        if is_agent_dict(self, observations, module_id or policy_id):
            return agent_actions(self, observations, explore)
        chosen = pick_module_id(policy_id, module_id)
        module = self.get_module(chosen)
        observations = through_connectors(self, observations, chosen)
        return compute_actions(module, observations, explore=explore, state=state, episode_start=episode_start)

    def connector_pipeline(self, cached: bool = False, module_id: str | None = None) -> Any:
        """A fresh env-to-module connector pipeline for one env, with the env runners' current
        statistics (None without connectors): what inference outside the runners applies.
        ``cached``: reuse the one built for the same statistics (stateless use only);
        ``module_id``: that module's pipeline (multi-agent runs, where each module has its own;
        ignored otherwise)."""
        return self._connectors.inference_pipeline(self.env_runner_group, self.module_spec, cached, module_id)

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
        *,
        module_id: ModuleID = DEFAULT_MODULE_ID,
    ) -> tuple[Any, Any]:
        """Stable-Baselines3's ``predict``: ``(actions, state)`` for one observation or a batch.

        ``state`` is None for stateless modules; for stateful ones pass it back in, with
        ``episode_start`` (bools) where a new episode begins.
        """
        out = self.compute_actions(
            observation, state, explore=not deterministic, episode_start=episode_start, module_id=module_id
        )
        return out if self.get_module(module_id).is_stateful() else (out, None)

    def stop(self) -> None:
        """Close environments."""
        self.env_runner_group.stop()
        if self._eval_group is not None:
            self._eval_group.stop()
        self.learner_group.shutdown()

    # ------------------------------------------------------------ checkpoints
    def get_state(self) -> dict[str, Any]:
        """Counters and metric windows (module and optimizer state live with the learner)."""
        return {
            "iteration": self.iteration,
            "num_env_steps_sampled_lifetime": self.num_env_steps_sampled_lifetime,
            "num_episodes_lifetime": self.num_episodes_lifetime,
            "time_total_s": self.time_total_s,
            "returns_window": list(self._returns),
            "lens_window": list(self._lens),
            "agent_windows": self._agent_windows.get_state(),
        }

    def save_to_path(self, path: str, *, overwrite: bool = True) -> str:
        """Write a checkpoint to directory ``path`` atomically; returns ``path``.

        Holds the config (JSON), the module (safetensors), optimizer states,
        counters and RNG states. A previous algorithm checkpoint at ``path`` is
        replaced when ``overwrite`` is true (the default, as in RLlib), else refused;
        an older checkpoint survives a failed write (``CheckpointSaveError``). An
        existing non-empty directory that is not a tripod algorithm checkpoint is
        never replaced: ``OverwriteError``, even with ``overwrite=True``.
        """
        from tripod.core.rl_module.module_io import save_module

        path = os.fspath(path)
        with atomic_directory(path, kinds=(KIND_ALGORITHM,), overwrite=overwrite) as tmp:
            save_module(self.learner_group.get_module(), os.path.join(tmp, "module"))
            learner_state = self.learner_group.get_state()
            learner_state.pop("rl_module")
            save_state(tmp, "learner_state", learner_state)
            save_state(tmp, "rng_state", self.get_rng_state())
            self._connectors.save(tmp, self.env_runner_group)
            self.save_extra_state(tmp)
            write_metadata(
                tmp,
                {
                    "kind": KIND_ALGORITHM,
                    "class": class_path(type(self)),
                    "config": self.config.to_dict(),
                    "state": self.get_state(),
                },
            )
            write_manifest(tmp)  # last: the SHA-256 of every file above, checked on load
        return path

    def restore_from_path(self, path: str, *, _checked: bool = False) -> None:
        """Load module weights, optimizer states, counters and RNG states from ``path``.

        Only weights and numbers are read: nothing the checkpoint names is imported.

        Raises:
            CheckpointError: The checkpoint is missing or damaged (naming the file), or
                it was written by another algorithm class or for modules with other
                ids or spaces (naming both).
        """
        from tripod.algorithms.checkpoint_restore import check_fits, checked_state, damaged
        from tripod.core.rl_module.module_io import load_module_state

        path = os.fspath(path)
        if not _checked:
            check_checkpoint(path)
        meta = read_metadata(path, expected_kind=KIND_ALGORITHM)
        check_fits(self, meta, path)
        self._next_sample = None  # async_sampling: a batch sampled before the restore is not used
        state = checked_state(meta, path)
        learner_state = load_state(path, "learner_state")
        learner_state["rl_module"] = load_module_state(os.path.join(path, "module"), _checked=True)
        rng_state = load_state(path, "rng_state")
        with damaged(path, "learner_state (learner_state.json/.safetensors, module/)"):
            self.learner_group.set_state(learner_state)
        self.iteration = state["iteration"]
        self.num_env_steps_sampled_lifetime = state["num_env_steps_sampled_lifetime"]
        self.num_episodes_lifetime = state["num_episodes_lifetime"]
        self.time_total_s = state["time_total_s"]
        for window, key in ((self._returns, "returns_window"), (self._lens, "lens_window")):
            window.clear()
            window.extend(state[key])
        with damaged(path, "the metadata.json 'state' entry 'agent_windows'"):
            self._agent_windows.set_state(state.get("agent_windows", {}))
        with damaged(path, "rng_state (rng_state.json/.safetensors)"):
            self.set_rng_state(rng_state)
        with damaged(path, "connector_state (connector_state.json/.safetensors)"):
            self._connectors.restore(path, self.env_runner_group)
        with damaged(path, "the algorithm's extra state"):
            self.restore_extra_state(path, state)
        self._sync_weights()
        self._callback("on_checkpoint_loaded")

    def get_rng_state(self) -> dict[str, Any]:
        """What ``rng_state`` in a checkpoint holds: the process-global RNG states (``torch``,
        ``numpy``, ``python``) and, under ``owned``, the states of the generators the
        algorithm, its env runner and its learner own (see :class:`~tripod.io.seeding.GlobalRNGScope`).
        """
        return {
            **get_rng_state(),
            "owned": {
                "algorithm": self.global_rng.get_state(),
                "env_runner": self.env_runner_group.get_rng_state(),
                "learner": self.learner_group.get_rng_state(),
            },
        }

    def set_rng_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_rng_state`; a checkpoint without ``owned`` states (older tripod) keeps the fresh ones.

        Raises:
            ValueError: If a state is incomplete or damaged.
        """
        owned = state.get("owned")
        if owned is not None:
            parts = ("algorithm", "env_runner", "learner")
            missing = [k for k in parts if not isinstance(owned, dict) or k not in owned]
            if missing:
                raise ValueError(f"the 'owned' RNG states lack {', '.join(map(repr, missing))}.")
            self.global_rng.set_state(owned["algorithm"])
            self.env_runner_group.set_rng_state(owned["env_runner"])
            self.learner_group.set_rng_state(owned["learner"])
        set_rng_state(state)

    def save_extra_state(self, directory: str) -> None:
        """Write algorithm-specific files (e.g. a replay buffer) into a checkpoint being written."""

    def restore_extra_state(self, directory: str, state: dict[str, Any]) -> None:
        """Read what :meth:`save_extra_state` wrote; ``state`` is the saved :meth:`get_state`."""

    @classmethod
    def from_checkpoint(
        cls,
        path: str,
        *,
        config_overrides: dict[str, Any] | None = None,
        module_class: Any = None,
        trusted: bool = False,
    ) -> Algorithm:
        """Rebuild the algorithm saved at ``path`` and restore its state.

        Loading never imports, calls or executes anything the checkpoint names,
        except tripod's own classes, RLModule subclasses, gymnasium envs and env
        creators this process has already imported or registered, and registered
        gymnasium env ids (docs/checkpoints.md, "Security"). Pass anything else in,
        or opt in with ``trusted=True``.

        Args:
            path: The checkpoint directory.
            config_overrides: Config fields to use instead of the saved ones (e.g. an
                env creator or a ``policy_mapping_fn``); their saved values are not read.
            module_class: The RLModule class to build instead of the saved one (for a
                class defined in ``__main__`` or in a module not imported); for
                multi-agent configs ``{module_id: class}``.
            trusted: Import whatever the checkpoint names (the classes and functions
                of its config). Only for checkpoints from a source you trust.

        Raises:
            CheckpointError: The checkpoint is missing, damaged or tampered with, or
                names code it may not load (``UntrustedCheckpointError``, which says
                what to pass).
        """
        from tripod.algorithms.checkpoint_restore import build_from_checkpoint

        path = os.fspath(path)
        check_checkpoint(path)
        meta = read_metadata(path, expected_kind=KIND_ALGORITHM)
        algo = build_from_checkpoint(
            cls, meta, path, base=Algorithm, config_overrides=config_overrides, module_class=module_class, trusted=trusted
        )
        algo.restore_from_path(path, _checked=True)
        return algo
