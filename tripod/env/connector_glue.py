"""A single-agent env runner's connector pipelines and the bookkeeping they need per vector step.

The runner hands every vector step's raw observations, actions and rewards here; this
object works out which sub-envs start an episode (for the pieces' per-episode memory),
transforms the observations for the module, transforms final observations without
touching that memory, maps module actions to env actions, and turns a round's rewards
into training rewards. See :mod:`tripod.connectors.connector_v2`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from tripod.connectors.build import build_env_to_module, build_module_to_env
from tripod.connectors.connector_v2 import ConnectorV2, StepInfo
from tripod.connectors.env_to_module.prev_actions_prev_rewards import PrevActionsPrevRewards
from tripod.connectors.env_to_module.rewards import ClipRewards
from tripod.data.batch import first_leaf

__all__ = ["RunnerConnectors", "clip_reward_pieces", "prev_action_pieces"]


def prev_action_pieces(model_config: Any) -> list[PrevActionsPrevRewards]:
    """The piece ``lstm_use_prev_action`` / ``lstm_use_prev_reward`` in a model config ask for."""
    get = (
        model_config.get
        if isinstance(model_config, Mapping)
        else lambda k, d=None: getattr(model_config, k, d)
    )
    actions, rewards = bool(get("lstm_use_prev_action", False)), bool(get("lstm_use_prev_reward", False))
    if not (actions or rewards):
        return []
    return [PrevActionsPrevRewards(n_prev_actions=int(actions), n_prev_rewards=int(rewards))]


def clip_reward_pieces(clip_rewards: Any) -> list[ClipRewards]:
    """The piece RLlib's ``clip_rewards`` asks for: True = sign, a number = clip, None/False = none."""
    if clip_rewards is None or clip_rewards is False:
        return []
    return [ClipRewards(sign=True) if clip_rewards is True else ClipRewards(limit=float(clip_rewards))]


class RunnerConnectors:
    """The env-to-module and module-to-env pipelines of one single-agent runner.

    Args:
        env: The runner's vector env (handed to factories).
        observation_space: The env's single observation space.
        action_space: The env's single action space.
        num_envs: Sub-envs of the runner.
        same_step: The vector env resets finished sub-envs in the same step (final
            observations arrive in ``infos``); else in the next step.
        settings: ``env_to_module_connector``, ``module_to_env_connector``,
            ``normalize_actions``, ``clip_actions``, ``clip_rewards`` and the module's ``model_config``.
    """

    def __init__(
        self, env: Any, observation_space: gym.Space, action_space: gym.Space, num_envs: int,
        same_step: bool, settings: Mapping[str, Any],
    ) -> None:  # fmt: skip
        extra: list[ConnectorV2] = [
            *prev_action_pieces(settings.get("model_config") or {}),
            *clip_reward_pieces(settings.get("clip_rewards")),
        ]
        self.env_to_module = build_env_to_module(
            settings.get("env_to_module_connector"), env, observation_space, action_space, num_envs, extra
        )
        self.module_to_env = build_module_to_env(
            settings.get("module_to_env_connector"), env, observation_space, action_space,
            normalize_actions=bool(settings.get("normalize_actions", False)),
            clip_actions=bool(settings.get("clip_actions", True)),
        )  # fmt: skip
        last = self.module_to_env.connectors[-1]
        #: Only the default clip: the output plan clips in place, and :meth:`to_env` is not needed.
        self.clip_in_place = len(self.module_to_env) == 1 and last.clips_only
        self.to_env_needed = len(self.module_to_env) > 1 or (last.active and not self.clip_in_place)
        pipeline = self.env_to_module
        self.observation_space = pipeline.observation_space if pipeline is not None else observation_space
        self.same_step, self.num_envs = same_step, num_envs
        self._prev_done = np.zeros(num_envs, dtype=bool)
        self._info = StepInfo(starts=self._prev_done)
        self._final_info = StepInfo(starts=np.zeros(1, dtype=bool))

    @property
    def active(self) -> bool:
        """Whether observations are transformed at all."""
        return self.env_to_module is not None

    # ------------------------------------------------------------------ observations
    def reset(self, obs: Any, update: bool) -> Any:
        """The module's observations for a fresh reset of every sub-env."""
        self._prev_done[:] = False
        starts = np.ones(self.num_envs, dtype=bool)
        return self.env_to_module(obs, StepInfo(starts=starts, update=update))

    def step(self, obs: Any, actions: Any, rewards: Any, done: np.ndarray, update: bool,
             restarted: np.ndarray | None = None) -> Any:  # fmt: skip
        """The module's observations after a vector step.

        Args:
            obs: The env's observations ``[N, ...]``.
            actions: The module's actions of the step (before clipping).
            rewards: The step's rewards ``[N]``.
            done: ``[N]`` terminated or truncated in the step.
            update: Statistics may learn (sampling for training).
            restarted: ``[N]`` sub-envs recreated in the step (their observation starts an episode).
        """
        if self.same_step:
            starts = done
        else:  # the step after an episode's end returns the reset observation
            starts, self._prev_done = self._prev_done, np.asarray(done, dtype=bool).copy()
        if restarted is not None:
            starts = starts | restarted
        info = self._info  # one object, refilled each step (pieces must not keep it)
        info.starts = starts if type(starts) is np.ndarray and starts.dtype == bool else np.asarray(starts, bool)
        info.prev_actions, info.prev_rewards, info.update = actions, rewards, update
        return self.env_to_module(obs, info)

    def final(self, obs: Any, index: int, actions: Any, rewards: Any) -> Any:
        """Sub-env ``index``'s final observation (from ``infos``) as the module sees it, one row."""
        info = self._final_info  # refilled per call, as in step()
        info.prev_actions = _row_of(actions, index)
        info.prev_rewards = None if rewards is None else np.asarray(rewards)[index : index + 1]
        out = self.env_to_module.peek(obs[None] if type(obs) is np.ndarray else _batch_of_one(obs), index, info)
        return out[0] if type(out) is np.ndarray else _first_row(out)

    # ------------------------------------------------------------------ actions and rewards
    def to_env(self, actions: Any) -> Any:
        """The env's actions for the module's ``actions`` ``[N, ...]``."""
        rows = len(np.asarray(first_leaf(actions)))
        return self.module_to_env(actions, StepInfo(starts=np.zeros(rows, dtype=bool)))

    def end_round(self, rewards: np.ndarray, dones: np.ndarray, mask: np.ndarray, update: bool) -> np.ndarray:
        """Fold the round into statistics; returns the training rewards."""
        out = rewards
        if self.env_to_module is not None:
            out = self.env_to_module.process_rewards(rewards, dones, mask, update)
            self.env_to_module.end_round(update)
        return out

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, Any] | None:
        """``{"env_to_module": ..., "module_to_env": ...}`` for the pipelines whose pieces keep
        statistics; None when none does."""
        state = {}
        for name in ("env_to_module", "module_to_env"):
            pipeline = getattr(self, name)
            if pipeline is not None:
                pieces = pipeline.get_state()
                if any(pieces["pieces"]):
                    state[name] = pieces
        return state or None

    def set_state(self, state: Any) -> None:
        """Load :meth:`get_state`'s result, or a list of them (several runners': merged first, keeping
        what this runner learnt since it reported), or ``{"replace": [states]}`` (a checkpoint's:
        merged, and replacing everything this runner learnt)."""
        replace = isinstance(state, Mapping) and "replace" in state
        if replace:
            state = state["replace"]
        states = list(state) if isinstance(state, list | tuple) else [state]
        for name in ("env_to_module", "module_to_env"):
            pipeline = getattr(self, name)
            given = [s.get(name) for s in states if isinstance(s, Mapping) and s.get(name) is not None]
            if pipeline is None:
                if given:
                    raise ValueError(
                        f"The connector state holds a {name} pipeline, but this env runner has none: it was "
                        "saved with other connector settings. Use the settings the run was trained with."
                    )
                continue
            if given:
                merged = pipeline.merge_states(given) if len(given) > 1 else given[0]
                if replace:  # a plain state: loading it replaces, nothing learnt here is kept
                    merged = {"pieces": [_plain(piece) for piece in merged["pieces"]]}
                pipeline.set_state(merged)


def _plain(piece_state: Any) -> Any:
    """A piece's merged state without its ``"merged"`` mark."""
    if isinstance(piece_state, Mapping):
        return {k: v for k, v in piece_state.items() if k != "merged"}
    return piece_state


def _batch_of_one(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {k: _batch_of_one(v) for k, v in x.items()}
    if isinstance(x, tuple | list):
        return tuple(_batch_of_one(v) for v in x)
    return np.asarray(x)[None]


def _row_of(x: Any, index: int) -> Any:
    if x is None:
        return None
    if type(x) is np.ndarray:
        return x[index : index + 1]
    if isinstance(x, Mapping):
        return {k: _row_of(v, index) for k, v in x.items()}
    if isinstance(x, tuple | list):
        return tuple(_row_of(v, index) for v in x)
    return np.asarray(x)[index : index + 1]


def _first_row(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {k: _first_row(v) for k, v in x.items()}
    if isinstance(x, tuple | list):
        return tuple(_first_row(v) for v in x)
    return x[0]
