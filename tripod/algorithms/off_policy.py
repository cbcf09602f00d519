"""The training loop of replay-based algorithms (DQN, SAC) on tripod's Algorithm.

Same Algorithm, Learner and EnvRunner as PPO: only :meth:`training_step` and
the replay buffer's place in checkpoints are added here.
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Any

import numpy as np

from tripod.algorithms.algorithm import Algorithm
from tripod.algorithms.algorithm_config import ConfigError
from tripod.core.columns import Columns
from tripod.core.rl_module.rl_module import DEFAULT_MODULE_ID
from tripod.data.prioritized_replay_buffer import PrioritizedReplayBuffer
from tripod.data.replay_buffer import ReplayBuffer, ReplayBufferMemoryError
from tripod.data.transitions import with_next_obs
from tripod.io.checkpoint import CheckpointError, load_state, save_state
from tripod.learner.off_policy_learner import OffPolicyLearner, TDTargetError
from tripod.learner.schedules import schedule_value

logger = logging.getLogger(__name__)

REPLAY_BUFFER_STATE = "replay_buffer"


class OffPolicyAlgorithm(Algorithm):
    """Sample a few steps, store them in a replay buffer, make gradient updates from it.

    One iteration (:meth:`training_step`) repeats until the config's
    ``min_sample_timesteps_per_iteration`` env steps were sampled: sample
    ``rollout_fragment_length`` vector steps, add them (with their next
    observations) to the replay buffer, and — once
    ``num_steps_sampled_before_learning_starts`` steps were sampled — make
    ``training_intensity`` updates per new env step, each on
    ``train_batch_size_per_learner`` replayed transitions.

    Attributes:
        replay_buffer: The :class:`~tripod.data.replay_buffer.ReplayBuffer` (or
            prioritized one) holding the sampled transitions.
    """

    learner_class: type[OffPolicyLearner] = OffPolicyLearner
    supports_multi_agent = False

    def __init__(self, config: Any) -> None:
        self._update_credit = 0.0
        super().__init__(config)
        self.replay_buffer = self._make_replay_buffer()

    def _make_replay_buffer(self) -> ReplayBuffer:
        try:
            return self._new_replay_buffer()
        except ReplayBufferMemoryError as err:
            self.stop()
            raise ConfigError(f"{type(self.config).__name__}: {err}") from None

    def _new_replay_buffer(self) -> ReplayBuffer:
        c = self.config
        obs_space, act_space = self.env_runner_group.get_spaces()
        kwargs = {"num_envs": self._num_streams(), "n_step": c.n_step, "gamma": c.gamma, "seed": c.seed}
        if c.prioritized_replay:
            return PrioritizedReplayBuffer(
                c.replay_buffer_capacity, obs_space, act_space, **kwargs,
                alpha=c.prioritized_replay_alpha, beta=schedule_value(c.prioritized_replay_beta, 0),
                eps=c.prioritized_replay_eps,
            )  # fmt: skip
        return ReplayBuffer(c.replay_buffer_capacity, obs_space, act_space, **kwargs)

    def _num_streams(self) -> int:
        """Sub-envs of all env runners together: the columns of every sampled batch (a remote
        group keeps a failed runner's columns, filled with masked rows)."""
        return self.config.num_envs_per_env_runner * max(1, self.config.num_env_runners)

    # ------------------------------------------------------------------ hooks
    def sample_random_actions(self) -> bool:
        """Whether to sample uniformly random actions this round (SAC before learning starts)."""
        return False

    # --------------------------------------------------------------- training
    def training_step(self) -> dict[str, Any]:
        """Sample, store and replay until ``min_sample_timesteps_per_iteration`` steps were sampled.

        Each round: sample from the env runner group → add to the replay buffer (kept here, in
        the driver) → replayed batches to the learner group → weights (when updated) and
        exploration values (for the next round's step count) back to the runners.
        """
        c = self.config
        per_round = c.fragment_length * self._num_streams()
        rounds = max(1, math.ceil(c.min_sample_timesteps_per_iteration / per_round))
        sample_s = learn_s = 0.0
        self.learner_group.set_learning_rates(self.num_env_steps_sampled_lifetime)
        try:
            for _ in range(rounds):
                t0 = time.perf_counter()
                batch = self.env_runner_group.sample(
                    num_timesteps=per_round, random_actions=self.sample_random_actions()
                )[DEFAULT_MODULE_ID]
                steps = int(np.count_nonzero(batch[Columns.LOSS_MASK]))
                self.num_env_steps_sampled_lifetime += steps
                self.replay_buffer.add(with_next_obs(batch))
                t1 = time.perf_counter()
                self._sync_weights(weights=self._learn(steps) > 0)
                sample_s += t1 - t0
                learn_s += time.perf_counter() - t1
        except TDTargetError as err:
            raise TDTargetError(
                f"{type(self).__name__} stopped in training step {self.iteration + 1} "
                f"(env step {self.num_env_steps_sampled_lifetime}): {err}"
            ) from err
        self._connectors.after_sample(self.env_runner_group)
        results = self.learner_group.collect_results()
        for stats in results.values():
            stats.update(self.exploration_metrics())
        return {
            "env_runner_metrics": self.env_runner_group.get_metrics(),
            "learners": results,
            "timers": {"sample_time_s": sample_s, "learn_time_s": learn_s},
        }

    def learning_started(self) -> bool:
        """Whether enough steps were sampled (and stored) to make updates."""
        c = self.config
        return (
            self.num_env_steps_sampled_lifetime >= c.num_steps_sampled_before_learning_starts
            and len(self.replay_buffer) >= c.train_batch_size_per_learner
        )

    def _learn(self, new_steps: int) -> int:
        """Make the updates ``new_steps`` sampled steps earn; returns how many were made."""
        if not self.learning_started():
            return 0
        c = self.config
        self._update_credit += c.training_intensity * new_steps
        num_updates = int(self._update_credit)
        self._update_credit -= num_updates
        buffer, steps = self.replay_buffer, self.num_env_steps_sampled_lifetime
        prioritized = isinstance(buffer, PrioritizedReplayBuffer)
        beta = schedule_value(c.prioritized_replay_beta, steps)
        extra = {"beta": beta} if prioritized else {}
        for _ in range(num_updates):
            sample = buffer.sample(c.train_batch_size_per_learner, **extra)
            td = self.learner_group.update_from_replay(
                {DEFAULT_MODULE_ID: sample},
                num_env_steps_sampled_lifetime=steps,
                return_td_errors=prioritized,
            )
            if prioritized:
                buffer.update_priorities(sample["indices"], td[DEFAULT_MODULE_ID])
        return num_updates

    def exploration_metrics(self) -> dict[str, float]:
        """Extra per-module statistics for the results (replay buffer size, epsilon, ...)."""
        return {"replay_buffer_size": len(self.replay_buffer)}

    # ------------------------------------------------------------ checkpoints
    def get_state(self) -> dict[str, Any]:
        """The base counters, the fractional update credit and whether the buffer is saved too."""
        return {
            **super().get_state(),
            "update_credit": self._update_credit,
            "replay_buffer_saved": bool(self.config.checkpoint_replay_buffer),
        }

    def save_extra_state(self, directory: str) -> None:
        """Write the replay buffer into a checkpoint when ``checkpoint_replay_buffer`` is set."""
        if self.config.checkpoint_replay_buffer:
            save_state(directory, REPLAY_BUFFER_STATE, self.replay_buffer.get_state())

    def restore_extra_state(self, directory: str, state: dict[str, Any]) -> None:
        """Restore the update credit and, if the checkpoint has one, the replay buffer.

        A checkpoint whose buffer file is missing resumes with an empty buffer and a
        warning — or fails if ``checkpoint_replay_buffer`` is set. A checkpoint saved
        without a buffer (the default) resumes with an empty one quietly.
        """
        self._update_credit = float(state.get("update_credit", 0.0))
        path = os.path.join(directory, f"{REPLAY_BUFFER_STATE}.safetensors")
        if os.path.exists(path):
            try:
                self.replay_buffer.set_state(load_state(directory, REPLAY_BUFFER_STATE))
            except ValueError as err:
                raise CheckpointError(
                    f"{directory}: the saved replay buffer does not fit this run: {err}"
                ) from err
            return
        saved = state.get("replay_buffer_saved", self.config.checkpoint_replay_buffer)
        if saved and self.config.checkpoint_replay_buffer:
            raise CheckpointError(
                f"{directory} has no replay buffer ({REPLAY_BUFFER_STATE}.safetensors is missing), but "
                "checkpoint_replay_buffer=True needs it to resume. Restore the file, or resume with an empty "
                "buffer by overriding checkpoint_replay_buffer=False (CLI: --set checkpoint_replay_buffer=false)."
            )
        message = (
            "%s: %s; training continues with an empty replay buffer (updates restart once it holds %d "
            "transitions)."
        )
        what = (
            f"the replay buffer file {REPLAY_BUFFER_STATE}.safetensors is missing"
            if saved
            else "the checkpoint was saved without its replay buffer (checkpoint_replay_buffer=False)"
        )
        log = logger.warning if saved or self.config.checkpoint_replay_buffer else logger.info
        log(message, directory, what, self.config.train_batch_size_per_learner)
