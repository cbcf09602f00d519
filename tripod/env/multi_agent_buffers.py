"""Per-module logs of agent steps, and their layout as time-major ``[T, N]`` training batches.

The multi-agent runner appends one row per agent step to the log of the module
the agent is mapped to: the observation when the agent receives it, the action
and module outputs when it acts, and reward and done flags when its next
observation (or the end of its episode) arrives, which *closes* the row.

**Layout of a batch (one per module).** Column ``n`` is one *agent stream*: one
agent of one env copy (under one module). Row ``t`` of that column is the
stream's ``t``-th agent step, so an agent that acts only on some env steps (turn
taking, agents that join late or leave early) has no holes in its column: each
row's next row is the agent's own next step. Columns with fewer steps than the
longest are padded at the *front* with ``loss_mask = False`` rows, so that every
column ends with its latest step at ``T - 1``, where the single-agent layout
expects the bootstrap observation.

**Why this makes GAE right.** PPO's GAE runs backwards over each column:
``A_t = delta_t + gamma * lambda * A_{t+1}`` with
``delta_t = r_t + gamma * V(s_{t+1}) - V(s_t)``. With the agent's steps
contiguous, ``s_{t+1}`` is the agent's own next observation, ``r_t`` is all it
was paid between its two actions, and ``gamma`` discounts per agent step, as each
agent sees its own episode (RLlib does the same). The front padding precedes
the real rows, and the recursion runs backwards, so padding never reaches a
real row's advantage (and its rows are masked out of the loss). The learner's
single-agent GAE (:func:`tripod.learner.advantages.estimate_advantages`) thus
needs no change.

A row that is not closed when a sampling round ends (the agent has acted and
waits for its next observation, or has not acted yet) is carried over to the
next round; its observation is the bootstrap observation of the stream's last
closed row.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from tripod.core.columns import Columns
from tripod.data.batch import tree_map
from tripod.env.action_sampler import ActionSampler
from tripod.env.buffers import SampleBuffers, alloc_for_space, alloc_like, leaves, tree_write

__all__ = ["ModuleRows"]

_FLAGS = ("rewards", "terminateds", "truncateds", "closed", "logp_from_logits")


class ModuleRows:
    """The agent steps of one module in one sampling round, in the order they happened.

    Args:
        observation_space, action_space: The module's spaces.
        capacity: Initial number of rows (doubled when full).

    Attributes:
        size: Rows in use.
        fwd_start: First row that has not acted yet; rows ``fwd_start:size`` are
            the next forward call's batch.
    """

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, *, capacity: int = 64) -> None:
        self.observation_space, self.action_space = observation_space, action_space
        self.size = self.fwd_start = self.capacity = 0
        self.final_obs: dict[int, Any] = {}
        self.plan_columns: frozenset[str] | None = None
        self.columns: dict[str, np.ndarray] = {}
        self._closes: list[int] = []
        self._close_rewards: list[float] = []
        self._new_obs: list[Any] = []
        self._new_streams: list[int] = []
        self._last_plan: Any = None
        self.initial_state: Any = None
        self.state: Any = None
        self.stream_state: Any = None
        self._allocate(capacity)

    # ------------------------------------------------------------------ storage
    def _allocate(self, capacity: int) -> None:
        old = None if self.capacity == 0 else self.__dict__.copy()
        n = self.size
        self.obs = alloc_for_space(self.observation_space, (capacity,))
        self.array_obs = isinstance(self.obs, np.ndarray)
        self.actions = alloc_for_space(self.action_space, (capacity,))
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminateds = np.zeros(capacity, dtype=bool)
        self.truncateds = np.zeros(capacity, dtype=bool)
        self.closed = np.zeros(capacity, dtype=bool)
        self.logp_from_logits = np.zeros(capacity, dtype=bool)
        self.stream = np.zeros(capacity, dtype=np.int64)
        self.capacity = capacity
        if old is None:
            return
        for name in ("obs", "actions"):
            tree_write(getattr(self, name), slice(0, n), tree_map(lambda x: x[:n], old[name]))
        for name in (*_FLAGS, "stream"):
            getattr(self, name)[:n] = old[name][:n]
        if old["state"] is not None:
            self.state = alloc_like(self.initial_state, (capacity,))
            tree_write(self.state, slice(0, n), tree_map(lambda x: x[:n], old["state"]))
        self.columns = {}
        for name, col in old["columns"].items():
            self.columns[name] = np.zeros((capacity, *col.shape[1:]), dtype=col.dtype)
            self.columns[name][:n] = col[:n]

    def add(self, stream: int, obs: Any) -> int:
        """Append a row for ``obs`` of agent stream ``stream``; returns its index.

        The observation is stored by :meth:`flush_new_rows` (one bulk copy per forward call).
        """
        row = self.size
        if row == self.capacity:
            self._allocate(2 * self.capacity)
        self._new_obs.append(obs)
        self._new_streams.append(stream)
        self.size = row + 1
        return row

    def flush_new_rows(self) -> None:
        """Copy the observations and stream ids of the rows added since the last call into the arrays."""
        if not self._new_obs:
            return
        start = self.size - len(self._new_obs)
        if self.array_obs:
            self.obs[start : self.size] = self._new_obs
        else:
            for i, obs in enumerate(self._new_obs):
                tree_write(self.obs, start + i, obs)
        self.stream[start : self.size] = self._new_streams
        self._new_obs, self._new_streams = [], []

    def drop_rows(self) -> None:
        """Forget all rows without booking them (evaluation keeps no data)."""
        self.size = self.fwd_start = 0
        self._new_obs, self._new_streams = [], []

    def close(self, row: int, reward: float, terminated: bool = False, truncated: bool = False) -> None:
        """Complete ``row``: the reward until the agent's next observation, and how its episode went on."""
        if terminated or truncated:
            self.terminateds[row] = terminated
            self.truncateds[row] = truncated
            self.rewards[row] = reward
            self.closed[row] = True
        else:  # the common case, booked in bulk by flush()
            self._closes.append(row)
            self._close_rewards.append(reward)

    def flush(self) -> None:
        """Write the rows added and closed since the last call (called before the rows are read)."""
        self.flush_new_rows()
        if self._closes:
            rows = np.asarray(self._closes, dtype=np.int64)
            self.rewards[rows] = self._close_rewards
            self.closed[rows] = True
            self._closes, self._close_rewards = [], []

    def clear(self) -> None:
        """Forget every row."""
        for name in _FLAGS:
            getattr(self, name)[:] = False
        self.size = self.fwd_start = 0
        self.final_obs = {}
        self.plan_columns = self._last_plan = None
        self._closes, self._close_rewards = [], []
        self._new_obs, self._new_streams = [], []

    # ------------------------------------------------------------------ recurrent state
    def enable_state(self, initial_state: Any) -> None:
        """Carry a recurrent state per agent stream (for a stateful module; ``initial_state`` unbatched).

        ``stream_state`` holds each stream's latest state (what its next forward gets);
        ``state`` logs the ``state_in`` of every row, for the batch.
        """
        self.initial_state = tree_map(
            lambda x: x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x),
            initial_state,
        )
        self.state = alloc_like(self.initial_state, (self.capacity,))
        self.stream_state = alloc_like(self.initial_state, (8,))

    def reset_stream_state(self, stream: int) -> None:
        """Start ``stream`` (a new episode of its agent) from the initial state."""
        size = leaves(self.stream_state)[0].shape[0]
        if stream >= size:
            grown = alloc_like(self.initial_state, (max(2 * size, stream + 1),))
            tree_write(grown, slice(0, size), self.stream_state)
            self.stream_state = grown
        tree_write(self.stream_state, stream, self.initial_state)

    def state_input(self) -> Any:
        """The ``state_in`` ``[B, ...]`` of rows ``fwd_start:size`` (logged with the rows), as tensors."""
        start, stop = self.fwd_start, self.size
        streams = self.stream[start:stop]
        tree_write(self.state, slice(start, stop), tree_map(lambda x: x[streams], self.stream_state))
        return tree_map(lambda x: torch.from_numpy(x[start:stop]), self.state)

    def store_state_out(self, state_out: Any) -> None:
        """Keep the module's ``state_out`` of rows ``fwd_start:size`` as their streams' latest state."""
        streams = self.stream[self.fwd_start : self.size]
        tree_write(self.stream_state, streams, state_out)

    # ------------------------------------------------------------------ forward
    def obs_input(self) -> Any:
        """Tensors sharing memory with the observations of rows ``fwd_start:size``."""
        self.flush_new_rows()
        start, stop = self.fwd_start, self.size
        if self.array_obs:
            return torch.from_numpy(self.obs[start:stop])
        return tree_map(lambda x: torch.from_numpy(x[start:stop]), self.obs)

    def record(self, start: int, bufs: SampleBuffers, plan: Any) -> None:
        """Copy the actions and output columns of one forward call (``bufs`` row 0) to rows ``start:``."""
        stop = start + bufs.num_envs
        if isinstance(self.actions, np.ndarray):
            self.actions[start:stop] = bufs.actions[0]
        else:
            tree_write(self.actions, slice(start, stop), tree_map(lambda x: x[0], bufs.actions))
        for name in plan.columns:
            src = bufs.columns.get(name)
            if name == Columns.ACTION_LOGP and plan.kind == "fast_categorical":
                src = None  # the runner sampled from the logits: logp is computed in build_batch()
            if src is not None:
                self._column(name, src[0])[start:stop] = src[0]
            elif name == Columns.ACTION_LOGP:
                self._column(name, np.zeros(bufs.num_envs, dtype=np.float32))
        if bufs.logp_from_logits[0]:
            self.logp_from_logits[start:stop] = True
        if plan is not self._last_plan:
            self._last_plan = plan
            self.plan_columns = (
                plan.columns if self.plan_columns is None else self.plan_columns & plan.columns
            )

    def sample_categorical(self, logits: torch.Tensor, sampler: ActionSampler, plan: Any) -> list[int]:
        """The fast path of :meth:`record` for logits of a Discrete space: sample rows ``fwd_start:size``.

        ``sampler`` draws the actions (Gumbel-max) straight into the log; their
        log-probabilities are computed in :meth:`build_batch`. Returns the actions.
        """
        start, stop = self.fwd_start, self.size
        arr = logits.numpy() if not logits.requires_grad else logits.detach().numpy()
        col = self.columns.get(Columns.ACTION_DIST_INPUTS)
        if col is None:
            col = self._column(Columns.ACTION_DIST_INPUTS, arr)
            self._column(Columns.ACTION_LOGP, np.zeros(1, dtype=np.float32))
        col[start:stop] = arr
        actions = sampler.sample_categorical(arr, True, out=self.actions[start:stop])
        self.logp_from_logits[start:stop] = True
        if plan is not self._last_plan:
            self._last_plan = plan
            self.plan_columns = (
                plan.columns if self.plan_columns is None else self.plan_columns & plan.columns
            )
        return actions.tolist()

    def _column(self, name: str, like: np.ndarray) -> np.ndarray:
        col = self.columns.get(name)
        if col is None:
            col = self.columns[name] = np.zeros((self.capacity, *like.shape[1:]), dtype=like.dtype)
        return col

    # ------------------------------------------------------------------ batches
    def build_batch(self) -> dict[str, Any] | None:
        """The closed rows as a time-major batch (see the module docstring); None if there are none.

        Returns:
            ``obs``/``actions``/``rewards``/``terminateds``/``truncateds``/``loss_mask`` and the
            module's output columns, all ``[T, N, ...]``, plus ``bootstrap_obs`` ``[K, ...]`` and
            ``bootstrap_index`` ``[K]`` (flat ``t * N + n``): the next observation of every
            truncated row and of each column's last row.
        """
        self.flush()
        n = self.size
        rows = np.flatnonzero(self.closed[:n])
        if rows.size == 0:
            return None
        streams = self.stream[rows]
        order = np.argsort(streams, kind="stable")  # grouped by stream, in time order within each
        rows, streams = rows[order], streams[order]
        ids, first, counts = np.unique(streams, return_index=True, return_counts=True)
        num_cols, num_steps = ids.size, int(counts.max())
        col = np.repeat(np.arange(num_cols), counts)
        t = np.arange(rows.size) - np.repeat(first, counts) + num_steps - np.repeat(counts, counts)
        flat = t * num_cols + col

        def scatter(src: np.ndarray) -> np.ndarray:
            out = np.zeros((num_steps * num_cols, *src.shape[1:]), dtype=src.dtype)
            out[flat] = src[rows]
            return out.reshape((num_steps, num_cols, *src.shape[1:]))

        self._fill_logp(rows)
        mask = np.zeros(num_steps * num_cols, dtype=bool)
        mask[flat] = True
        batch = {
            Columns.OBS: tree_map(scatter, self.obs),
            Columns.ACTIONS: tree_map(scatter, self.actions),
            Columns.REWARDS: scatter(self.rewards),
            Columns.TERMINATEDS: scatter(self.terminateds),
            Columns.TRUNCATEDS: scatter(self.truncateds),
            Columns.LOSS_MASK: mask.reshape(num_steps, num_cols),
        }
        for name in sorted(self.plan_columns or ()):
            batch[name] = scatter(self.columns[name])
        if self.state is not None:
            batch[Columns.STATE_IN] = tree_map(scatter, self.state)
        boot_pos = np.union1d(np.flatnonzero(self.truncateds[rows]), first + counts - 1)
        batch["bootstrap_obs"] = self._next_obs(rows[boot_pos])
        batch["bootstrap_index"] = flat[boot_pos].astype(np.int64)
        return batch

    def _fill_logp(self, rows: np.ndarray) -> None:
        """Log-probabilities of actions the runner sampled from categorical logits."""
        flagged = rows[self.logp_from_logits[rows]]
        if flagged.size == 0 or Columns.ACTION_LOGP not in (self.plan_columns or ()):
            return
        logits = self.columns[Columns.ACTION_DIST_INPUTS][flagged]
        self.columns[Columns.ACTION_LOGP][flagged] = ActionSampler.categorical_logp(
            logits, self.actions[flagged]
        )

    def _next_obs(self, rows: np.ndarray) -> Any:
        """The observation after each of ``rows`` (closed rows)."""
        n = self.size
        open_rows = np.flatnonzero(~self.closed[:n])
        successor = np.full(int(self.stream[:n].max()) + 1, -1, dtype=np.int64)
        successor[self.stream[open_rows]] = open_rows  # a stream has at most one row not closed: its last
        source = rows.copy()
        going_on = ~(self.terminateds[rows] | self.truncateds[rows])
        nxt = successor[self.stream[rows[going_on]]]
        # Without a successor (cannot happen for a well-behaved env) fall back to the row's own observation.
        source[going_on] = np.where(nxt >= 0, nxt, rows[going_on])
        out = tree_map(lambda x: x[source], self.obs)
        for k in np.flatnonzero(self.truncateds[rows]):
            final = self.final_obs.get(int(rows[k]))
            if final is not None:  # an agent truncated without a last observation keeps its own
                tree_write(out, int(k), final)
        return out

    def carry_over(self) -> np.ndarray:
        """Drop the closed rows, keeping the others (in order) at the front.

        Returns:
            ``[size]`` int array: the new index of each old row (-1 for dropped rows).
        """
        self.flush()
        n = self.size
        keep = np.flatnonzero(~self.closed[:n])
        k = keep.size
        has_open = bool(np.any(keep < self.fwd_start))
        state = leaves(self.state) if self.state is not None else []
        for arr in (*leaves(self.obs), *leaves(self.actions), self.stream, *self.columns.values(), *state):
            arr[:k] = arr[keep]
        for name in _FLAGS:
            arr = getattr(self, name)
            arr[:k] = arr[keep]
            arr[k:n] = False
        remap = np.full(n, -1, dtype=np.int64)
        remap[keep] = np.arange(k)
        self.fwd_start = int(np.count_nonzero(keep < self.fwd_start))
        self.size = k
        self.final_obs = {}
        if not has_open:
            self.plan_columns = self._last_plan = None
        return remap

    def first_nonfinite_row(self) -> int | None:
        """The first closed row whose observation or reward is NaN/inf, or None."""
        self.flush()
        n = self.size
        if n == 0:  # a module no agent was mapped to in this round
            return None
        bad = ~np.isfinite(self.rewards[:n])
        for leaf in leaves(self.obs):
            if np.issubdtype(leaf.dtype, np.floating):
                bad |= ~np.isfinite(leaf[:n].reshape(n, -1)).all(axis=1)
        bad &= self.closed[:n]
        found = np.flatnonzero(bad)
        return int(found[0]) if found.size else None
