"""A lean synchronous vector env with SAME_STEP autoreset.

gymnasium's ``SyncVectorEnv`` spends about 15 us per call on bookkeeping around
the sub-envs' ``step`` (action iteration, concatenation, info merging), more
than a CartPole step itself. This one writes each sub-env's results straight
into preallocated arrays and builds an ``infos`` dict only when a sub-env
reports something.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space, create_empty_array, iterate

from tripod.env.env_checks import (
    EnvAPIError,
    ObservationChecker,
    ObservationSpaceError,
    diagnose_old_api,
    env_spaces,
    old_api_error,
)

__all__ = ["SyncVectorEnv"]

_ARRAY_SPACES = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)


def _write(out: Any, index: int, value: Any, where: str = "observation") -> None:
    """``out[index] = value`` for nested dict/tuple observations; a leaf of the wrong shape is an error."""
    if isinstance(out, np.ndarray):
        if np.shape(value) != out.shape[1:]:
            raise ObservationSpaceError(
                f"{where} has shape {np.shape(value)}, but the observation_space expects {out.shape[1:]}. "
                "Return observations of the declared shape, or declare the space the env really returns."
            )
        out[index] = value
    elif isinstance(out, Mapping):
        for key, sub in out.items():
            _write(sub, index, value[key], f"{where}[{key!r}]")
    else:
        for k, (sub, item) in enumerate(zip(out, value, strict=True)):
            _write(sub, index, item, f"{where}[{k}]")


class SyncVectorEnv(gym.vector.VectorEnv):
    """Steps ``len(env_fns)`` sub-envs one after another, resetting finished ones at once.

    Autoreset follows gymnasium's SAME_STEP mode: when a sub-env's episode ends,
    ``step`` returns the first observation of its next episode and puts the last
    observation of the finished one in ``infos["final_obs"]`` (an object array,
    with ``infos["_final_obs"]`` marking the sub-envs that finished) and its info
    in ``infos["final_info"]``.

    The arrays returned by ``reset`` and ``step`` are reused by the next call; copy
    them to keep them. When a sub-env raises, ``failed_index`` names it.

    Restarting one sub-env: set ``restart_sub_envs`` to a callback
    ``fn(index, exception) -> seed or None``; a sub-env whose ``step`` raises is then
    closed, rebuilt from its env function and reset with that seed, and ``step``
    goes on with the other sub-envs (their episodes continue). The rebuilt sub-env
    reports reward 0 and ``truncated=True``; ``restarted`` lists the sub-envs rebuilt
    in the last ``step`` (no ``final_obs`` is given for them). The callback may raise
    to stop instead.

    Args:
        env_fns: Zero-argument functions that create the sub-envs.
        name: The env's name, used in error messages.
    """

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]], *, name: str = "env") -> None:
        if not env_fns:
            raise ValueError("SyncVectorEnv needs at least one env function.")
        self.name = name
        self._env_fns = list(env_fns)
        self.envs = [fn() for fn in self._env_fns]
        self.restart_sub_envs: Callable[[int, Exception], int | None] | None = None
        self.restarted: list[int] = []
        self.num_envs = len(self.envs)
        first = self.envs[0]
        try:
            self.single_observation_space, self.single_action_space = env_spaces(name, first)
        except EnvAPIError:
            for env in self.envs:
                env.close()
            raise
        for i, env in enumerate(self.envs[1:], start=1):
            if env.observation_space != first.observation_space or env.action_space != first.action_space:
                raise ValueError(
                    f"Env '{name}': sub-env {i} has spaces ({env.observation_space}, {env.action_space}) "
                    f"but sub-env 0 has ({first.observation_space}, {first.action_space}); all sub-envs "
                    "must share their spaces."
                )
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.metadata = {**getattr(first, "metadata", {}), "autoreset_mode": AutoresetMode.SAME_STEP}
        self.spec = getattr(first, "spec", None)
        self.render_mode = getattr(first, "render_mode", None)
        self.failed_index: int | None = None
        self._obs = create_empty_array(self.single_observation_space, n=self.num_envs, fn=np.zeros)
        self._array_obs = isinstance(self.single_observation_space, _ARRAY_SPACES)
        if self._array_obs:  # _store_obs checks only observations that are not ndarrays of this shape/dtype
            self._obs_shape, self._obs_dtype = self._obs.shape[1:], self._obs.dtype
            self._obs_check = ObservationChecker(self.single_observation_space, name)
        self._array_actions = isinstance(self.single_action_space, _ARRAY_SPACES)
        self._rewards = np.zeros(self.num_envs, dtype=np.float64)
        self._terminations = np.zeros(self.num_envs, dtype=np.bool_)
        self._truncations = np.zeros(self.num_envs, dtype=np.bool_)

    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset every sub-env; an int ``seed`` seeds sub-env ``i`` with ``seed + i``."""
        if seed is None or isinstance(seed, int | np.integer):
            seeds = [None if seed is None else int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"reset(): got {len(seeds)} seeds for {self.num_envs} sub-envs.")
        infos: dict[str, Any] = {}
        for i, (env, env_seed) in enumerate(zip(self.envs, seeds, strict=True)):
            self.failed_index = i
            obs, info = self._reset_sub(env, seed=env_seed, options=options)
            self._store_obs(i, obs, "reset")
            if info:
                infos = self._add_info(infos, info, i)
        self.failed_index = None
        self._terminations[:] = False
        self._truncations[:] = False
        return self._obs, infos

    def _store_obs(self, i: int, obs: Any, method: str = "step") -> None:
        if self._array_obs:
            if (
                type(obs) is not np.ndarray
                or obs.shape != self._obs_shape
                or obs.dtype is not self._obs_dtype
            ):
                self._obs_check.check(obs, i, method)  # raises for a wrong shape, warns once for a cast
            self._obs[i] = obs
        else:
            _write(self._obs, i, obs, f"Env '{self.name}': the observation from {method}() in sub-env {i}")

    def _reset_sub(self, env: gym.Env, **kwargs: Any) -> tuple[Any, dict]:
        """``env.reset(**kwargs)``, with a clear error for envs of the pre-0.26 gym API."""
        try:
            obs, info = env.reset(**kwargs)
        except (ValueError, TypeError) as exc:
            diagnose_old_api(self.name, env, "reset", exc)
            raise
        if not isinstance(info, dict):
            raise old_api_error(self.name, "reset() returned no info dict after the observation")
        return obs, info

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every sub-env with its row of ``actions``; finished sub-envs are reset."""
        if not self._array_actions:
            actions = list(iterate(self.action_space, actions))
        infos: dict[str, Any] = {}
        rewards, terms, truncs = self._rewards, self._terminations, self._truncations
        if self.restarted:
            self.restarted = []
        for i, env in enumerate(self.envs):
            self.failed_index = i
            try:
                obs, reward, terminated, truncated, info = env.step(actions[i])
            except (ValueError, TypeError) as exc:
                diagnose_old_api(self.name, env, "step", exc, actions[i])  # an old gym env raises here
                if self.restart_sub_envs is None:
                    raise
                self._restart_sub_env(i, exc)
                continue
            except Exception as exc:
                if self.restart_sub_envs is None:
                    raise
                self._restart_sub_env(i, exc)
                continue
            rewards[i] = reward
            terms[i] = terminated
            truncs[i] = truncated
            if terminated or truncated:
                infos = self._add_info(infos, {"final_obs": obs, "final_info": info}, i)
                obs, info = self._reset_sub(env)
            self._store_obs(i, obs)
            if info:
                infos = self._add_info(infos, info, i)
        self.failed_index = None
        return self._obs, rewards, terms, truncs, infos

    def render(self) -> tuple[Any, ...] | None:
        """The sub-envs' renders."""
        return tuple(env.render() for env in self.envs)

    def _restart_sub_env(self, i: int, exc: Exception) -> None:
        """Rebuild and reset sub-env ``i`` after it raised ``exc`` in ``step`` (see ``restart_sub_envs``)."""
        seed = self.restart_sub_envs(i, exc)
        with contextlib.suppress(Exception):  # the broken env may fail to close as well
            self.envs[i].close()
        self.envs[i] = self._env_fns[i]()
        obs, _ = self._reset_sub(self.envs[i], seed=seed)
        self._store_obs(i, obs, "reset")
        self._rewards[i], self._terminations[i], self._truncations[i] = 0.0, False, True
        self.restarted.append(i)

    def close_extras(self, **kwargs: Any) -> None:
        """Close every sub-env."""
        for env in self.envs:
            env.close()
