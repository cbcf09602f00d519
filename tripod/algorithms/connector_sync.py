"""Connector statistics between an algorithm's env runners, evaluation runners and checkpoints.

Each env runner's env-to-module pieces learn statistics (a running mean and std) from what it
samples. After every training sample the algorithm gathers the runners' states and sends the
list back to every runner, which merges it the same way (each keeps a ``base`` all runners share
plus the ``delta`` it learnt since), so all runners normalise alike and nothing is counted twice.
Evaluation runners get the same list before each evaluation and never learn from their episodes.
A checkpoint holds the list in ``connector_state.json/.safetensors``.

Only batches, weights and state cross here: the runners are reached through their group's
``foreach_env_runner`` and ``sync_weights``, so the same code serves Ray actors.
"""

from __future__ import annotations

import os
from typing import Any

from tripod.connectors.build import build_env_to_module
from tripod.env.connector_glue import clip_reward_pieces, prev_action_pieces
from tripod.io.checkpoint import load_state, save_state

__all__ = ["ConnectorSync"]

_FILE = "connector_state"


def _runner_state(runner: Any) -> Any:
    """What a runner's connectors hold (module level: pickled into remote runners)."""
    return runner.get_connector_state()


def _env_spaces(runner: Any) -> Any:
    """A runner's env spaces (before its connectors; per module id for a multi-agent runner)."""
    return runner.get_env_spaces()


class ConnectorSync:
    """The connector statistics of one algorithm's runners.

    Args:
        config: The algorithm config (``env_to_module_connector`` decides whether there is
            anything to sync).
    """

    def __init__(self, config: Any) -> None:
        self.config = config
        self.active = getattr(config, "env_to_module_connector", None) is not None
        self.states: list[Any] = []
        self._spaces: Any = None  # the runners' env spaces (asked once: a remote call on Ray)
        self._cached: dict[Any, tuple[Any, Any]] = {}  # module id: (the states it holds, pipeline)

    def inference_pipeline(
        self, group: Any, module_spec: Any, cached: bool = False, module_id: str | None = None
    ) -> Any:
        """An env-to-module pipeline for one env with the runners' statistics, or None.

        For inference outside the env runners (``compute_single_action``, rendered episodes);
        ``module_spec`` is the algorithm's (the module's ``model_config``: ``lstm_use_prev_action``
        adds a piece). A fresh pipeline each call, or with ``cached`` the one built for the same
        statistics (for stateless use only: callers must not step its per-episode memory or learn).
        ``module_id``: the module's pipeline in a multi-agent run (each module has its own;
        ignored in a single-agent run).
        """
        multi = self.config.is_multi_agent
        module_id = module_id if multi else None
        subs = getattr(module_spec, "rl_module_specs", None) or {}
        spec = subs.get(module_id) if multi else module_spec
        extra = prev_action_pieces(getattr(spec, "model_config", None) or {})
        if not self.active and not extra:
            return None
        # The runners' pipelines end with these (their states line up piece by piece).
        extra += clip_reward_pieces(getattr(self.config, "clip_rewards", None))
        states = self.state_for_evaluation(group).get("connectors", [])
        entry = self._cached.get(module_id)
        if cached and entry is not None and entry[0] is self.states:
            return entry[1]
        if self._spaces is None:
            self._spaces = group.foreach_env_runner(_env_spaces)[0]
        observation_space, action_space = self._spaces
        if multi:
            if module_id not in observation_space:
                raise ValueError(f"No module {module_id!r} in this run; its modules are {sorted(observation_space)}.")
            observation_space, action_space = observation_space[module_id], action_space[module_id]
            states = [s["modules"].get(module_id) or {} for s in states]
        pipeline = build_env_to_module(
            self.config.env_to_module_connector, None, observation_space, action_space, 1, extra
        )
        pieces = [s["env_to_module"] for s in states if s.get("env_to_module")]
        if pipeline is not None and pieces:
            pipeline.set_state(pipeline.merge_states(pieces))
        if cached:
            self._cached[module_id] = (self.states, pipeline)
        return pipeline

    def after_sample(self, group: Any) -> None:
        """Gather the training runners' states; send the list back when there are several runners."""
        if not self.active:
            return
        self.states = [s for s in group.foreach_env_runner(_runner_state) if s is not None]
        if len(self.states) > 1:
            group.sync_weights({"connectors": self.states})

    def state_for_evaluation(self, group: Any) -> dict[str, Any]:
        """What to send evaluation runners with the weights (``{}`` without connector statistics)."""
        if not self.active:
            return {}
        if not self.states:
            self.states = [s for s in group.foreach_env_runner(_runner_state) if s is not None]
        return {"connectors": self.states} if self.states else {}

    def save(self, directory: str, group: Any) -> None:
        """Write the runners' current states into a checkpoint directory."""
        if not self.active:
            return
        self.states = [s for s in group.foreach_env_runner(_runner_state) if s is not None]
        if self.states:
            save_state(directory, _FILE, {"runners": self.states})

    def restore(self, directory: str, group: Any) -> None:
        """Load a checkpoint's states into every runner (a checkpoint without them leaves fresh statistics)."""
        if not self.active or not os.path.exists(os.path.join(directory, f"{_FILE}.json")):
            return
        states = load_state(directory, _FILE).get("runners")
        if not isinstance(states, list):
            raise ValueError("connector_state has no 'runners' list")
        group.sync_weights({"connectors": {"replace": states}})
        self.states = [s for s in group.foreach_env_runner(_runner_state) if s is not None]
