"""Algorithm: runs the loop sample → learn → sync weights, and owns metrics and checkpoints."""

from __future__ import annotations

import dataclasses
import os
import time
from collections import deque
from typing import Any

import numpy as np
import torch

from tripod.algorithms.algorithm_config import AlgorithmConfig
from tripod.core.rl_module.multi_rl_module import MultiRLModule, MultiRLModuleSpec
from tripod.core.rl_module.rl_module import DEFAULT_MODULE_ID, ModuleID, RLModule, RLModuleSpec
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

KIND_ALGORITHM = "algorithm"
EVAL_SEED_OFFSET = 10_000


class Algorithm:
    """Base class of tripod's algorithms.

    Build one with ``SomeConfig().environment(...).build_algo()``; call
    :meth:`train` for one iteration (sample, update, sync weights) and
    :meth:`evaluate` for greedy episodes. Subclasses set ``config_class``,
    ``learner_class`` and ``default_module_class`` and may override
    :meth:`training_step`.
    """

    config_class: type[AlgorithmConfig] = AlgorithmConfig
    learner_class: type[Learner] = Learner
    default_module_class: type[RLModule] | None = None

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
        self._eval_runner = None
        self.is_multi_agent = config.is_multi_agent
        self._agent_windows = None
        if self.is_multi_agent:
            from tripod.algorithms import multi_agent

            multi_agent.check_supported(self)
            self._agent_windows = multi_agent.AgentReturnWindows(config.metrics_window)
        with self.global_rng:
            self._build_runner_and_learner()

    def _build_runner_and_learner(self) -> None:
        """The env runner, module and learner, built in :attr:`global_rng` (module init draws from it)."""
        config = self.config
        self.env_runner = self._make_env_runner(seed=config.seed, global_rng=self.global_rng)
        obs_space, act_space = self.env_runner.get_spaces()
        self.module_spec = self._resolve_module_spec(obs_space, act_space)
        module = self.module_spec.build()
        multi = module if isinstance(module, MultiRLModule) else module.as_multi_rl_module()
        extra = {"module_ids_to_train": config.policies_to_train} if self.is_multi_agent else {}
        self.learner = self.learner_class(config=config, module=multi, global_rng=self.global_rng, **extra)
        self._sync_weights()

    # ----------------------------------------------------------------- set-up
    def _resolve_module_spec(self, obs_space, act_space) -> RLModuleSpec | MultiRLModuleSpec:
        if self.is_multi_agent:
            from tripod.algorithms.multi_agent import resolve_spec

            return resolve_spec(self)
        spec = self._spec_with_defaults()
        spec.observation_space = spec.observation_space or obs_space
        spec.action_space = spec.action_space or act_space
        spec.inference_only = False
        return spec

    def _spec_with_defaults(self) -> RLModuleSpec:
        """A copy of the user's spec with the default module class and model_config filled in."""
        user = self.config.rl_module_spec
        spec = dataclasses.replace(user) if user is not None else RLModuleSpec()
        if spec.module_class is None:
            spec.module_class = self.default_module_class
        if spec.model_config is None:
            spec.model_config = self.default_model_config(spec.module_class)
        return spec

    def _make_env_runner(self, *, seed: int | None, worker_index: int = 0, module_spec=None, global_rng=None):
        from tripod.env.single_agent_env_runner import SingleAgentEnvRunner

        if self.is_multi_agent:
            from tripod.algorithms.multi_agent import make_env_runner

            return make_env_runner(self, seed=seed, worker_index=worker_index, global_rng=global_rng)
        c = self.config
        if module_spec is None:
            module_spec = self._spec_with_defaults()
        fragment = c.rollout_fragment_length
        if fragment == "auto":
            fragment = max(1, c.train_batch_size_per_learner // c.num_envs_per_env_runner)
        return SingleAgentEnvRunner(
            c.env,
            env_config=c.env_config,
            module_spec=module_spec,
            num_envs=c.num_envs_per_env_runner,
            vectorize_mode=c.vectorize_mode,
            rollout_fragment_length=fragment,
            seed=seed,
            worker_index=worker_index,
            restart_failed_sub_environments=c.restart_failed_sub_environments,
            global_rng=global_rng,
        )

    def default_model_config(self, module_class: type | None) -> dict[str, Any]:
        """The ``model_config`` a module gets when its spec has none: the config's ``model_config``.

        Algorithms may add their settings for their own default module (DQN: ``dueling``).
        """
        return dict(self.config.model_config)

    def _runner_weights(self) -> dict[str, Any]:
        """The weights for env runners: the default module's, or ``{module_id: weights}`` multi-agent."""
        weights = self.learner.get_weights()
        return weights if self.is_multi_agent else weights[DEFAULT_MODULE_ID]

    def _sync_weights(self) -> None:
        self.env_runner.set_state({"rl_module": self._runner_weights()})

    # --------------------------------------------------------------- training
    def training_step(self) -> dict[str, Any]:
        """One iteration's work: sample ``train_batch_size_per_learner`` steps, update, sync."""
        t0 = time.perf_counter()
        batch = self.env_runner.sample(num_timesteps=self.config.train_batch_size_per_learner)
        t1 = time.perf_counter()
        runner_metrics = self.env_runner.get_metrics()
        self.num_env_steps_sampled_lifetime += runner_metrics["num_env_steps_sampled"]
        learner_results = self.learner.update(
            batch if self.is_multi_agent else {DEFAULT_MODULE_ID: batch},
            num_env_steps_sampled_lifetime=self.num_env_steps_sampled_lifetime,
        )
        self._sync_weights()
        t2 = time.perf_counter()
        return {
            "env_runner_metrics": runner_metrics,
            "learners": learner_results,
            "timers": {"sample_time_s": t1 - t0, "learn_time_s": t2 - t1},
        }

    def train(self) -> dict[str, Any]:
        """Run one training iteration; returns RLlib-style results.

        Keys: ``env_runners`` (``episode_return_mean`` and ``episode_len_mean``
        over the last ``metrics_window`` episodes, ...), ``learners``
        (per-module losses), ``num_env_steps_sampled_lifetime``,
        ``training_iteration``, ``time_this_iter_s``, ``perf``, and
        ``evaluation`` on evaluation iterations.
        """
        t0 = time.perf_counter()
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
            "num_env_steps_trained_lifetime": self.learner.num_env_steps_trained,
            "num_episodes_lifetime": self.num_episodes_lifetime,
            "time_this_iter_s": elapsed,
            "time_total_s": self.time_total_s,
            "perf": {
                "env_steps_per_s": runner["num_env_steps_sampled"] / max(elapsed, 1e-9),
                **step.get("timers", {}),
            },
        }
        interval = self.config.evaluation_interval
        if interval and self.iteration % interval == 0:
            result["evaluation"] = self.evaluate()
        return result

    def _record_episodes(self, runner: dict[str, Any]) -> None:
        returns = runner.get("episode_returns", [])
        self._returns.extend(float(r) for r in returns)
        self._lens.extend(float(n) for n in runner.get("episode_lens", []))
        self.num_episodes_lifetime += len(returns)
        if self._agent_windows is not None:
            self._agent_windows.record(runner)

    def _env_runner_results(self, runner: dict[str, Any]) -> dict[str, Any]:
        def stat(fn, values):
            return float(fn(values)) if len(values) else float("nan")

        multi_agent = {} if self._agent_windows is None else self._agent_windows.results(runner)
        return {
            **multi_agent,
            "episode_return_mean": stat(np.mean, self._returns),
            "episode_return_min": stat(np.min, self._returns),
            "episode_return_max": stat(np.max, self._returns),
            "episode_len_mean": stat(np.mean, self._lens),
            "num_episodes": len(runner.get("episode_returns", [])),
            "num_episodes_lifetime": self.num_episodes_lifetime,
            "num_env_steps_sampled": runner["num_env_steps_sampled"],
            "num_env_steps_sampled_lifetime": self.num_env_steps_sampled_lifetime,
            "num_env_restarts": runner.get("num_env_restarts", 0),
        }

    # ------------------------------------------------------------- evaluation
    def evaluate(self, num_episodes: int | None = None) -> dict[str, Any]:
        """Run greedy (``forward_inference``) episodes; returns ``{"env_runners": {...}}``."""
        n = num_episodes or self.config.evaluation_duration
        if self._eval_runner is None:
            seed = None if self.config.seed is None else self.config.seed + EVAL_SEED_OFFSET
            self._eval_runner = self._make_env_runner(seed=seed, worker_index=1)
        self._eval_runner.set_state({"rl_module": self._runner_weights()})
        out = self._eval_runner.sample(num_episodes=n, explore=False)
        returns, lens = np.asarray(out["episode_returns"]), np.asarray(out["episode_lens"])
        multi_agent = {}
        if self.is_multi_agent:
            from tripod.algorithms.multi_agent import evaluation_results

            multi_agent = evaluation_results(out)
        return {
            "env_runners": {
                **multi_agent,
                "episode_return_mean": float(returns.mean()),
                "episode_return_min": float(returns.min()),
                "episode_return_max": float(returns.max()),
                "episode_return_std": float(returns.std()),
                "episode_len_mean": float(lens.mean()),
                "num_episodes": len(returns),
            }
        }

    # ------------------------------------------------------------- accessors
    def get_module(self, module_id: ModuleID = DEFAULT_MODULE_ID) -> RLModule:
        """The learner's (trained) module."""
        return self.learner.module[module_id]

    def stop(self) -> None:
        """Close environments."""
        self.env_runner.stop()
        if self._eval_runner is not None:
            self._eval_runner.stop()

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
            **({} if self._agent_windows is None else {"agent_windows": self._agent_windows.get_state()}),
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
            save_module(self.learner.module, os.path.join(tmp, "module"))
            learner_state = self.learner.get_state()
            learner_state.pop("rl_module")
            save_state(tmp, "learner_state", learner_state)
            save_state(tmp, "rng_state", self.get_rng_state())
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
        state = checked_state(meta, path)
        learner_state = load_state(path, "learner_state")
        learner_state["rl_module"] = load_module_state(os.path.join(path, "module"), _checked=True)
        rng_state = load_state(path, "rng_state")
        with damaged(path, "learner_state (learner_state.json/.safetensors, module/)"):
            self.learner.set_state(learner_state)
        self.iteration = state["iteration"]
        self.num_env_steps_sampled_lifetime = state["num_env_steps_sampled_lifetime"]
        self.num_episodes_lifetime = state["num_episodes_lifetime"]
        self.time_total_s = state["time_total_s"]
        self._returns.clear()
        self._returns.extend(state["returns_window"])
        self._lens.clear()
        self._lens.extend(state["lens_window"])
        if self._agent_windows is not None:
            with damaged(path, "the metadata.json 'state' entry 'agent_windows'"):
                self._agent_windows.set_state(state.get("agent_windows", {}))
        with damaged(path, "rng_state (rng_state.json/.safetensors)"):
            self.set_rng_state(rng_state)
        with damaged(path, "the algorithm's extra state"):
            self.restore_extra_state(path, state)
        self._sync_weights()

    def get_rng_state(self) -> dict[str, Any]:
        """What ``rng_state`` in a checkpoint holds: the process-global RNG states (``torch``,
        ``numpy``, ``python``) and, under ``owned``, the states of the generators the
        algorithm, its env runner and its learner own (see :class:`~tripod.io.seeding.GlobalRNGScope`).
        """
        return {
            **get_rng_state(),
            "owned": {
                "algorithm": self.global_rng.get_state(),
                "env_runner": self.env_runner.get_rng_state(),
                "learner": self.learner.get_rng_state(),
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
            self.env_runner.set_rng_state(owned["env_runner"])
            self.learner.set_rng_state(owned["learner"])
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
            cls,
            meta,
            path,
            base=Algorithm,
            config_overrides=config_overrides,
            module_class=module_class,
            trusted=trusted,
        )
        algo.restore_from_path(path, _checked=True)
        return algo
