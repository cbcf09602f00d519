"""Seeding and RNG state capture (for reproducible and resumable runs).

tripod's own draws come from generators that each object owns (``np.random.Generator``,
``torch.Generator``). User code — ``nn.Linear``'s default init, ``torch.distributions``
sampling, ``np.random`` in a heuristic module — draws from the process-global
generators instead; :class:`GlobalRNGScope` gives every owner a private copy of those
global states that is swapped in while the owner runs user code, so two objects built
from one seed draw the same numbers however their calls interleave.
"""

from __future__ import annotations

import ctypes
import random
from typing import Any

import numpy as np
import torch

__all__ = [
    "GlobalRNGScope",
    "derive_seed",
    "get_rng_state",
    "numpy_generator_state",
    "seed_everything",
    "set_numpy_generator_state",
    "set_rng_state",
    "torch_generator",
]

#: Purpose tags that keep the streams of an algorithm's owners apart (``derive_seed(seed, TAG, ...)``).
ALGORITHM_STREAM, RUNNER_STREAM, LEARNER_STREAM = 101, 202, 303


def seed_everything(seed: int | None) -> None:
    """Seed Python's, NumPy's and torch's global generators (no-op for None)."""
    if seed is None:
        return
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def derive_seed(seed: int | None, *key: int) -> int:
    """A 63-bit seed for the stream ``key`` of ``seed``; ``None`` forks the global generators.

    With ``seed=None`` the entropy is drawn from torch's, NumPy's and Python's global
    generators, so seeding those (``torch.manual_seed``) still makes an unseeded
    object reproducible.
    """
    if seed is None:
        entropy = [
            int(torch.randint(0, 2**31 - 1, (1,)).item()),
            int(np.random.randint(0, 2**31 - 1)),
            random.getrandbits(31),
        ]
    else:
        entropy = [int(seed)]
    words = np.random.SeedSequence([*entropy, *(int(k) for k in key)]).generate_state(2, dtype=np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


def torch_generator(seed: int | None, *key: int, device: Any = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with :func:`derive_seed`."""
    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(seed, *key))
    return gen


# ------------------------------------------------------------------ global states
class _LegacyNumpy:
    """Swaps of NumPy's legacy global generator (``np.random.rand`` & co.) in about a microsecond.

    ``np.random.get_state()`` / ``set_state()`` cost 50-90 us each, and a scope swaps four times
    per entry. The Mersenne Twister's words and position (2,500 bytes) are readable and
    writable through the bit generator's public ctypes interface; the legacy Gaussian cache
    (``has_gauss``) is not, so the fast path is taken only while that cache is provably empty:
    a state is then ``bytes``, otherwise the full ``get_state()`` tuple. The cache fills only
    when a Gaussian pair is drawn, which also moves the words; so if the global words still
    equal the last ones known with an empty cache, the cache is still empty.
    """

    NBYTES = 625 * 4  # uint32 key[624]; int pos

    def __init__(self) -> None:
        self.bit_generator: Any = None
        self.address = 0
        self.clean: bytes | None = None  # the global words when last known with an empty cache
        try:
            bit_generator = np.random.mtrand._rand._bit_generator
            address = int(bit_generator.ctypes.state_address)
            _, keys, pos, _, _ = np.random.get_state()
            words = ctypes.string_at(address, self.NBYTES)
            expected = np.asarray(keys, dtype=np.uint32).tobytes() + np.array([pos], dtype=np.int32).tobytes()
        except (AttributeError, TypeError, ValueError):  # another NumPy: the plain calls only
            return
        if words == expected:
            self.bit_generator, self.address = bit_generator, address

    def _fast(self) -> bool:
        return self.address != 0 and np.random.mtrand._rand._bit_generator is self.bit_generator

    def capture(self) -> bytes | tuple:
        """The global state: its words (``bytes``) when its Gaussian cache is empty, else the full tuple."""
        if self._fast():
            words = ctypes.string_at(self.address, self.NBYTES)
            if words == self.clean:
                return words
            full = np.random.get_state()  # reads the words above unchanged, and the Gaussian cache
            self.clean = words if full[3] == 0 else None
            return words if full[3] == 0 else full
        return np.random.get_state()

    def install(self, state: bytes | tuple) -> None:
        """Make ``state`` (from :meth:`capture` or :func:`full_numpy_state`) the global state."""
        if isinstance(state, bytes):
            if self._fast() and ctypes.string_at(self.address, self.NBYTES) == self.clean:
                ctypes.memmove(self.address, state, self.NBYTES)
                self.clean = state
                return
            state = full_numpy_state(state)
        np.random.set_state(state)
        if self._fast():
            self.clean = ctypes.string_at(self.address, self.NBYTES) if state[3] == 0 else None


def full_numpy_state(state: bytes | tuple) -> tuple:
    """``np.random.get_state()``'s tuple for a state :class:`_LegacyNumpy` captured."""
    if not isinstance(state, bytes):
        return state
    words = np.frombuffer(state, dtype=np.uint32)
    return ("MT19937", words[:624].copy(), int(words[624]), 0, 0.0)


_NUMPY = _LegacyNumpy()


def _capture() -> tuple[torch.Tensor, Any, tuple]:
    return torch.get_rng_state(), _NUMPY.capture(), random.getstate()


def _install(state: tuple[torch.Tensor, Any, tuple]) -> None:
    torch.set_rng_state(state[0])
    _NUMPY.install(state[1])
    random.setstate(state[2])


def _to_leaves(state: tuple[torch.Tensor, Any, tuple]) -> dict[str, Any]:
    torch_state, numpy_state, (py_version, py_state, py_gauss) = state
    kind, keys, pos, has_gauss, cached = full_numpy_state(numpy_state)
    return {
        "torch": torch_state.clone(),
        "numpy": {
            "kind": kind,
            "keys": np.array(keys, copy=True),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "python": {"version": py_version, "state": np.asarray(py_state, dtype=np.int64), "gauss": py_gauss},
    }


def _from_leaves(state: Any, where: str) -> tuple[torch.Tensor, tuple, tuple]:
    """Validate and convert what :func:`_to_leaves` made (clear errors for damaged states)."""
    missing = [k for k in ("torch", "numpy", "python") if not isinstance(state, dict) or k not in state]
    if missing:
        raise ValueError(f"{where}: the RNG state has no {', '.join(repr(k) for k in missing)} entry.")
    try:
        torch_state = torch.as_tensor(state["torch"], dtype=torch.uint8).clone()
        n, p = state["numpy"], state["python"]
        np_state = (n["kind"], np.asarray(n["keys"], dtype=np.uint32), int(n["pos"]), int(n["has_gauss"]),
                    float(n["cached"]))  # fmt: skip
        py_state = (int(p["version"]), tuple(int(x) for x in np.asarray(p["state"])), p["gauss"])
        # Check by installing into throw-away generators (the global ones stay untouched).
        torch.Generator().set_state(torch_state)
        np.random.RandomState().set_state(np_state)
        random.Random().setstate(py_state)
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, OverflowError) as err:
        raise ValueError(f"{where}: the RNG state is damaged ({type(err).__name__}: {err}).") from err
    return torch_state, np_state, py_state


def get_rng_state() -> dict[str, Any]:
    """The global RNG states of Python, NumPy and torch, as checkpointable leaves."""
    return _to_leaves(_capture())


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` returned."""
    torch.set_rng_state(torch.as_tensor(state["torch"], dtype=torch.uint8))
    n = state["numpy"]
    _NUMPY.install((n["kind"], np.asarray(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(x) for x in np.asarray(p["state"])), p["gauss"]))


# ------------------------------------------------------------------ numpy generators
def numpy_generator_state(rng: np.random.Generator) -> dict[str, Any]:
    """``rng``'s bit-generator state with its big integers as strings (checkpointable leaves)."""
    return _stringify(rng.bit_generator.state)


def set_numpy_generator_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    """Restore what :func:`numpy_generator_state` returned."""
    rng.bit_generator.state = _unstringify(state)


def _stringify(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _stringify(v) for k, v in node.items()}
    if isinstance(node, int | np.integer) and not isinstance(node, bool):
        return str(int(node))
    if isinstance(node, np.ndarray):
        return np.array(node, copy=True)
    return node


def _unstringify(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (v if k == "bit_generator" else _unstringify(v)) for k, v in node.items()}
    if isinstance(node, str):
        return int(node)
    return node


# ------------------------------------------------------------------ the scope
class GlobalRNGScope:
    """An owner's private copy of the global RNG states (torch CPU, NumPy legacy, Python ``random``).

    ``with scope:`` swaps the owner's states in and, on exit, keeps where they got to
    and puts the caller's states back, so user code run inside draws from the owner's
    stream and nothing outside notices. Entering and leaving cost tens of microseconds
    (most of it Python's ``random.getstate``): wrap a whole sampling round or update,
    not each step. Re-entering an active scope is a
    no-op. With a CUDA ``device`` that device's generator is swapped as well.
    The global generators are process-wide: scopes entered from several threads at
    once do not keep the threads' streams apart.

    Args:
        seed: The owner's seed; ``None`` forks the current global generators.
        key: Integers that tell this owner's stream apart from others of the same seed.
        device: A ``torch.device`` (or string) whose CUDA generator to include.

    Example::

        scope = GlobalRNGScope(seed, RUNNER_STREAM, worker_index)
        with scope:
            module = spec.build()   # nn.Linear init draws from the runner's own stream
    """

    __slots__ = ("_own", "_outer", "_depth", "_cuda", "_own_cuda", "_outer_cuda")

    def __init__(self, seed: int | None, *key: int, device: Any = None) -> None:
        seed_value = derive_seed(seed, *key)
        torch_state = torch.Generator().manual_seed(seed_value).get_state()
        words = np.random.SeedSequence(seed_value).generate_state(8)
        np_state = np.random.RandomState(words).get_state()
        py_state = random.Random(seed_value).getstate()
        self._own: tuple[torch.Tensor, tuple, tuple] = (torch_state, np_state, py_state)
        self._outer: tuple | None = None
        self._depth = 0
        dev = torch.device(device) if device is not None else None
        self._cuda = dev if dev is not None and dev.type == "cuda" else None
        self._own_cuda = self._outer_cuda = None
        if self._cuda is not None:
            outer = torch.cuda.get_rng_state(self._cuda)
            with torch.cuda.device(self._cuda):
                torch.cuda.manual_seed(seed_value)
            self._own_cuda = torch.cuda.get_rng_state(self._cuda)
            torch.cuda.set_rng_state(outer, self._cuda)

    def __enter__(self) -> GlobalRNGScope:
        self._depth += 1
        if self._depth == 1:
            self._outer = _capture()
            _install(self._own)
            if self._cuda is not None:
                self._outer_cuda = torch.cuda.get_rng_state(self._cuda)
                torch.cuda.set_rng_state(self._own_cuda, self._cuda)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._own = _capture()
            _install(self._outer)
            self._outer = None
            if self._cuda is not None:
                self._own_cuda = torch.cuda.get_rng_state(self._cuda)
                torch.cuda.set_rng_state(self._outer_cuda, self._cuda)
                self._outer_cuda = None

    @property
    def active(self) -> bool:
        """Whether the scope's states are installed right now."""
        return self._depth > 0

    def get_state(self) -> dict[str, Any]:
        """The scope's states as checkpointable leaves (the format of :func:`get_rng_state`)."""
        own = _capture() if self.active else self._own
        state = _to_leaves(own)
        if self._cuda is not None:
            cuda = torch.cuda.get_rng_state(self._cuda) if self.active else self._own_cuda
            state["cuda"] = cuda.clone()
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`get_state` returned.

        Raises:
            ValueError: If ``state`` is incomplete or damaged (nothing is changed then).
        """
        own = _from_leaves(state, f"{type(self).__name__}.set_state()")
        cuda = None
        if self._cuda is not None and isinstance(state, dict) and "cuda" in state:
            cuda = torch.as_tensor(state["cuda"], dtype=torch.uint8).clone()
        if self.active:
            _install(own)
            if cuda is not None:
                torch.cuda.set_rng_state(cuda, self._cuda)
        else:
            self._own = own
            if cuda is not None:
                self._own_cuda = cuda
