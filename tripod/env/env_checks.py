"""Checks of what an env returns: observations that do not fit the declared space, and the old gym API.

Every check here sits off the hot path: the vector env and the runner compare an
observation's ``type``/``shape``/``dtype`` with the expected ones (a few
attribute reads) and call in here only when they differ. A wrong shape is an
error (numpy would broadcast ``(1,)`` into ``(4,)`` without a word); another
dtype or a list is cast, with one warning per env; values outside a ``Box``'s
bounds get one warning per runner (checked once per sampling round, vectorised).
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = [
    "BoundsCheck",
    "CheckedEnv",
    "EnvAPIError",
    "ObservationChecker",
    "ObservationSpaceError",
    "ObservationWarning",
    "OldGymAPIError",
    "check_reset_signature",
    "check_vector_obs",
    "checked_env",
    "diagnose_old_api",
    "old_api_error",
]

_INTEGER_SPACES = (gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)


class EnvAPIError(ValueError):
    """An env does not follow gymnasium's API (the base of the errors below)."""


class ObservationSpaceError(EnvAPIError):
    """An env returned an observation whose shape does not fit its observation space."""


class OldGymAPIError(EnvAPIError):
    """An env is written for the pre-0.26 gym API (reset returns obs only, step returns 4 values)."""


class ObservationWarning(UserWarning):
    """An env returned observations of another dtype than declared, or outside the declared bounds."""


# ---------------------------------------------------------------------- old gym API
def env_spaces(env_name: str, env: Any) -> tuple[gym.Space, gym.Space]:
    """``(env.observation_space, env.action_space)``, or an :class:`EnvAPIError` saying how to declare them."""
    spaces = []
    for attr in ("observation_space", "action_space"):
        try:
            space = getattr(env, attr)
        except AttributeError as err:
            if "multi-agent" in str(err):  # tripod's MultiAgentEnv explains itself
                raise EnvAPIError(f"Env '{env_name}': {err}") from None
            space = None
        if not isinstance(space, gym.spaces.Space):
            got = "none" if space is None else f"{type(space).__name__} {space!r:.60}"
            raise EnvAPIError(
                f"Env '{env_name}' has no {attr} (got {got}). A gymnasium env sets self.observation_space "
                "and self.action_space to gymnasium.spaces in __init__, e.g. "
                "gymnasium.spaces.Box(-1.0, 1.0, (4,), np.float32) and gymnasium.spaces.Discrete(2)."
            )
        spaces.append(space)
    return spaces[0], spaces[1]


def old_api_error(env_name: str, what: str) -> OldGymAPIError:
    """The error for an env that uses the pre-0.26 gym API; ``what`` says what was seen."""
    return OldGymAPIError(
        f"Env '{env_name}' uses the pre-0.26 gym API: {what}. tripod needs gymnasium's API, in which "
        "reset() returns (obs, info) (and takes seed= and options=) and step() returns (obs, reward, "
        "terminated, truncated, info). Update the env to that API, or convert an old gym env with shimmy "
        "(pip install 'shimmy[gym-v26]'): gymnasium.make('GymV26Environment-v0', env=old_env) "
        "('GymV21Environment-v0' for gym < 0.22).",
    )


def check_reset_signature(env_name: str, env: gym.Env) -> None:
    """Raise :class:`OldGymAPIError` when the (unwrapped) env's ``reset`` cannot take ``seed``/``options``."""
    reset = getattr(getattr(env, "unwrapped", env), "reset", None)
    try:
        params = inspect.signature(reset).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return
    if "seed" not in params or "options" not in params:
        raise old_api_error(env_name, "its reset() takes no seed/options keyword arguments")


def check_reset_result(env_name: str, result: Any) -> None:
    """Raise :class:`OldGymAPIError` unless ``result`` is ``(obs, info_dict)``."""
    if type(result) is not tuple or len(result) != 2 or not isinstance(result[1], dict):
        got = f"a tuple of {len(result)} values" if isinstance(result, tuple) else type(result).__name__
        raise old_api_error(env_name, f"reset() returned {got} instead of (obs, info)")


def check_step_result(env_name: str, result: Any) -> None:
    """Raise :class:`OldGymAPIError` unless ``result`` is a 5-tuple."""
    if not isinstance(result, tuple) or len(result) != 5:
        n = len(result) if isinstance(result, tuple) else None
        got = f"{n} values" if n is not None else f"a {type(result).__name__}"
        raise old_api_error(env_name, f"step() returned {got} instead of 5")


def diagnose_old_api(
    env_name: str, env: gym.Env, method: str, exc: BaseException, action: Any = None
) -> None:
    """After ``exc`` (e.g. an unpacking error) from ``env.reset``/``env.step``: if the unwrapped
    env speaks the old gym API, raise :class:`OldGymAPIError` from ``exc``; else return.

    The probe calls the unwrapped env once more; that is harmless, as the caller raises anyway.
    """
    message = str(exc)
    if method == "reset" and "unexpected keyword argument" in message:
        try:
            check_reset_signature(env_name, env)
        except OldGymAPIError as err:
            raise err from exc
    if "unpack" not in message:
        return
    inner = getattr(env, "unwrapped", env)
    try:
        result = inner.reset() if method == "reset" else inner.step(action)
    except Exception:
        return
    try:
        (check_reset_result if method == "reset" else check_step_result)(env_name, result)
    except OldGymAPIError as err:
        raise err from exc


# ---------------------------------------------------------------------- observations
def _kind(obs: Any) -> str:
    if isinstance(obs, list | tuple):
        return type(obs).__name__
    return str(np.asarray(obs).dtype)


def _what(kind: str) -> str:
    """``"float64 observations"`` or ``"observations as a list"``."""
    return f"observations as a {kind}" if kind in ("list", "tuple") else f"{kind} observations"


class ObservationChecker:
    """Checks one sub-env's observations against an array space (Box, Discrete, MultiDiscrete, MultiBinary).

    :meth:`check` is called only when an observation is not already an ndarray of the
    space's shape and dtype; it raises for a wrong shape and warns once for a cast.
    """

    def __init__(self, space: gym.Space, env_name: str) -> None:
        self.space = space
        self.env_name = env_name
        self.shape = tuple(space.shape)
        self.dtype = np.dtype(space.dtype)
        self._integer = isinstance(space, _INTEGER_SPACES)
        self._warned = False

    def check(self, obs: Any, sub_env: int, method: str) -> None:
        """Raise :class:`ObservationSpaceError` for a wrong shape; warn once for another dtype or a list."""
        if (
            self._integer
            and not self.shape
            and isinstance(obs, int | np.integer)
            and not isinstance(obs, bool)
        ):
            return  # a Discrete observation as a Python or numpy int
        shape = np.shape(obs)
        if shape != self.shape:
            raise ObservationSpaceError(
                f"Env '{self.env_name}' returned an observation of shape {shape} from {method}() in sub-env "
                f"{sub_env}, but its observation_space {self.space} expects shape {self.shape}. Return "
                "observations of the declared shape, or declare the observation_space the env really "
                "returns (numpy would otherwise broadcast the values silently)."
            )
        got = _kind(obs)
        if (
            self._warned
            or got == str(self.dtype)
            or (self._integer and np.issubdtype(np.dtype(got), np.integer))
        ):
            return
        self._warned = True
        warnings.warn(
            f"Env '{self.env_name}' returned {_what(got)} from {method}(), but its observation_space "
            f"{self.space} declares {self.dtype}; tripod casts them to {self.dtype}. Return "
            f"np.asarray(obs, dtype=np.{self.dtype}) from the env to silence this warning (shown once).",
            ObservationWarning,
            stacklevel=4,
        )


def check_vector_obs(env_name: str, obs: Any, expected: np.ndarray, method: str, warned: list[bool]) -> None:
    """Compare a vector env's observation array with the buffer row ``expected`` ``[N, ...]``.

    Raises :class:`ObservationSpaceError` for another shape; warns once (``warned[0]``) for
    another dtype. Called only when the cheap ``type``/``shape``/``dtype`` test failed.
    """
    shape = np.shape(obs)
    if shape != expected.shape:
        raise ObservationSpaceError(
            f"Env '{env_name}' returned observations of shape {shape} from {method}(), but its "
            f"observation_space for {expected.shape[0]} sub-envs expects {expected.shape}. Return "
            "observations of the declared shape, or declare the observation_space the env really returns."
        )
    got = _kind(obs)
    if not warned[0] and got != str(expected.dtype):
        warned[0] = True
        warnings.warn(
            f"Env '{env_name}' returned {_what(got)} from {method}(), but its observation_space "
            f"declares {expected.dtype}; tripod casts them. Return the declared dtype to silence this "
            "warning (shown once).",
            ObservationWarning,
            stacklevel=4,
        )


class BoundsCheck:
    """Warns once when observations leave a ``Box`` space's finite bounds (checked per sampling round)."""

    def __init__(self, space: gym.Space, env_name: str) -> None:
        self.env_name = env_name
        self.space = space
        self.active = isinstance(space, gym.spaces.Box) and bool(
            np.isfinite(space.low).any() or np.isfinite(space.high).any()
        )
        if self.active:
            self.low, self.high = space.low, space.high

    def check(self, obs: np.ndarray) -> None:
        """Warn (once) if any row of ``obs`` ``[..., *space.shape]`` lies outside the bounds."""
        if not self.active:
            return
        outside = (obs < self.low) | (obs > self.high)
        if not outside.any():
            return
        self.active = False
        where = np.argwhere(outside)[0]
        index = tuple(int(i) for i in where[obs.ndim - self.low.ndim :])
        value = obs[tuple(where)]
        low, high = self.low[index], self.high[index]
        warnings.warn(
            f"Env '{self.env_name}' returned observations outside its observation_space {self.space}: "
            f"{value:g} at index {index} (bounds [{low:g}, {high:g}]). tripod keeps the values as they are. "
            "Clip them in the env, or declare bounds that hold them (e.g. low=-np.inf, high=np.inf) "
            "(shown once).",
            ObservationWarning,
            stacklevel=3,
        )


class CheckedEnv(gym.Wrapper):
    """Checks a sub-env's results where tripod cannot see them itself: in an async worker process.

    gymnasium's ``AsyncVectorEnv`` copies each observation into shared memory, which
    broadcasts a ``(1,)`` observation into a ``(4,)`` slot without a word; this wrapper
    applies the same checks as tripod's ``SyncVectorEnv`` inside the worker.
    """

    def __init__(self, env: gym.Env, name: str) -> None:
        super().__init__(env)
        self._name = name
        self._array = isinstance(env.observation_space, (gym.spaces.Box, *_INTEGER_SPACES))
        self._check = ObservationChecker(env.observation_space, name) if self._array else None

    def _obs(self, obs: Any, method: str) -> None:
        if self._check is not None and (
            type(obs) is not np.ndarray or obs.shape != self._check.shape or obs.dtype != self._check.dtype
        ):
            self._check.check(obs, 0, method)

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        """``env.reset``, checked."""
        try:
            result = self.env.reset(**kwargs)
        except (ValueError, TypeError) as exc:
            diagnose_old_api(self._name, self.env, "reset", exc)
            raise
        check_reset_result(self._name, result)
        self._obs(result[0], "reset")
        return result

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict]:
        """``env.step``, checked."""
        try:
            result = self.env.step(action)
        except (ValueError, TypeError) as exc:
            diagnose_old_api(self._name, self.env, "step", exc, action)
            raise
        check_step_result(self._name, result)
        self._obs(result[0], "step")
        return result


def checked_env(creator: Any, name: str) -> gym.Env:
    """``CheckedEnv(creator(), name)`` (module-level, so that async workers can unpickle it)."""
    return CheckedEnv(creator(), name)
