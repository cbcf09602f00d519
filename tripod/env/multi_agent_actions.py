"""One module's side of the multi-agent runner: turning its forward outputs into env actions.

Each module gets a :class:`ModuleSampler` holding its row log
(:class:`~tripod.env.multi_agent_buffers.ModuleRows`) and one
:class:`~tripod.env.module_outputs.OutputPlan` per batch size and output
structure (validated once when built, as in the single-agent runner).
Categorical logits, the common case, are sampled in a few numpy calls straight
into the log with Gumbel noise drawn in large blocks.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from tripod.core.columns import Columns
from tripod.core.rl_module.rl_module import RLModule
from tripod.core.rl_module.validation import ModuleOutputError
from tripod.data.batch import tree_map
from tripod.env.buffers import SampleBuffers, tree_write
from tripod.env.module_outputs import OutputPlan
from tripod.env.multi_agent_buffers import ModuleRows
from tripod.env.multi_agent_env import AgentID

__all__ = ["GumbelPool", "ModuleSampler"]


class GumbelPool:
    """Gumbel(0, 1) noise handed out in pieces, drawn in large blocks (one RNG call per block).

    Args:
        rng: The generator to draw from (seeded: sampling is reproducible).
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self._pools: dict[int, tuple[np.ndarray, int]] = {}

    def draw(self, count: int, num_actions: int) -> np.ndarray:
        """``[1, count, num_actions]`` fresh noise (each piece is handed out once; callers may overwrite it)."""
        pool, used = self._pools.get(num_actions, (None, 0))
        if pool is None or used + count > pool.shape[0]:
            pool, used = self.rng.gumbel(size=(max(8192, 64 * count), num_actions)).astype(np.float32), 0
        self._pools[num_actions] = (pool, used + count)
        return pool[None, used : used + count]

    def get_state(self) -> dict[str, np.ndarray]:
        """The noise drawn but not handed out yet, ``{str(num_actions): [n, num_actions]}``."""
        return {str(k): np.array(pool[used:]) for k, (pool, used) in self._pools.items()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore :meth:`get_state` (the generator's own state is restored separately)."""
        self._pools = {int(k): (np.asarray(v, dtype=np.float32), 0) for k, v in state.items()}


class ModuleSampler:
    """The row log and output handling of one module.

    Args:
        module_id: The module's id (named in errors).
        module: The (inference-only) module.
        noise: Shared Gumbel noise source.
        rng: Generator for the output plans' buffers.
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
        noise: GumbelPool,
        rng: np.random.Generator,
        *,
        clip_actions: bool,
        validate: bool,
    ) -> None:
        self.module_id, self.module, self.noise, self.rng = module_id, module, noise, rng
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
                    stateful=False, clip_actions=self.clip_actions, validate=self.validate,
                )  # fmt: skip
            except ModuleOutputError as err:
                raise ModuleOutputError(f"Module '{self.module_id}': {err}") from None
            bufs = SampleBuffers(1, count, self.rows.observation_space, space, rng=self.rng)
            if isinstance(space, gym.spaces.Discrete):
                bufs.scratch = np.empty((count, int(space.n)), dtype=np.float32)
            entry = self._plans[key] = (plan, bufs)
        return entry

    def actions(self, output: Any, explore: bool, collect: bool) -> list:
        """Env actions for rows ``fwd_start:size`` from the module's ``output`` (recorded when ``collect``)."""
        rows = self.rows
        count = rows.size - rows.fwd_start
        plan, bufs = self._plan(output, explore, count)
        bufs.new_round()
        if plan.kind == "fast_categorical" and explore:
            noise = self.noise.draw(count, int(rows.action_space.n))
            if collect and plan.logits_tensor and plan.offset is None and not plan.has_vf:
                return rows.sample_categorical(output[Columns.ACTION_DIST_INPUTS], noise[0], plan)
            bufs.noise = noise
        env_actions = plan.apply(output, 0, bufs)
        if collect:
            rows.record(rows.fwd_start, bufs, plan)
        return _as_list(env_actions, count)

    def random_actions(self, collect: bool) -> list:
        """Uniformly random env actions for rows ``fwd_start:size``."""
        rows = self.rows
        acts = [self.random_space.sample() for _ in range(rows.size - rows.fwd_start)]
        if collect:
            for i, act in enumerate(acts):
                tree_write(rows.actions, rows.fwd_start + i, act)
        return acts


def _as_list(env_actions: Any, count: int) -> list:
    """One env action per row: Python ints for discrete actions, fresh arrays otherwise."""
    if isinstance(env_actions, np.ndarray):
        if env_actions.ndim == 1 and env_actions.dtype.kind in "iu":
            return env_actions.tolist()
        return list(np.array(env_actions))
    return [tree_map(lambda x, i=i: np.array(np.asarray(x)[i]), env_actions) for i in range(count)]
