"""Connector pieces and pipelines: batched transforms between env and module (RLlib's ConnectorV2, kept small).

An env runner keeps two pipelines:

* **env-to-module** turns the env's observations into what the module sees, once per
  vector step on the whole ``[N, ...]`` batch of sub-env observations (normalisation,
  frame stacks, previous actions and rewards, flattening), and, once per sampled round,
  turns the env's rewards into the rewards the learner trains on (scaling, clipping);
* **module-to-env** turns the module's actions ``[N, ...]`` into what the env is stepped
  with (unsquashing, clipping); the batch keeps the module's actions.

A piece is a pure function of its inputs and its own state. Two kinds of state:

* **statistics** (a running mean and variance): :meth:`ConnectorV2.get_state` /
  :meth:`~ConnectorV2.set_state`, merged across env runners with
  :meth:`~ConnectorV2.merge_states`, saved in checkpoints, frozen while evaluating;
* **per-episode memory** (the last frames of each sub-env): lives in the runner's copy only,
  starts afresh with each episode (``StepInfo.starts``) and is never sent anywhere.

Unlike RLlib's pieces, which read and write episode objects step by step, tripod's work on
numpy arrays, so one call serves all sub-envs of a runner. RLlib's class names, module paths
and constructor keywords are kept, so configs port; a custom RLlib connector needs its
``__call__`` rewritten for arrays (see docs/connectors.md).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["ConnectorPipelineV2", "ConnectorV2", "StepInfo"]


@dataclass
class StepInfo:
    """What a piece may know about the vector step whose observations it transforms.

    Attributes:
        starts: ``[N]`` bool: the observation of that sub-env begins an episode (after a
            reset); per-episode memory starts afresh there.
        prev_actions: ``[N, ...]`` the module's actions of the step that led here (rows
            where ``starts`` is set are meaningless), or ``None`` (no action taken yet).
        prev_rewards: ``[N]`` float rewards of that step, or ``None``.
        update: Statistics may learn from these observations (sampling for training);
            ``False`` while evaluating (statistics frozen).
        rows: ``[N]`` int: the per-episode memory row of each data row (a multi-agent
            runner's agent streams: a different subset each step), or ``None``: data row
            ``i`` is sub-env ``i``. Multi-agent runners refuse pieces with per-episode memory
            that does not follow it (``memory_by_rows``).
    """

    starts: np.ndarray
    prev_actions: Any = None
    prev_rewards: np.ndarray | None = None
    update: bool = False
    rows: np.ndarray | None = None

    def row(self, index: int) -> StepInfo:
        """The same information for sub-env ``index`` alone (a batch of one), never updating."""

        def pick(x: Any) -> Any:
            return None if x is None else _tree_rows(x, slice(index, index + 1))

        return StepInfo(
            starts=self.starts[index : index + 1],
            prev_actions=pick(self.prev_actions),
            prev_rewards=pick(self.prev_rewards),
            update=False,
            rows=None if self.rows is None else self.rows[index : index + 1],
        )


def grow_rows(memory: np.ndarray | None, rows: int, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """``memory`` (``[R, *shape]``, or None) with at least ``rows`` rows: doubled when short, new rows
    zero (per-episode memory indexed by ``StepInfo.rows``)."""
    if memory is not None and len(memory) >= rows:
        return memory
    grown = np.zeros((max(rows, 2 * len(memory) if memory is not None else 0), *shape), dtype=dtype)
    if memory is not None:
        grown[: len(memory)] = memory
    return grown


def _tree_rows(x: Any, rows: Any) -> Any:
    if isinstance(x, Mapping):
        return {k: _tree_rows(v, rows) for k, v in x.items()}
    if isinstance(x, tuple | list):
        return tuple(_tree_rows(v, rows) for v in x)
    return x[rows]


class ConnectorV2:
    """One connector piece: a batched transform with optional state (RLlib's ``ConnectorV2``).

    Subclasses override what they need:

    * :meth:`recompute_output_observation_space` / :meth:`recompute_output_action_space`
      when they change a space (the module is built for the env-to-module pipeline's output);
    * :meth:`__call__`: ``data`` ``[N, ...]`` (observations, or actions in a module-to-env
      pipeline) to a new array (never modify ``data`` in place, and keep no reference to ``info``,
      which the runner refills each step);
    * :meth:`peek` when ``__call__`` changes per-episode memory (it must not);
    * :meth:`reset` to size per-episode memory for ``num_envs`` sub-envs;
    * :meth:`process_rewards` to change training rewards; :meth:`end_round` to fold what
      ``__call__`` recorded into statistics;
    * :meth:`get_state`, :meth:`set_state` and :meth:`merge_states` for statistics.

    Args:
        input_observation_space: The observation space coming in (set by the pipeline when
            ``None``).
        input_action_space: The action space coming in.
    """

    #: Whether :meth:`__call__` depends on earlier steps of the episode (frame stacks,
    #: previous actions): then single observations cannot be transformed on their own.
    per_episode_memory: bool = False
    #: Whether that memory follows ``StepInfo.rows`` (needed in multi-agent runners, where
    #: each call holds the agents that just got an observation, and :meth:`peek`'s ``index``
    #: is then a memory row).
    memory_by_rows: bool = False

    def __init__(
        self,
        input_observation_space: gym.Space | None = None,
        input_action_space: gym.Space | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword arguments {sorted(kwargs)}.")
        self._input_obs_space = input_observation_space
        self._input_act_space = input_action_space
        self.observation_space: gym.Space | None = None
        self.action_space: gym.Space | None = None
        if input_observation_space is not None or input_action_space is not None:
            self.set_input_spaces(input_observation_space, input_action_space)

    # ------------------------------------------------------------------ spaces
    @property
    def input_observation_space(self) -> gym.Space | None:
        """The observation space this piece receives."""
        return self._input_obs_space

    @property
    def input_action_space(self) -> gym.Space | None:
        """The action space this piece receives."""
        return self._input_act_space

    def set_input_spaces(self, observation_space: gym.Space | None, action_space: gym.Space | None) -> None:
        """Set the incoming spaces and compute :attr:`observation_space` / :attr:`action_space` from them."""
        self._input_obs_space, self._input_act_space = observation_space, action_space
        known = observation_space is not None  # pieces compute their output spaces from known inputs only
        self.observation_space = self.recompute_output_observation_space(observation_space, action_space) if known else None
        self.action_space = self.recompute_output_action_space(observation_space, action_space) if known else action_space

    def recompute_output_observation_space(
        self, input_observation_space: gym.Space | None, input_action_space: gym.Space | None
    ) -> gym.Space | None:
        """The observation space this piece puts out for these inputs (default: unchanged)."""
        return input_observation_space

    def recompute_output_action_space(
        self, input_observation_space: gym.Space | None, input_action_space: gym.Space | None
    ) -> gym.Space | None:
        """The action space this piece puts out for these inputs (default: unchanged)."""
        return input_action_space

    # ------------------------------------------------------------------ data
    def reset(self, num_envs: int) -> None:
        """Size per-episode memory for ``num_envs`` sub-envs (called when a runner is built)."""

    def __call__(self, data: Any, info: StepInfo) -> Any:
        """Transform ``data`` ``[N, ...]`` (default: unchanged)."""
        return data

    def peek(self, data: Any, index: int, info: StepInfo) -> Any:
        """Transform ``data`` (a batch of one: sub-env ``index``'s final observation) as
        :meth:`__call__` would, without changing memory or statistics."""
        return self(data, info)

    def process_rewards(
        self, rewards: np.ndarray, dones: np.ndarray, mask: np.ndarray, update: bool
    ) -> np.ndarray:
        """The training rewards of a round (``[T, N]`` float32; default: unchanged).

        Args:
            rewards: The env's rewards (do not modify; return a new array).
            dones: ``[T, N]`` episode ends (terminated or truncated).
            mask: ``[T, N]`` real transitions (``loss_mask``).
            update: Statistics may learn from this round.
        """
        return rewards

    def end_round(self, update: bool) -> None:
        """A sampled round is over: fold what was recorded into statistics when ``update``."""

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, Any]:
        """Statistics as numpy arrays and numbers (default: none)."""
        return {}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Load statistics (what :meth:`get_state` or :meth:`merge_states` returned)."""

    def merge_states(self, states: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """One state from several env runners' :meth:`get_state` (default: the first)."""
        return dict(states[0]) if states else {}

    def to_spec(self) -> dict[str, Any] | None:
        """``{"type": name, **keywords}`` rebuilding this piece (for configs as data), or None."""
        return None

    def __repr__(self) -> str:
        spec = self.to_spec()
        if spec is None:
            return f"{type(self).__name__}()"
        args = ", ".join(f"{k}={v!r}" for k, v in spec.items() if k != "type")
        return f"{type(self).__name__}({args})"


class ConnectorPipelineV2(ConnectorV2):
    """Pieces run one after the other (RLlib's ``ConnectorPipelineV2``); itself a piece.

    Args:
        input_observation_space: The env's observation space (env-to-module) or the module's.
        input_action_space: The action space coming in.
        connectors: The pieces, in order.
    """

    def __init__(
        self,
        input_observation_space: gym.Space | None = None,
        input_action_space: gym.Space | None = None,
        *,
        connectors: Iterable[ConnectorV2] | None = None,
        **kwargs: Any,
    ) -> None:
        self.connectors: list[ConnectorV2] = []
        for piece in connectors or ():
            self.append(piece)
        super().__init__(input_observation_space, input_action_space, **kwargs)

    @property
    def per_episode_memory(self) -> bool:  # type: ignore[override]
        return any(piece.per_episode_memory for piece in self.connectors)

    def __len__(self) -> int:
        return len(self.connectors)

    def append(self, connector: ConnectorV2) -> None:
        """Add a piece at the end."""
        self.connectors.append(_check_piece(connector))
        self._refresh_spaces()

    def prepend(self, connector: ConnectorV2) -> None:
        """Add a piece at the front."""
        self.connectors.insert(0, _check_piece(connector))
        self._refresh_spaces()

    def insert_before(self, name_or_class: str | type, connector: ConnectorV2) -> None:
        """Insert ``connector`` before the first piece of that class (or class name)."""
        self.connectors.insert(self._index(name_or_class), _check_piece(connector))
        self._refresh_spaces()

    def insert_after(self, name_or_class: str | type, connector: ConnectorV2) -> None:
        """Insert ``connector`` after the first piece of that class (or class name)."""
        self.connectors.insert(self._index(name_or_class) + 1, _check_piece(connector))
        self._refresh_spaces()

    def remove(self, name_or_class: str | type) -> None:
        """Remove the first piece of that class (or class name)."""
        del self.connectors[self._index(name_or_class)]
        self._refresh_spaces()

    def _index(self, name_or_class: str | type) -> int:
        name = name_or_class if isinstance(name_or_class, str) else name_or_class.__name__
        for i, piece in enumerate(self.connectors):
            if type(piece).__name__ == name:
                return i
        raise ValueError(f"No connector piece '{name}' in the pipeline {self.connectors}.")

    def _refresh_spaces(self) -> None:
        if (
            getattr(self, "_input_obs_space", None) is not None
            or getattr(self, "_input_act_space", None) is not None
        ):
            self.set_input_spaces(self._input_obs_space, self._input_act_space)

    def set_input_spaces(self, observation_space: gym.Space | None, action_space: gym.Space | None) -> None:
        """Set the pipeline's input spaces; each piece gets the spaces the piece before puts out."""
        self._input_obs_space, self._input_act_space = observation_space, action_space
        obs, act = observation_space, action_space
        for piece in self.connectors:
            piece.set_input_spaces(obs, act)
            obs, act = piece.observation_space, piece.action_space
        self.observation_space, self.action_space = obs, act

    # ------------------------------------------------------------------ data
    def reset(self, num_envs: int) -> None:
        for piece in self.connectors:
            piece.reset(num_envs)

    def __call__(self, data: Any, info: StepInfo) -> Any:
        for piece in self.connectors:
            data = piece(data, info)
        return data

    def peek(self, data: Any, index: int, info: StepInfo) -> Any:
        for piece in self.connectors:
            data = piece.peek(data, index, info)
        return data

    def process_rewards(
        self, rewards: np.ndarray, dones: np.ndarray, mask: np.ndarray, update: bool
    ) -> np.ndarray:
        for piece in self.connectors:
            rewards = piece.process_rewards(rewards, dones, mask, update)
        return rewards

    def end_round(self, update: bool) -> None:
        for piece in self.connectors:
            piece.end_round(update)

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, Any]:
        """``{"pieces": [each piece's state]}``."""
        return {"pieces": [piece.get_state() for piece in self.connectors]}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Load :meth:`get_state`'s result; a state of another pipeline raises ``ValueError``."""
        pieces = self._piece_states(state)
        for piece, piece_state in zip(self.connectors, pieces):
            piece.set_state(piece_state)

    def merge_states(self, states: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Each piece's states merged by the piece."""
        per_runner = [self._piece_states(state) for state in states]
        return {
            "pieces": [
                piece.merge_states([p[i] for p in per_runner]) for i, piece in enumerate(self.connectors)
            ]
        }

    def _piece_states(self, state: Any) -> list[Any]:
        pieces = state.get("pieces") if isinstance(state, Mapping) else None
        if not isinstance(pieces, list) or len(pieces) != len(self.connectors):
            have = len(pieces) if isinstance(pieces, list) else "no"
            raise ValueError(
                f"Connector state for a pipeline of {len(self.connectors)} pieces "
                f"({[type(p).__name__ for p in self.connectors]}) has {have} piece states: it was saved "
                "with other env_to_module_connector / module_to_env_connector settings. Use the settings "
                "the run was trained with."
            )
        return pieces

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.connectors})"


def _check_piece(piece: Any) -> ConnectorV2:
    if not isinstance(piece, ConnectorV2):
        raise TypeError(
            f"A connector pipeline takes tripod connector pieces (subclasses of "
            f"tripod.connectors.connector_v2.ConnectorV2), got {type(piece).__name__}: {piece!r}."
        )
    return piece


def fresh_copy(pieces: Sequence[ConnectorV2]) -> list[ConnectorV2]:
    """Deep copies of ``pieces`` (each runner owns its pieces and their state)."""
    return [copy.deepcopy(piece) for piece in pieces]
