"""The multi-agent env runner: copies of a MultiAgentEnv stepped by the modules of a MultiRLModule.

Each env step makes ONE forward call per module, on the observations of every
agent mapped to it in every env copy, and returns per-module batches in the
single-agent learner's format (see :mod:`tripod.env.multi_agent_buffers` for
the layout and why GAE is right for agents that act on some steps only).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from tripod.core.columns import Columns
from tripod.core.rl_module.multi_rl_module import MultiRLModule, MultiRLModuleSpec
from tripod.core.rl_module.validation import ModuleOutputError
from tripod.data.batch import tree_map
from tripod.env.action_sampler import ActionSampler
from tripod.env.env_creation import env_name, make_env_creator
from tripod.env.env_runner import EnvRunner
from tripod.env.episode_hooks import MultiAgentEpisodeHooks
from tripod.env.module_outputs import squeeze_time_outputs
from tripod.env.multi_agent_actions import ModuleSampler
from tripod.env.multi_agent_connectors import MultiAgentConnectors, connectors_requested
from tripod.env.multi_agent_env import AgentID, MultiAgentEnv
from tripod.env.multi_agent_episode import MultiAgentEpisode, episode_results
from tripod.env.multi_agent_setup import (
    check_agent_obs,
    check_multi_agent_env,
    nobody_to_act_error,
    nonfinite_error,
    resolve_module_spec,
    reward_without_obs_error,
    unknown_module_error,
)
from tripod.env.runner_config import CONNECTOR_SETTINGS, merge_settings
from tripod.env.runner_helpers import EnvError, check_positive_int
from tripod.io.seeding import RUNNER_STREAM, GlobalRNGScope, derive_seed

__all__ = ["MultiAgentEnvRunner"]

#: Env steps (per env copy) per ``sample()`` call when neither the call nor the runner says otherwise.
DEFAULT_ROLLOUT_FRAGMENT_LENGTH = 200


class _Slot:
    """An agent in the running episode of one env copy: its module, stream and latest row."""

    __slots__ = ("agent_id", "mi", "stream", "row", "action")

    def __init__(self, agent_id: AgentID, mi: int, stream: int) -> None:
        self.agent_id, self.mi, self.stream, self.row = agent_id, mi, stream, -1
        self.action: Any = None  # its module's latest action (kept for connectors with per-episode memory)


class MultiAgentEnvRunner(EnvRunner):
    """Samples ``num_envs`` copies of a multi-agent env with an inference-only MultiRLModule.

    Built from keyword arguments or, as in RLlib, from an algorithm config:
    ``MultiAgentEnvRunner(config=cfg)`` reads ``env``, ``env_config``,
    ``num_envs_per_env_runner``, ``rollout_fragment_length``, ``seed``,
    ``policy_mapping_fn`` and the module spec (``policies`` / ``rl_module_spec``, each
    module completed with ``config.algo_class``'s default module class and
    model_config); arguments passed with it (not ``None``) override the config's.

    Args:
        env: An env specifier giving a :class:`~tripod.env.multi_agent_env.MultiAgentEnv`
            (or a PettingZoo env, wrapped): a MultiAgentEnv class, a creator, a
            registered name or ``"pettingzoo:<module>"``.
        config: An :class:`~tripod.algorithms.algorithm_config.AlgorithmConfig` to read
            the settings from (see above).
        env_config: Passed to the env creator.
        module_spec: A MultiRLModuleSpec; spaces left ``None`` are taken from the
            agents mapped to each module. Built with ``inference_only=True``.
        module: An already built MultiRLModule to use instead.
        policy_mapping_fn: ``fn(agent_id, episode, **kwargs) -> module_id``, asked
            once per agent and episode. Default: the only module, or with several
            the module named ``str(agent_id)``.
        num_envs: Env copies (default 1), stepped one after another; all agents of all copies
            that use one module share its forward call.
        rollout_fragment_length: Env steps per copy per ``sample()`` call by default.
        seed: Seeds env copy ``i``'s first reset with ``seed + 1000 * worker_index + i``,
            the runner's categorical sampler, its random actions and its
            :class:`~tripod.io.seeding.GlobalRNGScope` (the envs and modules are built,
            and ``sample()`` runs, with the runner's own global RNG states).
        worker_index: Index of this runner among several.
        global_rng: A scope to use instead of the runner's own (see the single-agent runner).
        clip_actions: Clip Box actions to the space before stepping the env (default True).
        normalize_actions: Map Box actions from [-1, 1] to the space's bounds first.
        clip_rewards: Training rewards: True = sign, a number = clipped, None/False = as they are.
        env_to_module_connector: Connector pieces between each agent's observations (and
            rewards) and its module: every module gets its own copy, built for the spaces of
            its agents, and is built for the pipeline's output (see
            :mod:`tripod.env.multi_agent_connectors`; per-episode memory is kept per agent).
        module_to_env_connector: Connector pieces between each module's actions and the env.
        validate_module_outputs: Check each module's first output per batch size.
    """

    def __init__(
        self,
        env: Any = None,
        *,
        config: Any = None,
        env_config: Mapping[str, Any] | None = None,
        module_spec: MultiRLModuleSpec | None = None,
        module: MultiRLModule | None = None,
        policy_mapping_fn: Callable[..., Any] | None = None,
        num_envs: int | None = None,
        rollout_fragment_length: int | None = None,
        seed: int | None = None,
        worker_index: int = 0,
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
            "policy_mapping_fn": policy_mapping_fn, "num_envs": num_envs,
            "rollout_fragment_length": rollout_fragment_length, "seed": seed,
            "clip_actions": clip_actions, "normalize_actions": normalize_actions, "clip_rewards": clip_rewards,
            "env_to_module_connector": env_to_module_connector, "module_to_env_connector": module_to_env_connector,
        }  # fmt: skip
        settings = merge_settings(type(self).__name__, config, given, kwargs, {"num_envs": 1, "clip_actions": True})
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
        num_envs: int,
        worker_index: int,
        connectors: dict[str, Any],
        validate_module_outputs: bool,
        env_config: Mapping[str, Any] | None = None,
        module_spec: MultiRLModuleSpec | None = None,
        module: MultiRLModule | None = None,
        policy_mapping_fn: Callable[..., Any] | None = None,
        rollout_fragment_length: int | None = None,
        seed: int | None = None,
        global_rng: GlobalRNGScope | None = None,
    ) -> None:
        fragment = (
            DEFAULT_ROLLOUT_FRAGMENT_LENGTH if rollout_fragment_length is None else rollout_fragment_length
        )
        check_positive_int("rollout_fragment_length", fragment)
        check_positive_int("num_envs", num_envs)
        self.env_name, self.num_envs, self.rollout_fragment_length = env_name(env), num_envs, fragment
        self.seed, self.worker_index = seed, int(worker_index)
        self.clip_actions = connectors["clip_actions"] is not False
        self.validate_module_outputs = validate_module_outputs
        self.global_rng = global_rng or GlobalRNGScope(seed, RUNNER_STREAM, self.worker_index)
        self.envs: list[MultiAgentEnv] = []
        #: Per-module connector pipelines (None without connector settings).
        self.connectors: MultiAgentConnectors | None = None
        with self.global_rng:
            creator = make_env_creator(env, env_config=env_config)
            self._build(creator, module_spec, module, policy_mapping_fn, connectors)
        self.module_ids = list(self.module.keys())
        self._mi = {mid: i for i, mid in enumerate(self.module_ids)}
        rng = self._rng = np.random.default_rng(None if seed is None else [int(seed), self.worker_index])
        self.action_sampler = ActionSampler(rng)
        self._make_samplers(seed)
        conn = self.connectors
        self._env_obs_spaces = [self._env_spaces[mid] for mid in self.module_ids]
        self._transform = None if conn is None else [conn.transforms(mid) for mid in self.module_ids]
        self._to_env = None if conn is None else [conn.to_env_needed(mid) for mid in self.module_ids]
        self._keep_actions = conn is not None and conn.per_episode_memory
        self._rows = [sampler.rows for sampler in self._samplers]
        self._stateful = [self.module[mid].is_stateful() for mid in self.module_ids]
        for mid, rows, stateful in zip(self.module_ids, self._rows, self._stateful, strict=True):
            if stateful:
                rows.enable_state(self.module[mid].get_initial_state())
        self._reset_seed = None if seed is None else int(seed) + 1000 * self.worker_index
        self._episodes: list[MultiAgentEpisode] = []
        self._slots: list[dict[AgentID, _Slot]] = []
        self._pending: list[list[_Slot]] = []
        #: Per module, ``(slot, observation, starts an episode, reward)`` of agents whose rows wait
        #: for the end of the vector step (connectors transform them as one batch).
        self._waiting: dict[int, list[tuple[_Slot, Any, bool, float]]] = {}
        self._needs_reset = True
        self._collect = True
        self._eval: dict[str, Any] | None = None
        self.num_env_steps_sampled_lifetime = 0
        self._new_metrics()

    def _make_samplers(self, seed: int | None) -> None:
        """One :class:`ModuleSampler` per module, its random actions seeded from the runner's seed."""
        conn = self.connectors
        self._samplers = [
            ModuleSampler(
                mid, self.module[mid], self.action_sampler, validate=self.validate_module_outputs,
                clip_actions=self.clip_actions if conn is None else conn.clip_in_place(mid),
            )  # fmt: skip
            for mid in self.module_ids
        ]
        for i, sampler in enumerate(self._samplers):
            sampler.seed_random_actions(derive_seed(seed, RUNNER_STREAM, self.worker_index, 1, i))

    def _build(
        self, creator: Callable[[], Any], module_spec: Any, module: Any, policy_mapping_fn: Any,
        connectors: dict[str, Any],
    ) -> None:  # fmt: skip
        try:
            for _ in range(self.num_envs):
                self.envs.append(check_multi_agent_env(self.env_name, creator()))
            self.module_spec, self.policy_mapping_fn = resolve_module_spec(
                module_spec, module, self.envs[0], policy_mapping_fn, self.worker_index
            )
            subs = self.module_spec.rl_module_specs if module is None else module
            #: The env's observation space of each module's agents (before connectors).
            self._env_spaces = {mid: subs[mid].observation_space for mid in subs}
            if connectors_requested(connectors, (getattr(subs[mid], "model_config", None) for mid in subs)):
                self._build_connectors(subs, connectors, module is None)
            if module is None:
                module = dataclasses.replace(self.module_spec, inference_only=True).build()
            self.module = module
        except BaseException:
            self.stop()
            raise

    def _build_connectors(self, subs: Mapping[str, Any], settings: dict[str, Any], from_spec: bool) -> None:
        """Per-module pipelines; a spec's modules are built for the pipelines' output spaces."""
        spaces = {mid: (sub.observation_space, sub.action_space) for mid, sub in subs.items()}
        configs = {mid: getattr(sub, "model_config", None) for mid, sub in subs.items()}
        self.connectors = conn = MultiAgentConnectors(self.envs[0], spaces, settings, configs)
        if from_spec:
            specs = {
                mid: dataclasses.replace(sub, observation_space=conn.observation_space(mid))
                for mid, sub in subs.items()
            }
            self.module_spec = dataclasses.replace(self.module_spec, rl_module_specs=specs)

    def _owned_spaces(self) -> list[gym.Space]:
        return [sampler.random_space for sampler in self._samplers]

    def get_rng_state(self) -> dict[str, Any]:
        """As the single-agent runner's, plus ``"gumbel"``: noise drawn but not used yet."""
        return {**super().get_rng_state(), "gumbel": self.action_sampler.get_state()}

    def set_rng_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`get_rng_state` returned."""
        super().set_rng_state(state)
        self.action_sampler.set_state(state.get("gumbel", {}))

    # ------------------------------------------------------------------ episodes
    def _make_episode_hooks(self, callbacks: Any, hooks: frozenset[str]) -> MultiAgentEpisodeHooks:
        return MultiAgentEpisodeHooks(callbacks, hooks, self)

    def _reset_all(self) -> None:
        for rows in self._rows:
            rows.clear()
        self._waiting = {}
        self._episodes, self._slots, self._pending = (
            [None] * self.num_envs,
            [{}] * self.num_envs,
            [[]] * self.num_envs,
        )
        for e in range(self.num_envs):
            seed = None if self._reset_seed is None else self._reset_seed + e
            self._reset_env(e, seed)
        self._reset_seed = None  # later resets continue the envs' own RNGs
        self._needs_reset = False
        self._flush_waiting()

    def _reset_env(self, e: int, seed: int | None = None) -> None:
        try:
            obs, infos = self.envs[e].reset(seed=seed)
        except Exception as exc:
            raise EnvError(
                f"Env '{self.env_name}' raised {type(exc).__name__} in reset() (copy {e}): {exc}"
            ) from exc
        episode = self._episodes[e] = MultiAgentEpisode(e, self.worker_index)
        self._slots[e] = {}
        self._on_step(e, obs, {}, {}, {})
        if self._episode_hooks is not None:
            self._episode_hooks.start(episode, obs, infos)

    def _new_slot(self, e: int, agent_id: AgentID, obs: Any) -> _Slot:
        episode = self._episodes[e]
        module_id = episode.module_for(agent_id, self.policy_mapping_fn)
        mi = self._mi.get(module_id)
        if mi is None:
            raise unknown_module_error(agent_id, module_id, self.module_ids)
        check_agent_obs(self.env_name, agent_id, module_id, self._env_obs_spaces[mi], obs)
        slot = self._slots[e][agent_id] = _Slot(agent_id, mi, self._samplers[mi].stream(e, agent_id))
        if self._stateful[mi]:  # a new episode of this agent: its recurrent state starts afresh
            self._rows[mi].reset_stream_state(slot.stream)
        episode.agent_returns[agent_id] = 0.0
        return slot

    def _on_step(self, e: int, obs: dict, rewards: dict, terminateds: dict, truncateds: dict) -> None:
        """Book one env step's (or reset's) results: close rows, open new ones, end the episode."""
        episode, slots, collect = self._episodes[e], self._slots[e], self._collect
        pending = self._pending[e] = []
        all_terminated = bool(terminateds.get("__all__", False))
        all_truncated = bool(truncateds.get("__all__", False)) and not all_terminated
        returns, rows_of, paid = episode.agent_returns, self._rows, 0
        transform, waiting = self._transform, self._waiting
        for agent_id, agent_obs in obs.items():
            slot = slots.get(agent_id)
            if slot is None:
                slot = self._new_slot(e, agent_id, agent_obs)
            reward = rewards.get(agent_id)
            if reward is None:
                reward = 0.0
            else:
                paid += 1
                returns[agent_id] += reward
            if all_terminated or all_truncated or terminateds.get(agent_id) or truncateds.get(agent_id):
                self._agent_done(slot, reward, all_terminated or bool(terminateds.get(agent_id)), agent_obs)
                continue
            rows = rows_of[slot.mi]
            if slot.row >= 0 and collect:
                rows.close(slot.row, reward)
            if transform is not None and transform[slot.mi]:  # added after the vector step, one batch per module
                waiting.setdefault(slot.mi, []).append((slot, agent_obs, slot.row < 0, reward))
            else:
                slot.row = rows.add(slot.stream, agent_obs)
            pending.append(slot)
        if paid != len(rewards):
            raise reward_without_obs_error(self.env_name, e, rewards, obs)
        if len(terminateds) > len(obs) + 1 or len(truncateds) > len(obs) + 1:
            self._done_without_obs(e, obs, terminateds, truncateds)
        if all_terminated or all_truncated:
            self._end_episode(e, all_terminated)
        elif not pending:
            raise nobody_to_act_error(self.env_name, e)

    def _flush_waiting(self) -> None:
        """Rows for the observations of the vector step (or reset) just done that go through
        connectors: each module's through its env-to-module pipeline as one batch (all env copies)."""
        if self._waiting:
            for mi, entries in self._waiting.items():
                self.connectors.add_rows(self.module_ids[mi], self._rows[mi], entries, self._collect)
            self._waiting = {}

    def _agent_done(self, slot: _Slot, reward: float, terminated: bool, obs: Any = None) -> None:
        """The agent's episode ended (with ``obs``, its last observation, or without: it keeps its own)."""
        if slot.row >= 0 and self._collect:
            rows = self._rows[slot.mi]
            rows.close(slot.row, reward, terminated, not terminated)
            if obs is not None and not terminated:
                if self._transform is not None and self._transform[slot.mi]:
                    rows.final_obs[slot.row] = self.connectors.final(
                        self.module_ids[slot.mi], obs, slot.stream, slot.action, reward
                    )
                else:
                    rows.final_obs[slot.row] = tree_map(np.array, obs)
        slot.row, slot.action = -1, None

    def _done_without_obs(self, e: int, obs: dict, terminateds: dict, truncateds: dict) -> None:
        for flags, terminated in ((terminateds, True), (truncateds, False)):
            for agent_id, done in flags.items():
                slot = self._slots[e].get(agent_id)
                if done and agent_id not in obs and slot is not None:
                    self._agent_done(slot, 0.0, terminated)

    def _end_episode(self, e: int, terminated: bool) -> None:
        for slot in self._slots[e].values():  # agents that acted but got no last observation
            self._agent_done(slot, 0.0, terminated)
        if self._episode_hooks is not None:
            self._episode_hooks.ended(self._episodes[e], terminated)
        self._record_episode(e, self._episodes[e])
        self._reset_env(e)

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
        """Step the env copies and return what happened.

        Args:
            num_timesteps: Env steps in all: ``ceil(num_timesteps / num_envs)`` steps of each
                copy (default ``rollout_fragment_length`` each). Episodes continue across calls.
            num_episodes: Instead, reset and run until this many episodes have ended (each
                copy gets an equal quota). Used for evaluation.
            explore: ``forward_exploration`` and sampled actions; False: ``forward_inference``.
            random_actions: Uniformly random actions (no forward).
            force_reset: Reset the envs first instead of continuing the running episodes.

        Returns:
            With ``num_timesteps``: ``{module_id: batch}`` for every module with finished
            agent steps, each batch like the single-agent runner's (time-major ``[T, N]``,
            one column per agent stream; see :mod:`tripod.env.multi_agent_buffers`).
            With ``num_episodes``: ``episode_returns``/``episode_lens`` ``[E]`` and
            ``agent_episode_returns`` / ``module_episode_returns`` (``{id: [returns]}``).
        """
        if force_reset:
            self._needs_reset = True
        if num_episodes is not None:
            if num_timesteps is not None:
                raise ValueError("sample(): pass num_timesteps or num_episodes, not both.")
            check_positive_int("num_episodes", num_episodes)
            with self.global_rng:
                return self._custom_metrics(self._sample_episodes(num_episodes, explore, random_actions))
        num_steps = self.rollout_fragment_length
        if num_timesteps is not None:
            check_positive_int("num_timesteps", num_timesteps)
            num_steps = math.ceil(num_timesteps / self.num_envs)
        with self.global_rng:  # once per call, not per step
            self._sample_steps(num_steps, explore, random_actions)
        self._m_env_steps += num_steps * self.num_envs
        self.num_env_steps_sampled_lifetime += num_steps * self.num_envs
        return self._take_batches()

    def _sample_steps(self, num_steps: int, explore: bool, random_actions: bool) -> None:
        if self._needs_reset:
            self._reset_all()
        try:
            with torch.no_grad():
                for _ in range(num_steps):
                    self._env_step(explore, random_actions)
        except BaseException:
            self._needs_reset = True  # the envs moved on without us: start afresh next time
            raise

    def _take_batches(self) -> dict[str, Any]:
        batches, remaps = {}, []
        for mi, rows in enumerate(self._rows):
            bad = rows.first_nonfinite_row()
            if bad is not None:
                self._needs_reset = True
                raise nonfinite_error(self.env_name, rows, bad, self._samplers[mi])
            batch = rows.build_batch()
            if self.connectors is not None:  # training rewards; statistics learn from the round
                if batch is not None:
                    self.connectors.end_round(self.module_ids[mi], batch)
                else:
                    self.connectors.end_empty_round(self.module_ids[mi])
            if batch is not None:
                batches[self.module_ids[mi]] = batch
            remaps.append(rows.carry_over())
        for slots in self._slots:
            for slot in slots.values():
                if slot.row >= 0:
                    slot.row = int(remaps[slot.mi][slot.row])
        return batches

    def _env_step(self, explore: bool, random_actions: bool) -> None:
        """The hot loop body: one forward per module over all its waiting agents, then step every copy."""
        rows_of, num_modules = self._rows, len(self._rows)
        starts = [rows.fwd_start for rows in rows_of]
        actions: list[list | None] = [None] * num_modules
        batch = {}
        for mi, rows in enumerate(rows_of):
            count = rows.size - rows.fwd_start
            if count == 0:
                continue
            if self._collect:
                self._m_agent_steps[mi] += count
            if random_actions:
                actions[mi] = self._samplers[mi].random_actions(self._collect)
            elif self._stateful[mi]:  # [B, 1, ...] observations and the streams' states
                obs = tree_map(lambda x: x.unsqueeze(1), rows.obs_input())
                batch[self.module_ids[mi]] = {Columns.OBS: obs, Columns.STATE_IN: rows.state_input()}
            else:
                batch[self.module_ids[mi]] = {Columns.OBS: rows.obs_input()}
        if batch:  # the callers run this under torch.no_grad()
            output = (self.module.forward_exploration if explore else self.module.forward_inference)(batch)
            for module_id in batch:
                mi = self._mi[module_id]
                out = output[module_id]
                if self._stateful[mi]:
                    out = self._step_outputs(mi, out)
                actions[mi] = self._samplers[mi].actions(out, explore, self._collect)
        if self._keep_actions:  # the module's actions, before module-to-env pieces
            for slots in self._pending:
                for slot in slots:
                    slot.action = actions[slot.mi][slot.row - starts[slot.mi]]
        if self._to_env is not None:
            for mi, needed in enumerate(self._to_env):
                if needed and actions[mi] is not None and not random_actions:
                    actions[mi] = self.connectors.to_env(self.module_ids[mi], actions[mi])
        for rows in rows_of:
            if self._collect:
                rows.fwd_start = rows.size
            else:  # evaluation keeps no rows: the next step's observations start at row 0
                rows.drop_rows()
        for e, env in enumerate(self.envs):
            action_dict = {
                slot.agent_id: actions[slot.mi][slot.row - starts[slot.mi]] for slot in self._pending[e]
            }
            try:
                obs, rewards, terminateds, truncateds, infos = env.step(action_dict)
            except Exception as exc:
                raise EnvError(
                    f"Env '{self.env_name}' raised {type(exc).__name__} in step() (copy {e}, agents "
                    f"{list(action_dict)}): {exc}"
                ) from exc
            episode, hooks = self._episodes[e], self._episode_hooks
            episode.env_steps += 1
            if hooks is not None:
                hooks.log(episode, obs, action_dict, rewards, infos)
            self._on_step(e, obs, rewards, terminateds, truncateds)  # at an episode's end: the hooks, a reset
            if hooks is not None and self._episodes[e] is episode:
                hooks.stepped(episode)
        self._flush_waiting()

    def _step_outputs(self, mi: int, output: Any) -> dict[str, Any]:
        """A stateful module's output of one step: ``state_out`` kept per stream, the time axis dropped."""
        if not isinstance(output, Mapping) or Columns.STATE_OUT not in output:
            raise ModuleOutputError(
                f"Module '{self.module_ids[mi]}' ({type(self.module[self.module_ids[mi]]).__name__}) is stateful "
                f"(get_initial_state() is not empty) but returned no '{Columns.STATE_OUT}'. Return the next "
                "recurrent state under Columns.STATE_OUT, shaped like the batch's Columns.STATE_IN."
            )
        self._rows[mi].store_state_out(output[Columns.STATE_OUT])
        return squeeze_time_outputs(output, self._rows[mi].action_space)

    # ------------------------------------------------------------------ evaluation
    def _sample_episodes(self, num_episodes: int, explore: bool, random_actions: bool) -> dict[str, Any]:
        quota = np.full(self.num_envs, num_episodes // self.num_envs)
        quota[: num_episodes % self.num_envs] += 1
        self._eval = {"quota": quota, "done": np.zeros(self.num_envs, dtype=np.int64), "episodes": []}
        self._collect = False
        try:
            self._reset_all()
            with torch.no_grad():
                while (self._eval["done"] < quota).any():
                    self._env_step(explore, random_actions)
            episodes = self._eval["episodes"]
        finally:
            self._collect, self._eval, self._needs_reset = True, None, True
        return episode_results(episodes)

    # ------------------------------------------------------------------ metrics
    def _record_episode(self, e: int, episode: MultiAgentEpisode) -> None:
        if self._eval is not None:
            if self._eval["done"][e] < self._eval["quota"][e]:
                self._eval["done"][e] += 1
                self._eval["episodes"].append(episode)
            return
        self._m_episodes.append(episode)

    def _new_metrics(self) -> None:
        self._m_episodes: list[MultiAgentEpisode] = []
        self._m_env_steps = 0
        self._m_agent_steps = [0] * len(self.module_ids)

    def get_metrics(self) -> dict[str, Any]:
        """Statistics since the last call (then reset).

        Keys: those of the single-agent runner (``episode_return_mean`` is the sum over
        agents per episode, ``episode_len_mean`` counts env steps, ``num_env_steps_sampled``)
        plus ``agent_episode_returns_mean`` ``{agent_id: mean}``, ``module_episode_returns_mean``
        ``{module_id: mean}`` (sum over the agents a module played, per episode), the lists
        ``agent_episode_returns`` / ``module_episode_returns``, ``num_agent_steps_sampled``
        and ``num_module_steps_sampled`` ``{module_id: n}``. Evaluation is not included.
        """
        metrics = episode_results(self._m_episodes)
        metrics.update(
            num_env_steps_sampled=self._m_env_steps,
            num_agent_steps_sampled=int(sum(self._m_agent_steps)),
            num_module_steps_sampled=dict(zip(self.module_ids, self._m_agent_steps)),
            num_env_restarts=0,
        )
        self._new_metrics()
        return self._custom_metrics(metrics)

    # ------------------------------------------------------------------ state
    def get_spaces(self) -> tuple[dict[str, gym.Space], dict[str, gym.Space]]:
        """``({module_id: observation_space}, {module_id: action_space})``."""
        subs = {mid: self.module[mid] for mid in self.module_ids}
        return (
            {mid: m.observation_space for mid, m in subs.items()},
            {mid: m.action_space for mid, m in subs.items()},
        )

    def get_env_spaces(self) -> tuple[dict[str, gym.Space], dict[str, gym.Space]]:
        """``({module_id: the env's observation space of its agents}, {module_id: action_space})``:
        the spaces before the connectors."""
        return dict(self._env_spaces), self.get_spaces()[1]

    def stop(self) -> None:
        """Close the envs."""
        for env in self.envs:
            env.close()
