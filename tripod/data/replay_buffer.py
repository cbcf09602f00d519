"""Uniform replay buffer with n-step returns, stored in preallocated numpy rings.

Layout. The buffer keeps ``rows = ceil(capacity / num_envs)`` vector steps of
``num_envs`` sub-envs: every stored quantity is one numpy array of shape
``[rows * num_envs, ...]`` allocated at construction (``obs``, ``next_obs``,
``actions``, ``rewards``, ``terminateds``, ``truncateds``; a ``Dict``/``Tuple``
observation gets one array per leaf, in the leaf space's dtype). Transition
``(row, env)`` lives at flat index ``row * num_envs + env`` (the ``"indices"``
of a sample); column ``env`` is a ring holding sub-env ``env``'s stream in time
order, with its own write head, so n-step windows walk ``row, row + 1, ...``
(modulo ``rows``). :meth:`ReplayBuffer.add` takes the ``[T, N]`` batches of an
EnvRunner; consecutive calls must continue each sub-env's stream (as successive
EnvRunner samples do). Rows whose ``loss_mask`` is false (the reset step of a
NEXT_STEP vector env, the step at which a crashed env was restarted) are not
stored, and the stored row before them is flagged as the end of a stream
segment (its ``truncateds`` entry is set), so no n-step window crosses them.

Memory. Bytes per transition = ``2 * obs_bytes + action_bytes + 4 + 2`` (obs and
next obs, the action, a float32 reward, two bool flags); ``nbytes`` equals
``capacity * bytes_per_transition`` from the start, and nothing is allocated per
transition. CartPole (4 float32 obs, int64 action): 46 bytes, 46 MB per million.

n-step targets. :meth:`ReplayBuffer.sample` builds, for each sampled transition
``t``, ``R = sum_{k<K} gamma^k r_{t+k}`` over ``K <= n_step`` steps, stopping
after a step that terminated or was truncated. ``NEXT_OBS`` is the next obs of
the last summed step (the final obs at an episode end), ``TERMINATEDS`` is true
only if the window ended by termination, and ``discounts = gamma^K``, so the
target is ``R + discounts * (1 - terminated) * Q(next_obs)``. A truncated episode
is therefore bootstrapped from its final observation.

Incomplete windows. A transition younger than ``n_step`` vector steps has no
complete window yet. It is *not* excluded: its window is cut at the newest
stored step and bootstrapped there (``K`` smaller, ``discounts`` matching), a
valid shorter-horizon target. Windows therefore never read past the write head
into stale (overwritten) data or unwritten slots, every stored transition
is sampleable, and ``len(buffer)`` is exactly what can be sampled. The target of
such a transition grows to the full ``n_step`` as newer data arrives.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from tripod.core.columns import Columns
from tripod.data.space_leaves import LEAF, describe_space, join_leaves, split_leaves

__all__ = ["ReplayBuffer", "ReplayBufferMemoryError", "available_memory", "check_capacity"]

_SCALARS = {Columns.REWARDS: np.float32, Columns.TERMINATEDS: np.bool_, Columns.TRUNCATEDS: np.bool_}


def check_capacity(capacity: int, batch_size: int) -> None:
    """Validate a buffer capacity against the train batch size, e.g. when a config is built.

    Args:
        capacity: Replay buffer capacity in transitions.
        batch_size: Number of transitions sampled per update.

    Raises:
        ValueError: If either is not a positive integer or ``capacity < batch_size``;
            the message names both numbers and how to fix them.
    """
    for name, value in (("capacity", capacity), ("batch size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"replay buffer {name} must be a positive integer, got {value!r}")
    if capacity < batch_size:
        raise ValueError(
            f"replay buffer capacity ({capacity}) is smaller than the train batch size ({batch_size}): "
            f"a batch could never be sampled. Set the capacity to at least {batch_size} "
            f"or the train batch size to at most {capacity}."
        )


class ReplayBufferMemoryError(MemoryError):
    """The replay buffer's preallocated storage would not fit in the memory available."""


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available_memory() -> int | None:
    """Bytes of memory this process can still allocate, or None when unknown.

    The smaller of the kernel's ``MemAvailable`` (``/proc/meminfo``; else
    ``os.sysconf("SC_AVPHYS_PAGES")``) and the room left under a cgroup memory limit
    (containers).
    """
    found: list[int] = []
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
                    break
    except (OSError, ValueError, IndexError):
        pass
    if not found:
        with contextlib.suppress(ValueError, OSError, AttributeError):
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    for limit_path, usage_path in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        limit, usage = _read_int(limit_path), _read_int(usage_path)
        if limit is not None and usage is not None and limit < 2**60:
            found.append(max(limit - usage, 0))
    return min(found) if found else None


def format_bytes(n: float) -> str:
    """``32_000_000_000`` -> ``"32.0 GB"`` (decimal units)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000:
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} PB"


def check_memory(capacity: int, bytes_per_transition: int, extra_bytes: int = 0) -> None:
    """Raise :class:`ReplayBufferMemoryError` when ``capacity`` transitions do not fit in memory.

    numpy reserves large zero arrays lazily, so an oversized buffer would build
    without complaint and be killed by the OOM killer once it fills; this check
    fails at construction instead. Unknown available memory passes.
    """
    needed = capacity * bytes_per_transition + extra_bytes
    available = available_memory()
    if available is None or needed <= available:
        return
    fits = int(0.8 * available * capacity / needed)
    raise ReplayBufferMemoryError(
        f"A replay buffer of {capacity:,} transitions needs {format_bytes(needed)} "
        f"({bytes_per_transition:,} bytes per transition: observation and next observation, action, reward, "
        f"flags), but only {format_bytes(available)} of memory is available. Lower replay_buffer_capacity "
        f"(at most about {fits:,} fits, leaving room for the rest), or make observations smaller "
        "(e.g. a float32 or uint8 observation space, or a downscaled image)."
    )


# --------------------------------------------------------------------------- buffer


class ReplayBuffer:
    """Uniform ring buffer of transitions with n-step returns (see the module docstring).

    Args:
        capacity: Number of transitions kept; rounded up to a multiple of
            ``num_envs`` (see :attr:`capacity`).
        observation_space: Space of one observation (``Box``, ``Discrete``,
            ``MultiDiscrete``, ``MultiBinary``, or ``Dict``/``Tuple`` nesting them).
        action_space: Space of one action (``Box``, ``Discrete``, ``MultiDiscrete``).
        num_envs: Number of sub-envs ``N`` in each added ``[T, N]`` batch.
        n_step: Steps summed into each return (1 for plain one-step targets).
        gamma: Discount factor of the n-step return.
        seed: Seed of the buffer's own ``numpy`` generator (``None``: fresh entropy).

    Raises:
        ValueError: For ``capacity < 1``, ``num_envs < 1``, ``n_step < 1`` or
            ``gamma`` outside ``[0, 1]``.
        TypeError: For an unsupported space.
    """

    def __init__(
        self,
        capacity: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        *,
        num_envs: int = 1,
        n_step: int = 1,
        gamma: float = 0.99,
        seed: int | None = None,
    ):
        for name, value in (("capacity", capacity), ("num_envs", num_envs), ("n_step", n_step)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"ReplayBuffer {name} must be an integer >= 1, got {value!r}")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"ReplayBuffer gamma must be in [0, 1], got {gamma!r}")
        self.observation_space = observation_space
        self.action_space = action_space
        self.num_envs = int(num_envs)
        self.n_step = int(n_step)
        self.gamma = float(gamma)
        self._rows = math.ceil(int(capacity) / self.num_envs)
        self._rng = np.random.default_rng(seed)
        self._pos = np.zeros(self.num_envs, np.int64)  # per sub-env: next row to write
        self._size = np.zeros(self.num_envs, np.int64)  # per sub-env: rows holding data

        self._obs_leaves: list[tuple[tuple[int, ...], np.dtype]] = []
        self._act_leaves: list[tuple[tuple[int, ...], np.dtype]] = []
        self._obs_node = describe_space(observation_space, self._obs_leaves, "observation")
        self._act_node = describe_space(action_space, self._act_leaves, "action")
        # How each batch entry splits into leaves; the scalar columns are one plain leaf.
        self._nodes = {
            Columns.OBS: self._obs_node,
            Columns.NEXT_OBS: self._obs_node,
            Columns.ACTIONS: self._act_node,
        }
        self._nodes.update({key: LEAF for key in _SCALARS})
        n = self.capacity
        check_memory(n, self.bytes_per_transition, self._extra_bytes(n))
        self._storage: dict[str, list[np.ndarray]] = {
            Columns.OBS: [np.zeros((n, *shape), dtype) for shape, dtype in self._obs_leaves],
            Columns.NEXT_OBS: [np.zeros((n, *shape), dtype) for shape, dtype in self._obs_leaves],
            Columns.ACTIONS: [np.zeros((n, *shape), dtype) for shape, dtype in self._act_leaves],
            **{key: [np.zeros(n, dtype)] for key, dtype in _SCALARS.items()},
        }

    # ----------------------------------------------------------------- sizes

    def _extra_bytes(self, capacity: int) -> int:
        """Memory besides the transition storage (subclasses: priority trees)."""
        return 0

    @property
    def capacity(self) -> int:
        """Transitions the buffer holds when full: ``ceil(capacity / num_envs) * num_envs``."""
        return self._rows * self.num_envs

    def __len__(self) -> int:
        """Number of stored transitions (all of them can be sampled)."""
        return int(self._size.sum())

    @property
    def bytes_per_transition(self) -> int:
        """``2 * obs_bytes + action_bytes + 4 + 2``: the storage cost of one transition."""
        obs = sum(math.prod(shape) * dtype.itemsize for shape, dtype in self._obs_leaves)
        act = sum(math.prod(shape) * dtype.itemsize for shape, dtype in self._act_leaves)
        return 2 * obs + act + 4 + 2

    @property
    def nbytes(self) -> int:
        """Bytes held by the storage arrays (preallocated: ``capacity * bytes_per_transition``)."""
        return sum(arr.nbytes for arrays in self._storage.values() for arr in arrays)

    # ----------------------------------------------------------------- adding

    def add(self, batch: Mapping[str, Any]) -> np.ndarray:
        """Append a time-major ``[T, N, ...]`` batch to the sub-envs' rings (overwriting their oldest rows).

        Args:
            batch: Must hold ``Columns.OBS`` and ``Columns.NEXT_OBS`` (arrays, or
                nested dicts/tuples of arrays for ``Dict``/``Tuple`` spaces; the next
                obs is the real final obs where an episode ended), ``Columns.ACTIONS``,
                ``Columns.REWARDS``, ``Columns.TERMINATEDS`` and ``Columns.TRUNCATEDS``,
                each with leading dimensions ``[T, num_envs]``, and optionally
                ``Columns.LOSS_MASK`` (bool ``[T, num_envs]``, false on rows that are
                no real transition; these are skipped). Other keys are ignored. Where a
                sub-env has more rows than fit, only its newest are kept.

        Returns:
            The flat indices (``int64``) of the transitions written, as
            :meth:`sample` reports them in ``"indices"``.

        Raises:
            ValueError: If a key is missing or an entry's shape does not match.
        """
        missing = [key for key in self._storage if key not in batch]
        if missing:
            raise ValueError(f"ReplayBuffer.add: batch lacks {missing} (has {sorted(batch)})")
        steps = int(np.shape(batch[Columns.REWARDS])[0]) if np.ndim(batch[Columns.REWARDS]) else -1
        leaves = {key: split_leaves(node, batch[key], key) for key, node in self._nodes.items()}
        for key, arrays in leaves.items():
            for store, arr in zip(self._storage[key], arrays):
                expected = (steps, self.num_envs, *store.shape[1:])
                if arr.shape != expected:
                    raise ValueError(
                        f"ReplayBuffer.add: {key!r} has shape {arr.shape}, expected {expected} "
                        f"([T, num_envs={self.num_envs}, ...] with T={steps} from {Columns.REWARDS!r})"
                    )
        real = batch.get(Columns.LOSS_MASK)
        real = np.ones((steps, self.num_envs), bool) if real is None else np.asarray(real, bool)
        if real.shape != (steps, self.num_envs):
            raise ValueError(
                f"ReplayBuffer.add: {Columns.LOSS_MASK!r} has shape {real.shape}, expected {(steps, self.num_envs)}"
            )
        if steps == 0:
            return np.zeros(0, np.int64)
        # A real row followed by a skipped one ends its stream segment; so does the newest
        # stored row of a sub-env whose first row here is skipped.
        ends = np.zeros_like(real)
        ends[:-1] = real[:-1] & ~real[1:]
        cut_before = ~real[0] & (self._size > 0)
        newest = (self._pos - 1) % self._rows * self.num_envs + np.arange(self.num_envs)
        self._storage[Columns.TRUNCATEDS][0][newest[cut_before]] = True
        leaves[Columns.TRUNCATEDS] = [leaves[Columns.TRUNCATEDS][0] | ends]

        rank = np.cumsum(real, axis=0) - 1  # position of each real row in its sub-env's stream
        counts = rank[-1] + 1
        keep = real & (rank >= counts - self._rows)
        flat = ((self._pos + rank) % self._rows * self.num_envs + np.arange(self.num_envs))[keep]
        for key, arrays in leaves.items():
            for store, arr in zip(self._storage[key], arrays):
                store[flat] = arr[keep]
        self._pos = (self._pos + counts) % self._rows
        self._size = np.minimum(self._size + counts, self._rows)
        return flat

    # ----------------------------------------------------------------- sampling

    def sample(self, batch_size: int) -> dict[str, Any]:
        """Draw ``batch_size`` transitions uniformly (with replacement) with n-step targets.

        Args:
            batch_size: Number of transitions; at most ``len(self)``.

        Returns:
            A dict of numpy arrays with leading dimension ``batch_size``:
            ``Columns.OBS``, ``Columns.ACTIONS``, ``Columns.REWARDS`` (n-step discounted
            sum, float32), ``Columns.NEXT_OBS``, ``Columns.TERMINATEDS``,
            ``"discounts"`` (``gamma ** K`` for the ``K`` steps summed, float32) and
            ``"indices"`` (flat ``int64`` indices). Observations keep the nesting of a
            ``Dict``/``Tuple`` space.

        Raises:
            ValueError: If ``batch_size < 1`` or the buffer holds fewer transitions.
        """
        self._check_batch_size(batch_size)
        # Number the stored transitions sub-env by sub-env; sub-env n holds rows [0, size[n]).
        draws = self._rng.integers(0, len(self), size=batch_size)
        ends = np.cumsum(self._size)
        envs = np.searchsorted(ends, draws, side="right")
        rows = draws - (ends - self._size)[envs]
        return self._gather(rows * self.num_envs + envs)

    def _check_batch_size(self, batch_size: int) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
            raise ValueError(f"sample batch_size must be a positive integer, got {batch_size!r}")
        if batch_size > len(self):
            raise ValueError(
                f"cannot sample {batch_size} transitions: the replay buffer holds only {len(self)} "
                f"(capacity {self.capacity}). Add more data before sampling (e.g. start learning "
                f"after at least {batch_size} env steps), or lower the batch size."
            )

    def _gather(self, indices: np.ndarray) -> dict[str, Any]:
        """The batch for flat ``indices``, with n-step rewards, next obs, flags and discounts."""
        indices = indices.astype(np.int64, copy=False)
        rows, envs = np.divmod(indices, self.num_envs)
        # Steps available from each row up to the newest stored row (never past the write head).
        window = np.minimum(self.n_step, (self._pos[envs] - 1 - rows) % self._rows + 1)
        rewards_store = self._storage[Columns.REWARDS][0]
        term_store = self._storage[Columns.TERMINATEDS][0]
        trunc_store = self._storage[Columns.TRUNCATEDS][0]

        returns = np.zeros(indices.shape, np.float32)
        steps = np.zeros(indices.shape, np.int64)
        last = indices
        terminated = np.zeros(indices.shape, bool)
        active = np.ones(indices.shape, bool)
        for k in range(self.n_step):
            if k > 0:
                active &= k < window
                if not active.any():
                    break
            flat = indices if k == 0 else ((rows + k) % self._rows) * self.num_envs + envs
            returns += np.where(active, np.float32(self.gamma**k) * rewards_store[flat], np.float32(0.0))
            steps += active
            last = np.where(active, flat, last)
            term = term_store[flat]
            terminated |= active & term
            active &= ~(term | trunc_store[flat])

        def take(key: str, at: np.ndarray) -> Any:
            return join_leaves(self._nodes[key], [arr[at] for arr in self._storage[key]])

        return {
            Columns.OBS: take(Columns.OBS, indices),
            Columns.ACTIONS: take(Columns.ACTIONS, indices),
            Columns.REWARDS: returns,
            Columns.NEXT_OBS: take(Columns.NEXT_OBS, last),
            Columns.TERMINATEDS: terminated,
            "discounts": np.power(self.gamma, steps).astype(np.float32),
            "indices": indices,
        }

    # ----------------------------------------------------------------- state

    def get_state(self) -> dict[str, Any]:
        """The buffer's contents and positions as a nested dict of numpy arrays and scalars.

        Only the filled part of the storage (up to the fullest sub-env) is included. The result is accepted by
        ``tripod.io.checkpoint.save_state(directory, "replay_buffer", state)``;
        the generator state is stored as JSON-able values (128-bit integers as
        decimal strings). The arrays are views of the storage, so save them before
        adding more data. ``n_step``, ``gamma`` and the spaces come from the
        constructor and are not part of the state.
        """
        filled = int(self._size.max()) * self.num_envs
        rng = self._rng.bit_generator.state
        return {
            "rows": self._rows,
            "num_envs": self.num_envs,
            "pos": self._pos.copy(),
            "size": self._size.copy(),
            "storage": {key: [arr[:filled] for arr in arrays] for key, arrays in self._storage.items()},
            "rng": {
                "bit_generator": rng["bit_generator"],
                "state": str(rng["state"]["state"]),
                "inc": str(rng["state"]["inc"]),
                "has_uint32": int(rng["has_uint32"]),
                "uinteger": int(rng["uinteger"]),
            },
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`get_state` returned (contents, write heads, generator state).

        Args:
            state: A state from :meth:`get_state` (or ``load_state``) of a buffer built
                with the same capacity, ``num_envs`` and spaces.

        Raises:
            ValueError: If the state does not fit this buffer; nothing is changed then.
        """
        if (state["rows"], state["num_envs"]) != (self._rows, self.num_envs):
            raise ValueError(
                f"replay buffer state has {state['rows']} rows x {state['num_envs']} envs, this buffer "
                f"{self._rows} x {self.num_envs}; build the buffer with the checkpoint's capacity and num_envs"
            )
        pos, size = np.asarray(state["pos"], np.int64), np.asarray(state["size"], np.int64)
        heads_ok = pos.shape == size.shape == (self.num_envs,) and np.all(
            (size == self._rows) | (pos == size)
        )
        if not (heads_ok and np.all((size >= 0) & (size <= self._rows) & (pos >= 0) & (pos < self._rows))):
            raise ValueError(f"replay buffer state has impossible write heads (pos {pos}, size {size})")
        filled = int(size.max()) * self.num_envs
        for key, arrays in self._storage.items():
            saved = state["storage"][key]
            if len(saved) != len(arrays):
                raise ValueError(
                    f"replay buffer state has {len(saved)} arrays for {key!r}, expected {len(arrays)}"
                )
            for arr, new in zip(arrays, saved):
                if new.shape != (filled, *arr.shape[1:]) or new.dtype != arr.dtype:
                    raise ValueError(
                        f"replay buffer state {key!r} has shape {new.shape} / {new.dtype}, expected "
                        f"{(filled, *arr.shape[1:])} / {arr.dtype}; were the spaces the same?"
                    )
        rng = state["rng"]
        bit_state = {
            "bit_generator": rng["bit_generator"],
            "state": {"state": int(rng["state"]), "inc": int(rng["inc"])},
            "has_uint32": int(rng["has_uint32"]),
            "uinteger": int(rng["uinteger"]),
        }
        self._rng.bit_generator.state = bit_state
        for key, arrays in self._storage.items():
            for arr, new in zip(arrays, state["storage"][key]):
                arr[:filled] = new
                arr[filled:] = 0
        self._pos, self._size = pos.copy(), size.copy()
