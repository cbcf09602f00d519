"""The single-agent env runner: a gymnasium vector env stepped by an inference-only RL module.

``sample()`` returns time-major ``[T, N, ...]`` numpy batches (``T`` vector steps
of ``N`` sub-envs). Observations go into preallocated buffers, each vector step
makes one batched forward call on torch views of those buffers, and the
per-episode bookkeeping is done with array maths after the loop.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from tripod.core.columns import Columns
from tripod.core.rl_module.rl_module import RLModule, RLModuleSpec
from tripod.core.rl_module.validation import ModuleOutputError
from tripod.env.action_sampler import ActionSampler
from tripod.env.buffers import SampleBuffers, alloc_for_space, finished_episodes, tree_write
from tripod.env.connector_glue import RunnerConnectors
from tripod.env.env_checks import BoundsCheck, EnvAPIError, check_vector_obs
from tripod.env.env_creation import env_name, make_vector_env
from tripod.env.env_runner import EnvRunner
from tripod.env.module_outputs import OutputPlan
from tripod.env.runner_config import CONNECTOR_SETTINGS, merge_settings
from tripod.env.runner_helpers import (
    EnvError,
    assemble_batch,
    build_runner_module,
    check_finite_round,
    check_finite_step,
    check_positive_int,
    copy_row,
    episode_metrics,
    final_observations,
    loss_mask,
    random_row,
    sample_episodes,
)
from tripod.env.vector_env import SyncVectorEnv
from tripod.io.seeding import RUNNER_STREAM, GlobalRNGScope

__all__ = ["DEFAULT_ROLLOUT_FRAGMENT_LENGTH", "EnvError", "SingleAgentEnvRunner"]

logger = logging.getLogger(__name__)

#: Vector steps per ``sample()`` call when neither the call nor the runner says otherwise.
DEFAULT_ROLLOUT_FRAGMENT_LENGTH = 200

#: The final observations of a step without any (a next-step vector env's, every step).
NO_FINALS: Mapping[int, Any] = MappingProxyType({})

_DEFAULTS = {"num_envs": 1, "vectorize_mode": "auto", "restart_failed_sub_environments": False, "clip_actions": True}


class SingleAgentEnvRunner(EnvRunner):
    """Samples a gymnasium vector env with an inference-only copy of an RL module.

    Calls the callbacks' episode hooks while it samples for training (:meth:`set_callbacks`).

    Two ways to build one: from keyword arguments,
    ``SingleAgentEnvRunner("CartPole-v1", module_spec=spec, num_envs=8, seed=0)``, or
    as in RLlib from an algorithm config, ``SingleAgentEnvRunner(config=cfg)``, which
    reads ``env``, ``env_config``, ``num_envs_per_env_runner``,
    ``rollout_fragment_length`` (``"auto"`` as the algorithm resolves it),
    ``vectorize_mode``, ``restart_failed_sub_environments``, ``seed`` and the module
    spec (``rl_module_spec`` completed with ``config.algo_class``'s default module
    class and model_config). Arguments passed with ``config`` (not ``None``) override
    the config's; RLlib's ``num_workers``, ``tune_trial_id`` and ``spaces`` keywords
    are accepted and ignored.

    Args:
        env: An env specifier: registered name, gymnasium id, env class or creator
            function (see :mod:`tripod.env.env_creation`).
        config: An :class:`~tripod.algorithms.algorithm_config.AlgorithmConfig` to read
            the settings from (see above).
        env_config: Passed to the env creator.
        module_spec: Spec of the module to sample with; built with
            ``inference_only=True`` and the env's single observation/action spaces
            where the spec leaves them ``None``.
        module: An already built module to use instead of ``module_spec``.
        num_envs: Sub-environments in the vector env (default 1).
        vectorize_mode: ``"auto"`` (default), ``"sync"``, ``"async"`` or ``"vector"``, see
            :func:`~tripod.env.env_creation.make_vector_env`.
        rollout_fragment_length: Vector steps per ``sample()`` call by default
            (default :data:`DEFAULT_ROLLOUT_FRAGMENT_LENGTH`).
        seed: Seeds sub-env ``i``'s first reset with ``seed + 1000 * worker_index + i``,
            the action spaces, the runner's own sampler for categorical actions and
            its :class:`~tripod.io.seeding.GlobalRNGScope`: the env and the module
            are built, and ``sample()`` runs, with the global torch/NumPy/Python RNG
            states swapped for the runner's own, so module init, distribution sampling
            and ``np.random`` in a module draw from the runner's stream. ``None``
            forks the global generators.
        worker_index: Index of this runner among several (offsets the seeds).
        global_rng: A scope to use instead of the runner's own (an algorithm hands its
            runner and learner one scope, entered once per iteration).
        restart_failed_sub_environments: When the env raises, recreate it and keep
            sampling (the interrupted episodes are cut) instead of raising (default False).
        clip_actions: Clip Box actions to the space's bounds before stepping the env
            (the batch keeps the unclipped actions; default True).
        normalize_actions: Map Box actions from ``[-1, 1]`` to the space's bounds first.
        env_to_module_connector: Connector pieces between the env's observations (and
            rewards) and the module (:mod:`tripod.connectors.build` lists the forms); the
            module is built for the pipeline's output space.
        module_to_env_connector: Connector pieces between the module's actions and the env.
        clip_rewards: Training rewards: True = sign, a number v = clipped to [-v, v].
        validate_module_outputs: Check the first output of each structure the module
            returns (shapes, dtypes, NaN, action ranges) with a clear error.

    Attributes:
        action_sampler: The :class:`~tripod.env.action_sampler.ActionSampler` that draws
            actions from the module's ``action_dist_inputs`` (shared design with the
            multi-agent runner).

    For small networks, ``torch.set_num_threads(1)`` in the sampling process is
    usually fastest; the runner does not change torch's thread count.
    """

    def __init__(
        self,
        env: Any = None,
        *,
        config: Any = None,
        env_config: Mapping[str, Any] | None = None,
        module_spec: RLModuleSpec | None = None,
        module: RLModule | None = None,
        num_envs: int | None = None,
        vectorize_mode: str | None = None,
        rollout_fragment_length: int | None = None,
        seed: int | None = None,
        worker_index: int = 0,
        restart_failed_sub_environments: bool | None = None,
        clip_actions: bool | None = None,
        validate_module_outputs: bool = True,
        global_rng: GlobalRNGScope | None = None,
        normalize_actions: bool | None = None,
        clip_rewards: Any = None,
        env_to_module_connector: Any = None,
        module_to_env_connector: Any = None,
        **kwargs: Any,
    ) -> None:
        given = {
            "env": env, "env_config": env_config, "module_spec": module_spec, "module": module,
            "num_envs": num_envs, "vectorize_mode": vectorize_mode,
            "rollout_fragment_length": rollout_fragment_length, "seed": seed,
            "restart_failed_sub_environments": restart_failed_sub_environments,
            "clip_actions": clip_actions, "normalize_actions": normalize_actions, "clip_rewards": clip_rewards,
            "env_to_module_connector": env_to_module_connector, "module_to_env_connector": module_to_env_connector,
        }  # fmt: skip
        settings = merge_settings(type(self).__name__, config, given, kwargs, _DEFAULTS)
        self.config = config
        connectors = {key: settings.pop(key, None) for key in CONNECTOR_SETTINGS}
        self._setup(
            **settings, worker_index=worker_index, connectors=connectors,
            validate_module_outputs=validate_module_outputs, global_rng=global_rng,
        )  # fmt: skip

    def _setup(
        self,
        env: Any,
        *,
        env_config: Mapping[str, Any] | None = None,
        module_spec: RLModuleSpec | None = None,
        module: RLModule | None = None,
        num_envs: int,
        vectorize_mode: str,
        rollout_fragment_length: int | None = None,
        seed: int | None = None,
        worker_index: int,
        restart_failed_sub_environments: bool,
        connectors: dict[str, Any],
        validate_module_outputs: bool,
        global_rng: GlobalRNGScope | None = None,
    ) -> None:
        fragment = (
            DEFAULT_ROLLOUT_FRAGMENT_LENGTH if rollout_fragment_length is None else rollout_fragment_length
        )
        check_positive_int("rollout_fragment_length", fragment)
        check_positive_int("num_envs", num_envs)
        self.env_spec, self.env_config = env, dict(env_config or {})
        self.env_name = env_name(env)
        self.num_envs, self.vectorize_mode = num_envs, vectorize_mode
        self.rollout_fragment_length = fragment
        self.seed, self.worker_index = seed, int(worker_index)
        self.restart_failed_sub_environments = restart_failed_sub_environments
        self.clip_actions = connectors["clip_actions"] is not False
        self.validate_module_outputs = validate_module_outputs
        self.global_rng = global_rng or GlobalRNGScope(seed, RUNNER_STREAM, self.worker_index)
        with self.global_rng:
            self._build(module_spec, module, connectors)
        self._stateful = self.module.is_stateful()
        self._initial_state = self.module.get_initial_state() if self._stateful else None

        self._rng = np.random.default_rng(None if seed is None else [int(seed), self.worker_index])
        self.action_sampler = ActionSampler(self._rng)
        self._reset_seed = None if seed is None else int(seed) + 1000 * self.worker_index
        self._bufs: SampleBuffers | None = None
        self._eval_bufs: SampleBuffers | None = None
        self._plans: dict[bool, dict[tuple, OutputPlan]] = {True: {}, False: {}}
        self._needs_reset = True
        self._obs_carry = alloc_for_space(self.observation_space, (num_envs,))
        self._obs_check = alloc_for_space(self.env_observation_space, (num_envs,))  # what the env must return
        self._bounds = BoundsCheck(self.observation_space, self.env_name)
        self._obs_cast_warned = [False]
        self._state_carry: Any = None
        self._ep_return, self._ep_len = np.zeros(num_envs), np.zeros(num_envs, dtype=np.int64)
        self._prev_done = np.zeros(num_envs, dtype=bool)
        self._vector_steps = self.num_env_steps_sampled_lifetime = self.num_env_restarts_lifetime = 0
        self._new_metrics()

    def _build(self, module_spec: RLModuleSpec | None, module: RLModule | None, connectors: dict) -> None:
        self.env = self._make_env()
        self.env_observation_space = self.env.single_observation_space
        self.action_space = self.env.single_action_space
        try:
            model_config = module_spec.model_config if module_spec is not None else None
            self.connectors = RunnerConnectors(
                self.env, self.env_observation_space, self.action_space, self.num_envs, self._same_step,
                {**connectors, "model_config": model_config},
            )  # fmt: skip
            #: The observation space the module sees (the env's, through the env-to-module connectors).
            self.observation_space = self.connectors.observation_space
            self.module = build_runner_module(
                module_spec, module, self.env_name, self.observation_space, self.action_space
            )
        except BaseException:
            self.env.close()
            raise

    def _owned_spaces(self) -> list[gym.Space]:
        return [self.env.action_space]

    def get_rng_state(self) -> dict[str, Any]:
        """The generators' states (see :class:`~tripod.env.env_runner.EnvRunner`) plus ``"gumbel"``:
        the sampler's noise drawn but not used yet."""
        return {**super().get_rng_state(), "gumbel": self.action_sampler.get_state()}

    def set_rng_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`get_rng_state` returned."""
        super().set_rng_state(state)
        self.action_sampler.set_state(state.get("gumbel", {}))

    # ------------------------------------------------------------------ the env
    def _make_env(self) -> gym.vector.VectorEnv:
        venv = make_vector_env(
            self.env_spec,
            env_config=self.env_config,
            num_envs=self.num_envs,
            vectorize_mode=self.vectorize_mode,
            seed=None if self.seed is None else self.seed + 1000 * self.worker_index,
        )
        mode = AutoresetMode(venv.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP))
        if mode == AutoresetMode.DISABLED:
            raise ValueError(
                f"Env '{self.env_name}': its vector env does not reset finished sub-envs "
                "(autoreset_mode DISABLED); use vectorize_mode='sync'."
            )
        self._same_step = mode == AutoresetMode.SAME_STEP
        if self.restart_failed_sub_environments and isinstance(venv, SyncVectorEnv):
            venv.restart_sub_envs = self._sub_env_failed  # rebuild only the failed sub-env
        return venv

    def _sub_env_failed(self, index: int, exc: Exception) -> int | None:
        """``SyncVectorEnv.restart_sub_envs``: log and count the restart; the seed for the new sub-env."""
        logger.warning(
            "Env '%s' raised %r in sub-env %d (worker %d); recreating that sub-env.",
            self.env_name, exc, index, self.worker_index,
        )  # fmt: skip
        self.num_env_restarts_lifetime += 1
        self._m_restarts += 1
        if self.seed is None:
            return None
        entropy = [int(self.seed), self.worker_index, self.num_env_restarts_lifetime, index]
        return int(np.random.SeedSequence(entropy).generate_state(1)[0] % 2**31)

    def _reset_vector_env(self, seed: int | None) -> Any:
        try:
            obs = self.env.reset(seed=seed)[0]
        except EnvAPIError:
            raise
        except Exception as exc:
            raise EnvError(
                f"Env '{self.env_name}' raised {type(exc).__name__} in reset() (worker {self.worker_index}): {exc}"
            ) from exc
        self.check_obs(obs, "reset")
        return obs

    def check_obs(self, obs: Any, method: str) -> None:
        """Raise for observations ``[N, ...]`` of the wrong shape; warn once for another dtype."""
        carry = self._obs_check
        if isinstance(carry, np.ndarray) and (
            type(obs) is not np.ndarray or obs.shape != carry.shape or obs.dtype is not carry.dtype
        ):
            check_vector_obs(self.env_name, obs, carry, method, self._obs_cast_warned)

    def _reset_env(self, update: bool = False) -> None:
        obs = self._reset_vector_env(self._reset_seed)
        self._reset_seed = None  # later resets continue the sub-envs' own RNGs
        if self._episode_hooks is not None:
            self._episode_hooks.reset_all(obs)
        check_finite_step(self.env_name, obs, None, self._vector_steps, at_reset=True)
        tree_write(self._obs_carry, slice(None), self.connectors.reset(obs, update) if self.connectors.active else obs)
        self._ep_return[:] = 0.0
        self._ep_len[:] = 0
        self._prev_done[:] = False
        self._state_carry = None
        self._needs_reset = False

    def _env_failure(self, exc: Exception, step: int) -> Any:
        """Raise :class:`EnvError`, or recreate and reset the whole vector env and return its observations.

        tripod's ``SyncVectorEnv`` rebuilds only the failed sub-env itself (see
        :meth:`_sub_env_failed`); this restarts gymnasium's vector envs (``"vector"``,
        ``"async"``), which cannot restart one sub-env, and any env failing in ``reset``.
        """
        failed = getattr(self.env, "failed_index", None)
        sub = "" if failed is None else f" in sub-env {failed}"
        if not self.restart_failed_sub_environments:
            raise EnvError(
                f"Env '{self.env_name}' raised {type(exc).__name__}{sub} at step {step} "
                f"(worker {self.worker_index}): {exc}. Fix the env, or pass "
                "restart_failed_sub_environments=True to recreate it and keep sampling."
            ) from exc
        logger.warning("Env '%s' raised %r%s at step %d; recreating it.", self.env_name, exc, sub, step)
        try:
            self.env.close()
        except Exception:  # the broken env may fail to close as well
            logger.debug("Closing the failed env raised.", exc_info=True)
        self.num_env_restarts_lifetime += 1
        self._m_restarts += 1
        self.env = self._make_env()
        seed = None
        if self.seed is not None:
            entropy = [int(self.seed), self.worker_index, self.num_env_restarts_lifetime]
            seed = int(np.random.SeedSequence(entropy).generate_state(1)[0] % 2**31)
        return self._reset_vector_env(seed)

    # ------------------------------------------------------------------ sampling
    def sample(
        self,
        num_timesteps: int | None = None,
        num_episodes: int | None = None,
        explore: bool = True,
        random_actions: bool = False,
        *,
        force_reset: bool = False,
    ) -> dict[str, Any]:
        """Step the env and return what happened.

        Args:
            num_timesteps: Collect ``T = ceil(num_timesteps / num_envs)`` vector steps
                (default ``rollout_fragment_length * num_envs`` env steps). Episodes
                continue across calls.
            num_episodes: Instead, reset the env and run until this many episodes have
                finished (each sub-env gets an equal quota, so short episodes are not
                favoured). Used for evaluation.
            explore: ``forward_exploration`` and sampled actions; ``False`` uses
                ``forward_inference`` and greedy actions.
            random_actions: Sample actions uniformly from the action space (no forward).
            force_reset: Reset the env first instead of continuing the running episodes.

        Returns:
            With ``num_timesteps``: a time-major batch of numpy arrays: ``obs``
            ``[T, N, ...]`` (nested for Dict/Tuple spaces), ``actions`` (before
            clipping), ``rewards`` float32, ``terminateds``/``truncateds`` bool,
            ``loss_mask`` bool (``False`` on rows that are no real transition: the
            reset step of a NEXT_STEP vector env and the step at which an env was
            restarted), ``action_logp`` float32, ``action_dist_inputs`` (when the
            module returned a logits tensor), ``vf_preds`` (when the module returned
            them), ``state_in`` ``[T, N, ...]`` for stateful modules, and
            ``bootstrap_obs`` ``[K, ...]`` with ``bootstrap_index`` ``[K]`` int64 (flat
            ``t * N + n``): the real next observation of every truncated row and of
            the last row of every sub-env.
            With ``num_episodes``: ``{"episode_returns": [E], "episode_lens": [E]}``.
        """
        if force_reset:
            self._needs_reset = True
        if num_episodes is not None:
            if num_timesteps is not None:
                raise ValueError("sample(): pass num_timesteps or num_episodes, not both.")
            check_positive_int("num_episodes", num_episodes)
            with self.global_rng:
                episodes = sample_episodes(self, num_episodes, explore=explore, random_actions=random_actions)
            return self._custom_metrics(episodes)
        if num_timesteps is None:
            num_timesteps = self.rollout_fragment_length * self.num_envs
        check_positive_int("num_timesteps", num_timesteps)
        with self.global_rng:  # once per call: the swap costs microseconds, a step less
            return self._sample_steps(math.ceil(num_timesteps / self.num_envs), explore, random_actions)

    def _buffers(self, num_steps: int) -> SampleBuffers:
        if self._bufs is None or self._bufs.num_steps != num_steps:
            self._bufs = SampleBuffers(
                num_steps, self.num_envs, self.observation_space, self.action_space,
                initial_state=self._initial_state,
            )  # fmt: skip
        return self._bufs

    def _plan(self, output: Any, explore: bool) -> OutputPlan:
        key = tuple(output) if isinstance(output, dict) else None
        plan = self._plans[explore].get(key) if key is not None else None
        if plan is None:
            plan = OutputPlan(
                self.module, output, explore=explore, num_envs=self.num_envs, action_space=self.action_space,
                stateful=self._stateful, clip_actions=self.connectors.clip_in_place, sampler=self.action_sampler,
                validate=self.validate_module_outputs,
            )  # fmt: skip
            if key is not None:
                self._plans[explore][key] = plan
        return plan

    def _sample_steps(self, num_steps: int, explore: bool, random_actions: bool) -> dict[str, Any]:
        if self._needs_reset:
            self._reset_env(update=True)
        bufs = self._buffers(num_steps)
        bufs.start_round(self._obs_carry, self._state_carry)
        final_obs: dict[tuple[int, int], Any] = {}
        cut_rows: list[tuple[int, Any]] = []
        first_step = self._vector_steps
        try:
            plans_used = self._run_loop(bufs, explore, random_actions, final_obs, cut_rows)
            check_finite_round(self.env_name, bufs, final_obs, first_step)
            if self._bounds.active:  # warns once, then stays off
                self._bounds.check(bufs.obs)
        except BaseException:
            self._needs_reset = True  # the env moved on without us: start afresh next time
            raise
        self._vector_steps += num_steps
        dones = bufs.terminateds | bufs.truncateds
        cut = np.zeros_like(dones)
        for t, envs in cut_rows:  # rows (or single sub-envs) at which an env was restarted
            cut[t, envs] = True
        mask, self._prev_done = loss_mask(dones, cut, self._prev_done, self._same_step)
        returns, lens = finished_episodes(bufs.rewards, dones, mask, ~cut, self._ep_return, self._ep_len)
        self._m_returns += returns.tolist()
        self._m_lens += lens.tolist()
        num_real = int(mask.sum())
        self._m_steps += num_real
        self.num_env_steps_sampled_lifetime += num_real
        batch = assemble_batch(bufs, mask, cut, plans_used, final_obs, self._same_step)
        if self.connectors.active:  # training rewards (scaled, clipped); statistics learn from the round
            batch[Columns.REWARDS] = self.connectors.end_round(batch[Columns.REWARDS], dones, mask, update=True)
        tree_write(self._obs_carry, slice(None), copy_row(bufs.obs, num_steps))
        if self._stateful:
            self._state_carry = copy_row(bufs.state, num_steps)
        return batch

    def _run_loop(
        self, bufs: SampleBuffers, explore: bool, random_actions: bool, final_obs: dict, cut_rows: list
    ) -> set[OutputPlan]:
        """The hot loop: one forward and one env step per row; returns the output plans used."""
        forward = self.module.forward_exploration if explore else self.module.forward_inference
        obs_buf, array_obs = bufs.obs, bufs.array_obs
        obs_shape, obs_dtype = (obs_buf.shape[1:], obs_buf.dtype) if array_obs else (None, None)
        rewards, terms, truncs = bufs.rewards, bufs.terminateds, bufs.truncateds
        stateful, same_step, hooks = self._stateful, self._same_step, self._episode_hooks
        connect = self.connectors.active
        sub_restarts = getattr(self.env, "restart_sub_envs", None) is not None
        prev_done = self._prev_done.copy()
        plans_used: set[OutputPlan] = set()
        last_plan = None
        with torch.no_grad():
            for t in range(bufs.num_steps):
                if random_actions:
                    env_actions = random_row(self.env.action_space, bufs, t)
                else:
                    env_actions, plan = self._act(forward, bufs, t, explore)
                    if plan is not last_plan:
                        plans_used.add(plan)
                        last_plan = plan
                try:
                    obs, reward, terminated, truncated, infos = self.env.step(env_actions)
                except EnvAPIError:
                    raise  # the env breaks gymnasium's API: a restart would not help
                except Exception as exc:
                    self._restart_in_round(exc, bufs, t, cut_rows, prev_done)
                    continue
                finals = final_observations(infos) if same_step else NO_FINALS
                if hooks is not None:
                    hooks.step(obs, env_actions, reward, terminated, truncated, infos, same_step=same_step,
                               final_obs=finals)  # fmt: skip
                if connect:
                    obs = self._connect(obs, finals, final_obs, bufs, t, reward, terminated | truncated)
                else:
                    for n, final in finals.items():
                        final_obs[(t, n)] = final
                if array_obs:
                    if not connect and (
                        type(obs) is not np.ndarray or obs.shape != obs_shape or obs.dtype is not obs_dtype
                    ):
                        self.check_obs(obs, "step")
                    obs_buf[t + 1] = obs
                else:
                    tree_write(obs_buf, t + 1, obs)
                rewards[t] = reward
                terms[t] = terminated
                truncs[t] = truncated
                if sub_restarts and self.env.restarted:  # SyncVectorEnv rebuilt these sub-envs
                    cut_rows.append((t, list(self.env.restarted)))
                if stateful:
                    self._reset_finished_states(bufs, t, terminated | truncated, prev_done)
        return plans_used

    def _connect(
        self, obs: Any, finals: Mapping[int, Any], final_obs: dict, bufs: SampleBuffers, t: int, reward: Any,
        done: np.ndarray,
    ) -> Any:  # fmt: skip
        """The module's observations of step ``t`` through the env-to-module connectors; the step's
        final observations go into ``final_obs`` the same way (before the pieces' memory moves on)."""
        self.check_obs(obs, "step")
        actions = bufs.actions[t] if type(bufs.actions) is np.ndarray else copy_row(bufs.actions, t)
        for n, final in finals.items():
            final_obs[(t, n)] = self.connectors.final(final, n, actions, reward)
        rebuilt = getattr(self.env, "restarted", None)
        restarted = np.isin(np.arange(self.num_envs), rebuilt) if rebuilt else None
        return self.connectors.step(obs, actions, reward, done, update=True, restarted=restarted)

    def _act(self, forward: Any, bufs: SampleBuffers, t: int, explore: bool) -> tuple[Any, OutputPlan]:
        """One forward on row ``t``: ``(env actions, output plan)``; the batch row is filled."""
        batch = {Columns.OBS: bufs.obs_row(t)}
        if self._stateful:
            batch[Columns.STATE_IN] = bufs.state_rows[t]
        try:
            output = forward(batch)
            plan = self._plan(output, explore)
            env_actions = plan.apply(output, t, bufs)
            if self.connectors.to_env_needed:
                env_actions = self.connectors.to_env(env_actions)
            return env_actions, plan
        except ModuleOutputError:
            raise
        except Exception:  # NaN observations often make the module fail first
            check_finite_step(self.env_name, copy_row(bufs.obs, t), None, self._vector_steps + t - 1)
            raise

    def _restart_in_round(
        self, exc: Exception, bufs: SampleBuffers, t: int, cut_rows: list, prev_done: np.ndarray
    ) -> None:
        """The env raised in step ``t``: restart it (or raise) and cut every sub-env's episode at row ``t``."""
        obs = self._env_failure(exc, self._vector_steps + t)
        tree_write(bufs.obs, t + 1, self.connectors.reset(obs, update=True) if self.connectors.active else obs)
        bufs.rewards[t], bufs.terminateds[t], bufs.truncateds[t] = 0.0, False, True
        cut_rows.append((t, slice(None)))
        prev_done[:] = False
        bufs.reset_state(t + 1, np.ones(self.num_envs, dtype=bool))

    def _reset_finished_states(
        self, bufs: SampleBuffers, t: int, done: np.ndarray, prev_done: np.ndarray
    ) -> None:
        """Recurrent state of row ``t + 1``: initial for sub-envs whose episode starts there."""
        reset = done if self._same_step else done | prev_done
        prev_done[:] = done
        if reset.any():
            bufs.reset_state(t + 1, reset)

    # ------------------------------------------------------------------ metrics
    def _new_metrics(self) -> None:
        self._m_returns: list[float] = []
        self._m_lens: list[int] = []
        self._m_steps = 0
        self._m_restarts = 0

    def get_metrics(self) -> dict[str, Any]:
        """Statistics since the last call (then reset).

        Keys: ``episode_return_mean/min/max`` and ``episode_len_mean`` (NaN without
        finished episodes), ``num_episodes``, ``num_env_steps_sampled`` (real
        transitions, not counting ``loss_mask == False`` rows), ``num_env_restarts``
        ``episode_returns`` and ``episode_lens`` (of the finished episodes, in order).
        Evaluation (``sample(num_episodes=...)``) is not included.
        """
        metrics = episode_metrics(self._m_returns, self._m_lens)
        metrics.update(num_env_steps_sampled=self._m_steps, num_env_restarts=self._m_restarts)
        self._new_metrics()
        return self._custom_metrics(metrics)

    # ------------------------------------------------------------------ state
    def get_weights(self) -> dict[str, Any]:
        """The module's inference-only weights."""
        return self.module.get_state(inference_only=True)

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        """Load module weights (as returned by ``module.get_state()``)."""
        self.module.set_state(dict(weights))

    def get_spaces(self) -> tuple[gym.Space, gym.Space]:
        """``(observation_space, action_space)`` of one sub-env."""
        return self.observation_space, self.action_space

    def stop(self) -> None:
        """Close the env."""
        self.env.close()
