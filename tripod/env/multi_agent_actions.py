"""One module's side of the multi-agent runner: turning its forward outputs into env actions.

Each module gets a :class:`ModuleSampler` holding its row log
(:class:`~tripod.env.multi_agent_buffers.ModuleRows`) and one
:class:`~tripod.env.module_outputs.OutputPlan` per batch size and output
structure (validated once when built, as in the single-agent runner).
Actions are drawn by the runner's :class:`~tripod.env.action_sampler.ActionSampler`
(the single-agent runner's sampler class); categorical logits, the common case, are
sampled in a few numpy calls straight into the log.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np

from tripod.core.columns import Columns
from tripod.core.rl_module.rl_module import RLModule
from tripod.core.rl_module.validation import ModuleOutputError
from tripod.data.batch import tree_map
from tripod.env.action_sampler import ActionSampler
from tripod.env.buffers import SampleBuffers, tree_write
from tripod.env.module_outputs import OutputPlan
from tripod.env.multi_agent_buffers import ModuleRows
from tripod.env.multi_agent_env import AgentID

__all__ = ["ModuleSampler", "as_rows"]


class ModuleSampler:
    """The row log and output handling of one module.

    Args:
        module_id: The module's id (named in errors).
        module: The (inference-only) module.
        sampler: The runner's action sampler (shared by all modules).
        clip_actions: Clip Box actions to the space before they go to the env.
        validate: Check each new output structure with the module output validator.

    Attributes:
        rows: The module's :class:`ModuleRows`.
        streams: ``{(env copy, agent_id): stream id}`` of the agents this module played.
    """

    def __init__(
        self,
        module_id: str,
        module: RLModule,
        sampler: ActionSampler,
        *,
        clip_actions: bool,
        validate: bool,
    ) -> None:
        self.module_id, self.module, self.sampler = module_id, module, sampler
        self.clip_actions, self.validate = clip_actions, validate
        self.rows = ModuleRows(module.observation_space, module.action_space)
        self.random_space = copy.deepcopy(module.action_space)
        self.streams: dict[tuple[int, AgentID], int] = {}
        self._plans: dict[tuple, tuple[OutputPlan, SampleBuffers]] = {}

    def seed_random_actions(self, seed: int) -> None:
        """Seed the sampler's own copy of the action space that random actions come from."""
        self.random_space.seed(int(seed))

    def stream(self, env_index: int, agent_id: AgentID) -> int:
        """The stream id of ``agent_id`` in env copy ``env_index`` (a new one the first time)."""
        return self.streams.setdefault((env_index, agent_id), len(self.streams))

    def stream_owner(self, stream: int) -> tuple[int, AgentID]:
        """``(env copy, agent_id)`` of ``stream``."""
        return next(key for key, s in self.streams.items() if s == stream)

    def _plan(self, output: Any, explore: bool, count: int) -> tuple[OutputPlan, SampleBuffers]:
        key = (explore, count, tuple(output) if isinstance(output, Mapping) else None)
        entry = self._plans.get(key)
        if entry is None:
            space = self.rows.action_space
            try:
                plan = OutputPlan(
                    self.module, output, explore=explore, num_envs=count, action_space=space,
                    stateful=False, clip_actions=self.clip_actions, sampler=self.sampler,
                    validate=self.validate,
                )  # fmt: skip
            except ModuleOutputError as err:
                raise ModuleOutputError(f"Module '{self.module_id}': {err}") from None
            bufs = SampleBuffers(1, count, self.rows.observation_space, space)
            entry = self._plans[key] = (plan, bufs)
        return entry

    def actions(self, output: Any, explore: bool, collect: bool) -> list:
        """Env actions for rows ``fwd_start:size`` from the module's ``output`` (recorded when ``collect``)."""
        rows = self.rows
        count = rows.size - rows.fwd_start
        plan, bufs = self._plan(output, explore, count)
        bufs.new_round()
        if (
            explore and collect and plan.kind == "fast_categorical"
            and plan.logits_tensor and plan.offset is None and not plan.has_vf
        ):  # fmt: skip
            return rows.sample_categorical(output[Columns.ACTION_DIST_INPUTS], self.sampler, plan)
        env_actions = plan.apply(output, 0, bufs)
        if collect:
            rows.record(rows.fwd_start, bufs, plan)
        return as_rows(env_actions, count)

    def random_actions(self, collect: bool) -> list:
        """Uniformly random env actions for rows ``fwd_start:size``."""
        rows = self.rows
        acts = [self.random_space.sample() for _ in range(rows.size - rows.fwd_start)]
        if collect:
            for i, act in enumerate(acts):
                tree_write(rows.actions, rows.fwd_start + i, act)
        return acts


def as_rows(env_actions: Any, count: int) -> list:
    """The ``count`` rows of a batch (actions, observations): Python ints for integer scalars,
    fresh arrays otherwise."""
    if isinstance(env_actions, np.ndarray):
        if env_actions.ndim == 1 and env_actions.dtype.kind in "iu":
            return env_actions.tolist()
        return list(np.array(env_actions))
    return [tree_map(lambda x, i=i: np.array(np.asarray(x)[i]), env_actions) for i in range(count)]
