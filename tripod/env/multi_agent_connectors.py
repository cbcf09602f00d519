"""Connector pipelines in the multi-agent env runner: one pair per module.

Every module of a :class:`~tripod.env.multi_agent_env_runner.MultiAgentEnvRunner` gets its
own copy of the config's ``env_to_module_connector`` / ``module_to_env_connector`` pieces,
built for the spaces of the agents mapped to it, so each module keeps its own statistics
(a ``MeanStdFilter`` of module ``"p0"`` learns from the observations of ``p0``'s agents
only). The module is built for its pipeline's output space, as in the single-agent runner.

Per env step the runner passes each env copy's new observations of one module's agents
through that module's pipeline as one batch, and each module's actions through its
module-to-env pipeline; each round's training rewards go through the module's reward
pieces (``ClipRewards``, ``NormalizeRewards``) on the module's ``[T, N]`` batch, whose
columns are agent streams.

Pieces with per-episode memory keep it per agent stream (one agent of one env copy): each
call's ``StepInfo.rows`` names the streams of its rows and ``starts`` marks an agent's first
observation of an episode (``prev_actions`` / ``prev_rewards``: each agent's own). Pieces whose
memory does not follow ``rows`` (custom pieces unless they set ``memory_by_rows``) are refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from tripod.connectors.connector_v2 import StepInfo
from tripod.core.columns import Columns
from tripod.env.connector_glue import RunnerConnectors, prev_action_pieces
from tripod.env.multi_agent_actions import as_rows

__all__ = ["MultiAgentConnectors", "connectors_requested"]


def connectors_requested(settings: Mapping[str, Any], model_configs: Iterable[Any] = ()) -> bool:
    """Whether the settings (or a module's ``lstm_use_prev_action`` / ``lstm_use_prev_reward``) ask
    for anything beyond the default action clipping."""
    return (
        settings.get("env_to_module_connector") is not None
        or settings.get("module_to_env_connector") is not None
        or settings.get("clip_rewards") not in (None, False)
        or bool(settings.get("normalize_actions", False))
        or any(prev_action_pieces(config or {}) for config in model_configs)
    )


class MultiAgentConnectors:
    """The connector pipelines of every module of one multi-agent runner.

    Args:
        env: One env copy (handed to connector factories).
        spaces: ``{module_id: (observation_space, action_space)}``: the env's spaces of the
            agents mapped to each module.
        settings: ``env_to_module_connector``, ``module_to_env_connector``,
            ``normalize_actions``, ``clip_actions`` and ``clip_rewards``.
        model_configs: ``{module_id: model_config}`` (``lstm_use_prev_action`` adds a piece).

    Raises:
        ValueError: A piece keeps per-episode memory by sub-env row (not ``memory_by_rows``).
    """

    def __init__(
        self,
        env: Any,
        spaces: Mapping[str, tuple[gym.Space, gym.Space]],
        settings: Mapping[str, Any],
        model_configs: Mapping[str, Any],
    ) -> None:
        self.modules: dict[str, RunnerConnectors] = {}
        for module_id, (observation_space, action_space) in spaces.items():
            connectors = RunnerConnectors(
                env, observation_space, action_space, 1, True,
                {**settings, "model_config": model_configs.get(module_id)},
            )  # fmt: skip
            _refuse_memory(module_id, connectors)
            self.modules[module_id] = connectors

    def observation_space(self, module_id: str) -> gym.Space:
        """The observation space module ``module_id`` sees (its pipeline's output)."""
        return self.modules[module_id].observation_space

    def transforms(self, module_id: str) -> bool:
        """Whether module ``module_id``'s observations go through env-to-module pieces."""
        return self.modules[module_id].active

    def clip_in_place(self, module_id: str) -> bool:
        """Whether the sampler should clip Box actions itself (no other module-to-env work)."""
        return self.modules[module_id].clip_in_place

    def to_env_needed(self, module_id: str) -> bool:
        """Whether module ``module_id``'s actions go through module-to-env pieces."""
        return self.modules[module_id].to_env_needed

    # ------------------------------------------------------------------ data
    @property
    def per_episode_memory(self) -> bool:
        """Whether a module's pipeline keeps per-episode memory (it then needs each agent's previous action)."""
        return any(c.active and c.env_to_module.per_episode_memory for c in self.modules.values())

    def observations(
        self, module_id: str, observations: list[Any], update: bool, *, streams: list[int], starts: list[bool],
        prev_actions: list[Any], prev_rewards: list[float],
    ) -> list[Any]:  # fmt: skip
        """The module's observations for a list of agents' env observations (one batch).

        Args:
            module_id: The module the agents are mapped to.
            observations: One env observation per agent.
            update: Statistics may learn from them (sampling for training).
            streams: Each agent's stream (the row of its per-episode memory).
            starts: Whether each observation is the agent's first of an episode.
            prev_actions: Each agent's action that led to it (None where it starts an episode).
            prev_rewards: The reward that came with it.
        """
        pipeline = self.modules[module_id].env_to_module
        info = StepInfo(
            starts=np.asarray(starts, dtype=bool), update=update, rows=np.asarray(streams, dtype=np.int64),
            prev_actions=_actions(prev_actions), prev_rewards=np.asarray(prev_rewards, dtype=np.float32),
        )  # fmt: skip
        return as_rows(pipeline(_stack(observations), info), len(observations))

    def add_rows(self, module_id: str, rows: Any, entries: list[tuple[Any, Any, bool, float]], update: bool) -> None:
        """Append a row to ``rows`` (the module's :class:`~tripod.env.multi_agent_buffers.ModuleRows`) for
        each agent's new observation, through the module's pipeline as one batch.

        Args:
            entries: ``(slot, env observation, first of the agent's episode, reward)`` per agent; the
                slot (the runner's ``_Slot``) gives ``stream`` and ``action`` and gets ``row``.
            update: Statistics may learn from them (sampling for training).
        """
        slots = [entry[0] for entry in entries]
        module_obs = self.observations(
            module_id, [entry[1] for entry in entries], update,
            streams=[slot.stream for slot in slots], starts=[entry[2] for entry in entries],
            prev_actions=[slot.action for slot in slots], prev_rewards=[entry[3] for entry in entries],
        )  # fmt: skip
        for slot, agent_obs in zip(slots, module_obs, strict=True):
            slot.row = rows.add(slot.stream, agent_obs)

    def final(self, module_id: str, observation: Any, stream: int, action: Any, reward: float) -> Any:
        """One agent's last observation as the module sees it (memory and statistics unchanged)."""
        pipeline = self.modules[module_id].env_to_module
        info = StepInfo(
            starts=np.zeros(1, dtype=bool), rows=np.array([stream], dtype=np.int64),
            prev_actions=_actions([action]), prev_rewards=np.array([reward], dtype=np.float32),
        )  # fmt: skip
        return as_rows(pipeline.peek(_stack([observation]), stream, info), 1)[0]

    def to_env(self, module_id: str, actions: list[Any]) -> list[Any]:
        """The env's actions for the module's actions (one per agent)."""
        return as_rows(self.modules[module_id].to_env(_stack(actions)), len(actions))

    def end_round(self, module_id: str, batch: dict[str, Any]) -> None:
        """Turn ``batch``'s rewards into training rewards; statistics learn from the round."""
        connectors = self.modules[module_id]
        if not connectors.active:
            return
        dones = batch[Columns.TERMINATEDS] | batch[Columns.TRUNCATEDS]
        batch[Columns.REWARDS] = connectors.end_round(
            batch[Columns.REWARDS], dones, batch[Columns.LOSS_MASK], update=True
        )

    def end_empty_round(self, module_id: str) -> None:
        """A round in which the module closed no agent step: fold what its pieces recorded."""
        connectors = self.modules[module_id]
        if connectors.active:
            connectors.env_to_module.end_round(True)

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, Any] | None:
        """``{"modules": {module_id: that module's pipelines' state}}``; None when no piece keeps any."""
        states = {mid: c.get_state() for mid, c in self.modules.items()}
        states = {mid: s for mid, s in states.items() if s is not None}
        return {"modules": states} if states else None

    def set_state(self, state: Any) -> None:
        """Load :meth:`get_state`'s result, a list of them (several runners': merged), or
        ``{"replace": [states]}`` (a checkpoint's), module by module."""
        replace = isinstance(state, Mapping) and "replace" in state
        if replace:
            state = state["replace"]
        states = list(state) if isinstance(state, list | tuple) else [state]
        for module_id, connectors in self.modules.items():
            given = []
            for s in states:
                modules = s.get("modules") if isinstance(s, Mapping) else None
                if not isinstance(modules, Mapping):
                    raise ValueError(
                        "A multi-agent runner's connector state is {'modules': {module_id: state}}; got "
                        f"{type(s).__name__}. It was saved by a single-agent run: use the settings the run "
                        "was trained with."
                    )
                if modules.get(module_id) is not None:
                    given.append(modules[module_id])
            if given:
                connectors.set_state({"replace": given} if replace else given)


def _refuse_memory(module_id: str, connectors: RunnerConnectors) -> None:
    pipeline = connectors.env_to_module
    pieces = pipeline.connectors if pipeline is not None else ()
    names = [type(p).__name__ for p in pieces if p.per_episode_memory and not p.memory_by_rows]
    if names:
        raise ValueError(
            f"Module '{module_id}': the connector pieces {names} keep per-episode memory by sub-env row, but "
            "a multi-agent runner's calls hold a different set of agents each step. Keep the memory by "
            "StepInfo.rows (each row's agent stream) and set memory_by_rows = True on the piece, or do this "
            "in the multi-agent env itself (a wrapper)."
        )


def _actions(actions: list[Any]) -> Any:
    """``[N, ...]`` actions; rows without one (an episode's start, masked by the pieces) get a copy
    of another row's; None when no row has one."""
    known = next((a for a in actions if a is not None), None)
    if known is None:
        return None
    return _stack([known if a is None else a for a in actions])


def _stack(rows: list[Any]) -> Any:
    """``[N, ...]`` arrays (a tree of them for Dict/Tuple values) from N rows."""
    first = rows[0]
    if isinstance(first, Mapping):
        return {k: _stack([r[k] for r in rows]) for k in first}
    if isinstance(first, tuple | list):
        return tuple(_stack([r[i] for r in rows]) for i in range(len(first)))
    return np.stack([np.asarray(r) for r in rows])

