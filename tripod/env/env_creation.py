"""Creating environments: gymnasium ids, env classes, creator functions and a name registry.

An *env specifier* is one of

* a name registered with :func:`register_env` (looked up first, like RLlib's
  ``tune.register_env``);
* a registered gymnasium id such as ``"CartPole-v1"`` (``env_config`` becomes
  ``gym.make`` keyword arguments; ``"module:EnvId"`` imports ``module`` first);
* a ``gymnasium.Env`` subclass: called as ``cls(env_config)`` when its
  ``__init__`` takes exactly one parameter that is not one of ``env_config``'s
  keys (RLlib's convention, e.g. ``def __init__(self, config=None)``), otherwise
  as ``cls(**env_config)``;
* a creator function ``fn(env_config) -> gymnasium.Env``;
* ``"pettingzoo:<module>"``, e.g. ``"pettingzoo:mpe2.simple_spread_v3"``: a
  PettingZoo env module (``parallel_env()`` preferred, else ``env()``), wrapped as a
  :class:`~tripod.env.multi_agent_env.MultiAgentEnv` (multi-agent envs, and
  PettingZoo envs a creator returns, are sampled by the MultiAgentEnvRunner).

:func:`make_vector_env` turns a specifier into a gymnasium vector env.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
from gymnasium.vector import AutoresetMode

from tripod.env.env_checks import check_reset_signature, checked_env
from tripod.env.env_errors import EnvCreationError, UnknownEnvError
from tripod.env.vector_env import SyncVectorEnv

__all__ = [
    "VECTORIZE_MODES",
    "EnvCreationError",
    "UnknownEnvError",
    "env_name",
    "make_env_creator",
    "make_vector_env",
    "register_env",
    "registered_envs",
    "env_registrations",
    "restore_env_registrations",
]

logger = logging.getLogger(__name__)

#: ``"auto"`` uses an env's own vectorised implementation (gymnasium's ``vector_entry_point``)
#: from this many sub-envs on, and ``"sync"`` below. Measured on CartPole-v1 (sampling with a
#: 64x64 MLP): a vectorised step costs about as much as 6 single-env steps whatever ``num_envs``
#: is; at 8 envs it is ~15% faster per real transition, at 16 about 2x.
AUTO_VECTOR_MIN_ENVS = 8

VECTORIZE_MODES = ("auto", "sync", "async", "vector")

_ENV_CREATORS: dict[str, Callable[[dict], gym.Env]] = {}

#: ``"pettingzoo:mpe2.simple_spread_v3"``: a PettingZoo env module, wrapped as a MultiAgentEnv.
PETTINGZOO_PREFIX = "pettingzoo:"


def register_env(name: str, creator: Callable[[dict], gym.Env]) -> None:
    """Register ``creator`` under ``name`` so that envs can be referred to by name.

    Args:
        name: The name to use as the env specifier, e.g. ``"my_env"``. Registered
            names take precedence over gymnasium ids; registering a name again
            replaces the earlier creator.
        creator: ``creator(env_config: dict) -> gymnasium.Env``.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"register_env(): name must be a non-empty string, got {name!r}.")
    if not callable(creator):
        raise TypeError(
            f"register_env('{name}'): creator must be callable as creator(env_config) -> gymnasium.Env, "
            f"got {type(creator).__name__}."
        )
    if name in _ENV_CREATORS:
        logger.debug("register_env(): replacing the creator registered under '%s'.", name)
    _ENV_CREATORS[name] = creator


def registered_envs() -> list[str]:
    """Names registered with :func:`register_env`."""
    return sorted(_ENV_CREATORS)


def env_registrations(env: Any) -> dict[str, dict[str, Any]]:
    """What another process needs to make ``env`` as this one does (for remote env runners).

    A name registered with :func:`register_env` carries its creator, a gymnasium id its
    ``EnvSpec`` (an id registered by your script is unknown in a fresh process); env
    classes and creator functions travel by themselves. Returns
    ``{"tripod": {name: creator}, "gymnasium": {env_id: EnvSpec}}`` (entries optional).
    """
    if not isinstance(env, str):
        return {}
    if env in _ENV_CREATORS:
        return {"tripod": {env: _ENV_CREATORS[env]}}
    if env in gym.registry:
        return {"gymnasium": {env: gym.registry[env]}}
    return {}


def restore_env_registrations(registrations: dict[str, dict[str, Any]]) -> None:
    """Register what :func:`env_registrations` returned in this process (gymnasium ids only if unknown)."""
    for name, creator in registrations.get("tripod", {}).items():
        register_env(name, creator)
    for env_id, spec in registrations.get("gymnasium", {}).items():
        if env_id not in gym.registry:
            gym.registry[env_id] = spec


def env_name(env: Any) -> str:
    """A short name of an env specifier for messages (the id, class or function name)."""
    if isinstance(env, str):
        return env
    return getattr(env, "__qualname__", None) or getattr(env, "__name__", None) or type(env).__name__


#: Gymnasium id prefixes whose envs a known package registers on import: ``prefix -> (package, how)``.
#: tripod imports the package named here (never one an env string names) when such an id is asked for.
ENV_FAMILIES: dict[str, tuple[str, str]] = {
    "ALE/": ("ale_py", "pip install 'tripod-rl[atari]'"),
    "MinAtar/": ("minatar", "pip install 'tripod-rl[minatar]'"),
}


def _register_family(env_id: str) -> None:
    """Register the gymnasium ids of ``env_id``'s family (ALE, MinAtar) if they are not yet."""
    family = next((f for f in ENV_FAMILIES if env_id.startswith(f)), None)
    if family is None or env_id in gym.registry:
        return
    package, install = ENV_FAMILIES[family]
    try:
        module = importlib.import_module(package)
    except ImportError as err:
        raise UnknownEnvError(f"Env '{env_id}' needs the {package} package: {install}.") from err
    if package == "minatar":
        importlib.import_module("minatar.gym").register_envs()
    else:
        gym.register_envs(module)


#: The ``env_config`` key that wraps a gymnasium (Atari) id in ``AtariPreprocessing``.
ATARI_PREPROCESSING = "atari_preprocessing"


def _make_atari(env_id: str, config: dict[str, Any]) -> gym.Env:
    """``gym.make(env_id, frameskip=1, ...)`` wrapped in gymnasium's ``AtariPreprocessing``.

    ``config["atari_preprocessing"]`` is True (the standard settings: 4 frames skipped with max-pooling,
    84x84 grayscale, up to 30 no-op starts) or a dict of ``AtariPreprocessing`` keywords; the other
    entries go to ``gym.make``. Stack frames with the ``FrameStackingEnvToModule`` connector.
    """
    from gymnasium.wrappers import AtariPreprocessing

    config = dict(config)
    options = config.pop(ATARI_PREPROCESSING)
    if options is True:
        options = {}
    if not isinstance(options, Mapping):
        raise TypeError(f"env_config['{ATARI_PREPROCESSING}'] must be True or a dict of AtariPreprocessing keywords.")
    config.setdefault("frameskip", 1)  # AtariPreprocessing skips frames itself
    return AtariPreprocessing(gym.make(env_id, **config), **dict(options))


def _check_known_id(env_id: str) -> None:
    _register_family(env_id)
    if env_id in _ENV_CREATORS or env_id in gym.registry or ":" in env_id:
        return
    candidates = list(_ENV_CREATORS) + list(gym.registry)
    close = difflib.get_close_matches(env_id, candidates, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownEnvError(
        f"Unknown env '{env_id}': it is neither registered with tripod.env.register_env() nor a "
        f"gymnasium id.{hint} Register your own env with register_env('{env_id}', lambda config: "
        "MyEnv(config)), pass the env class or a creator function instead of a name, or import the "
        "package that registers it with gymnasium (e.g. 'ale_py:ALE/Pong-v5')."
    )


def _looks_like_pettingzoo(env: Any) -> bool:
    return hasattr(env, "possible_agents") and callable(getattr(env, "observation_space", None))


def _call_env_class(cls: type, env_config: dict) -> gym.Env:
    try:
        params = [
            p
            for p in inspect.signature(cls.__init__).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ][1:]  # drop self
    except (TypeError, ValueError):
        params = []
    if len(params) == 1 and params[0].kind != params[0].KEYWORD_ONLY and params[0].name not in env_config:
        return cls(env_config)
    return cls(**env_config)


def _create_env(env: Any, env_config: Mapping[str, Any] | None) -> gym.Env:
    """Build one env from a specifier (module-level, so that async sub-processes can pickle it)."""
    config = dict(env_config or {})
    name = env_name(env)
    try:
        if isinstance(env, str):
            _check_known_id(env)
            if env in _ENV_CREATORS:
                instance = _ENV_CREATORS[env](config)
            elif env.startswith(PETTINGZOO_PREFIX):
                from tripod.env.wrappers.pettingzoo_env import make_pettingzoo_env

                instance = make_pettingzoo_env(env, config)
            elif ATARI_PREPROCESSING in config:
                instance = _make_atari(env, config)
            else:
                instance = gym.make(env, **config)
        elif isinstance(env, type):
            instance = _call_env_class(env, config)
        elif callable(env):
            instance = env(config)
        else:
            raise TypeError(
                f"an env must be a registered name, a gymnasium id, a gymnasium.Env class or a creator "
                f"function fn(env_config) -> gymnasium.Env; got {type(env).__name__} {env!r}"
            )
    except EnvCreationError:
        raise
    except Exception as exc:
        raise EnvCreationError(
            f"Creating env '{name}' failed with {type(exc).__name__}: {exc} (env_config={config})"
        ) from exc
    if not isinstance(instance, gym.Env) and _looks_like_pettingzoo(instance):
        from tripod.env.wrappers.pettingzoo_env import wrap_pettingzoo

        instance = wrap_pettingzoo(instance)
    if not isinstance(instance, gym.Env):
        raise EnvCreationError(
            f"Creating env '{name}' returned {type(instance).__name__}, not a gymnasium.Env. "
            "The creator must return an environment instance (subclass gymnasium.Env)."
        )
    check_reset_signature(name, instance)  # a pre-0.26 gym env: say so now, not at the first reset
    return instance


def make_env_creator(env: Any, *, env_config: Mapping[str, Any] | None = None) -> Callable[[], gym.Env]:
    """A picklable zero-argument function that creates one env from the specifier ``env``."""
    if isinstance(env, str):
        _check_known_id(env)
    return functools.partial(_create_env, env, dict(env_config or {}))


def _vector_entry_point(env: Any, config: Mapping[str, Any] | None = None) -> bool:
    if not isinstance(env, str) or env in _ENV_CREATORS or env not in gym.registry:
        return False
    if config and ATARI_PREPROCESSING in config:  # the wrapper works on single envs
        return False
    return gym.spec(env).vector_entry_point is not None


def make_vector_env(
    env: Any,
    *,
    env_config: Mapping[str, Any] | None = None,
    num_envs: int = 1,
    vectorize_mode: str = "auto",
    seed: int | None = None,
) -> gym.vector.VectorEnv:
    """Create a gymnasium vector env of ``num_envs`` copies of ``env``.

    Args:
        env: An env specifier (see the module docstring).
        env_config: Passed to the creator (``gym.make`` keyword arguments for gymnasium ids).
        num_envs: Number of sub-environments.
        vectorize_mode: ``"sync"``: step the sub-envs one after another in this process
            (:class:`~tripod.env.vector_env.SyncVectorEnv`); ``"async"``: one process per
            sub-env (gymnasium's ``AsyncVectorEnv``, for slow envs); ``"vector"``: the env's
            own vectorised implementation when its gymnasium id registers a
            ``vector_entry_point`` (e.g. CartPole-v1), else ``"sync"``; ``"auto"``
            (default): ``"vector"`` from :data:`AUTO_VECTOR_MIN_ENVS` sub-envs on, else ``"sync"``.
        seed: Seeds the action and observation spaces (for random actions). The caller
            seeds the sub-envs with ``reset(seed=...)``.

    Returns:
        A ``gymnasium.vector.VectorEnv``. ``"sync"`` and ``"async"`` envs autoreset in
        gymnasium's SAME_STEP mode (a finished episode's last observation is in
        ``infos["final_obs"]``); vectorised implementations may use NEXT_STEP (see
        ``env.metadata["autoreset_mode"]``). Observation and result arrays returned by
        ``step``/``reset`` are reused by the next call: copy them to keep them.

    Raises:
        UnknownEnvError: ``env`` is a name nobody registered.
        EnvCreationError: the env could not be built.
    """
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"make_vector_env(): num_envs must be a positive int, got {num_envs!r}.")
    config = dict(env_config or {})
    name = env_name(env)
    mode = _resolve_vectorize_mode(env, name, vectorize_mode, num_envs, config)
    if mode == "vector":
        venv = _make_own_vector_env(env, name, num_envs, config)
    elif mode == "sync":
        venv = SyncVectorEnv([make_env_creator(env, env_config=config)] * num_envs, name=name)
    else:
        venv = _make_async_vector_env(make_env_creator(env, env_config=config), name, num_envs)
    if seed is not None:
        for space in (venv.action_space, venv.single_action_space, venv.observation_space):
            space.seed(int(seed))
    return venv


def _resolve_vectorize_mode(
    env: Any, name: str, vectorize_mode: str, num_envs: int, config: Mapping[str, Any] | None = None
) -> str:
    """``"vector"``, ``"sync"`` or ``"async"`` for the ``vectorize_mode`` asked for."""
    if vectorize_mode not in VECTORIZE_MODES:
        raise ValueError(
            f"make_vector_env(): vectorize_mode must be one of {VECTORIZE_MODES}, got {vectorize_mode!r}."
        )
    if vectorize_mode == "auto":
        return "vector" if num_envs >= AUTO_VECTOR_MIN_ENVS and _vector_entry_point(env, config) else "sync"
    if vectorize_mode == "vector" and not _vector_entry_point(env, config):
        logger.debug("Env '%s' has no vectorised implementation; using vectorize_mode='sync'.", name)
        return "sync"
    return vectorize_mode


def _make_own_vector_env(env: str, name: str, num_envs: int, config: dict) -> gym.vector.VectorEnv:
    """The env's own vectorised implementation (its gymnasium ``vector_entry_point``)."""
    try:
        return gym.make_vec(env, num_envs=num_envs, vectorization_mode="vector_entry_point", **config)
    except Exception as exc:
        raise EnvCreationError(
            f"Creating the vectorised env '{name}' failed with {type(exc).__name__}: {exc} "
            f"(env_config={config}). Check env_config; if only the vectorised implementation "
            "fails, use vectorize_mode='sync'."
        ) from exc


def _make_async_vector_env(creator: Callable[[], gym.Env], name: str, num_envs: int) -> gym.vector.VectorEnv:
    """One process per sub-env (gymnasium's ``AsyncVectorEnv``), autoresetting in SAME_STEP mode."""
    try:
        checked = functools.partial(checked_env, creator, name)  # checks obs inside the workers
        return gym.vector.AsyncVectorEnv(
            [checked] * num_envs, autoreset_mode=AutoresetMode.SAME_STEP, copy=False
        )
    except EnvCreationError:
        raise
    except Exception as exc:
        raise EnvCreationError(
            f"Creating the async vector env '{name}' failed with {type(exc).__name__}: {exc}"
        ) from exc
