"""tripod algorithms under Ray Tune, as close to RLlib's ``tune.Tuner(PPO, param_space=config)`` as tripod gets.

tripod's algorithms are not Tune ``Trainable`` subclasses (that would import Ray at
``import tripod``), so Tune runs them through a wrapper::

    from ray import tune
    from tripod.algorithms import PPO, PPOConfig
    from tripod.distributed.tune import trainable, tune_param_space

    config = PPOConfig().environment("CartPole-v1")
    tuner = tune.Tuner(
        trainable(PPO),                     # or "tripod/PPO" (registered when this module is imported)
        param_space=tune_param_space(config, lr=tune.grid_search([1e-4, 3e-4, 1e-3])),
    )
    results = tuner.fit()
    best = results.get_best_result(metric="env_runners/episode_return_mean", mode="max")
    algo = PPO.from_checkpoint(best.checkpoint.path)

The param space:

- ``param_space=config`` (a tripod config, no search) works as with RLlib: Tune calls
  ``config.to_dict()`` (this module registers tripod's ``AlgorithmConfig`` with the abstract
  class Tune checks for), and each trial rebuilds the config from that dict.
- A search needs :func:`tune_param_space`: tripod's fluent setters check every value, so
  ``config.training(lr=tune.grid_search([...]))`` is refused (a search space is not a
  learning rate). ``tune_param_space(config, lr=tune.grid_search([...]))`` is the config's
  settings as a dict with the searched ones replaced; misspelt names fail at once (with a
  suggestion), and every value a grid or ``tune.choice`` holds, and the bounds of
  ``tune.uniform``-style ranges, are checked against the setting before any trial starts.
  ``{**config.to_dict(), "lr": tune.grid_search([...])}`` works too, but keeps only import
  paths of classes and functions (see below).
- A plain dict (``{"env": "CartPole-v1", "lr": ...}``) works with the per-algorithm
  trainables; settings it leaves out keep their defaults. Keys are setting names or their
  fluent keywords (``metrics_num_episodes_for_smoothing``).

Each trial rebuilds its config with :func:`config_from_tune_params`: values as
:func:`tune_param_space` keeps them (objects; Ray pickles them to the trial, so classes and
functions from your script's ``__main__`` and lambdas travel by value) are set and checked
like ``update_from_dict``; the import paths ``config.to_dict()`` records are imported in the
trial process. A param space is your own code, not a checkpoint: it is trusted as a config
you build in-process would be (never run a param space from someone you do not trust; Tune
itself pickles it). Env names registered with :func:`tripod.env.register_env` (or with
``ray.tune.register_env``, RLlib's way) in the driver are known in the trials too.

Checkpoints are tripod algorithm checkpoints (``Algorithm.from_checkpoint(result.checkpoint.path)``);
results are ``algo.train()``'s nested dicts, which Tune flattens with ``/``
(``metric="env_runners/episode_return_mean"``, ``stop={"training_iteration": 10}``).
Each trial reserves a placement group for its driver, its remote env runners and its remote
learners (:func:`placement_group_factory`), so an algorithm with ``num_env_runners > 0`` can
start its actors inside the trial's reservation.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import importlib
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from ray.tune import PlacementGroupFactory, Trainable
from ray.tune import register_trainable as _tune_register_trainable
from ray.tune.search.sample import Categorical, Domain, Float, Integer

from tripod.algorithms.algorithm import Algorithm
from tripod.algorithms.algorithm_config import AlgorithmConfig
from tripod.algorithms.config_checks import ConfigError, UnknownSettingError, settings_of, suggest
from tripod.algorithms.config_io import config_from_dict
from tripod.io.class_import import class_path, import_class

__all__ = [
    "TUNE_NAMES",
    "TripodTrainable",
    "config_from_tune_params",
    "placement_group_factory",
    "register_tune_trainables",
    "trainable",
    "tune_param_space",
]

#: The names :func:`register_tune_trainables` registers, and the algorithms they run. The
#: ``tripod/`` prefix keeps them apart from RLlib's own ``"PPO"``, ``"DQN"``, ... in the same Tune.
TUNE_NAMES: dict[str, str] = {
    "tripod/PPO": "tripod.algorithms.ppo.PPO",
    "tripod/PG": "tripod.algorithms.pg.PG",
    "tripod/DQN": "tripod.algorithms.dqn.DQN",
    "tripod/SAC": "tripod.algorithms.sac.SAC",
}

#: Keys Tune itself puts into a trial's config (never settings).
_TUNE_KEYS = frozenset({"__trial_info__", "__stdout_file__", "__stderr_file__", "log_sys_usage"})
#: The config key holding the config class (as in ``AlgorithmConfig.to_dict()``).
CONFIG_CLASS_KEY = "config_class"
#: Prefix of the keys under which env registrations travel in Tune's registry.
_ENV_KEY_PREFIX = "tripod-env:"
#: The settings that size a trial's placement group.
_RESOURCE_SETTINGS = (
    "num_env_runners",
    "evaluation_num_env_runners",
    "num_cpus_per_env_runner",
    "num_learners",
    "num_cpus_per_learner",
    "num_gpus_per_learner",
    "device",
)
_REF_MARKERS = ("__import__", "__function__")


# ------------------------------------------------------------------------------ the trainable


class TripodTrainable(Trainable):
    """A Tune ``Trainable`` running one tripod :class:`~tripod.algorithms.algorithm.Algorithm`.

    ``setup`` builds the algorithm from the trial's config (:func:`config_from_tune_params`),
    ``step`` is ``algo.train()``, ``save_checkpoint`` is ``algo.save_to_path(checkpoint_dir)``,
    ``load_checkpoint`` is ``algo.restore_from_path``, ``cleanup`` is ``algo.stop()``.
    ``reset_config`` rebuilds the algorithm, so ``TuneConfig(reuse_actors=True)`` works.

    Use :func:`trainable` for a subclass bound to one algorithm (``trainable(PPO)``). This
    class itself takes the algorithm from the config class the param space names (any tripod
    config works, a plain dict without ``config_class`` does not).

    Attributes:
        algo: The algorithm (None before ``setup`` and after ``cleanup``).
    """

    #: Import path of the algorithm this trainable runs, resolved on first use; None: the
    #: algorithm is in ``_algo`` or comes from the config class's ``algo_class``.
    algo_path: ClassVar[str | None] = None
    #: ``(algorithm class,)`` once known. A tuple, not the class: Ray disassembles an actor class's
    #: class-valued attributes recursively, and Algorithm -> config_class -> algo_class loops.
    _algo: ClassVar[tuple[type[Algorithm], ...]] = ()
    #: The name Tune registers a trainable class under when it is passed to ``Tuner`` directly.
    _name: ClassVar[str] = "tripod"

    algo: Algorithm | None = None

    @classmethod
    def algorithm(cls) -> type[Algorithm] | None:
        """The algorithm class this trainable is bound to (None for the generic one)."""
        if not cls._algo and cls.algo_path is not None:
            cls._algo = (import_class(cls.algo_path),)
        return cls._algo[0] if cls._algo else None

    def setup(self, config: dict[str, Any]) -> None:
        """Build the algorithm from the trial's config (a Tune param space, resolved)."""
        self.algo = None
        algo_config = config_from_tune_params(config, self.algorithm())
        algo_class = self.algorithm() or type(algo_config).algo_class
        if algo_class is None:
            raise ConfigError(f"{type(algo_config).__name__} names no algorithm class (algo_class).")
        self.algo = algo_class(algo_config)

    def _built(self) -> Algorithm:
        if self.algo is None:
            raise RuntimeError(f"{type(self).__name__}: no algorithm (setup() failed or cleanup() ran).")
        return self.algo

    def step(self) -> dict[str, Any]:
        """One ``algo.train()`` iteration; Tune flattens its nested dicts with ``/``."""
        return self._built().train()

    def save_checkpoint(self, checkpoint_dir: str) -> str:
        """Write a tripod algorithm checkpoint into Tune's (empty) ``checkpoint_dir``."""
        self._built().save_to_path(checkpoint_dir)
        return checkpoint_dir

    def load_checkpoint(self, checkpoint: str | dict[str, Any]) -> None:
        """Restore the algorithm from a checkpoint directory written by :meth:`save_checkpoint`."""
        if not isinstance(checkpoint, str):
            raise TypeError(
                f"{type(self).__name__} restores from checkpoint directories, got {type(checkpoint).__name__}."
            )
        self._built().restore_from_path(checkpoint)

    def cleanup(self) -> None:
        """Stop the algorithm (its envs, remote env runners and learners)."""
        if self.algo is not None:
            self.algo.stop()
            self.algo = None

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        """Rebuild the algorithm for ``new_config`` in this actor (``reuse_actors=True``)."""
        self.cleanup()
        self.setup(copy.deepcopy(new_config))
        return True

    @classmethod
    def default_resource_request(cls, config: dict[str, Any]) -> PlacementGroupFactory:
        """The trial's placement group: its driver, remote env runners and learners (RLlib's layout).

        Runs in the Tune driver for every trial; also shares the env name the trial uses if it
        was registered in the driver (:func:`tripod.env.register_env`), so the trial finds it.
        """
        _share_env_registrations(config.get("env"))
        return placement_group_factory(_resource_settings(config, cls.algorithm()))


class PPOTrainable(TripodTrainable):
    """tripod's PPO under Tune (``"tripod/PPO"``)."""

    algo_path = TUNE_NAMES["tripod/PPO"]
    _name = "tripod/PPO"


class PGTrainable(TripodTrainable):
    """tripod's PG under Tune (``"tripod/PG"``)."""

    algo_path = TUNE_NAMES["tripod/PG"]
    _name = "tripod/PG"


class DQNTrainable(TripodTrainable):
    """tripod's DQN under Tune (``"tripod/DQN"``)."""

    algo_path = TUNE_NAMES["tripod/DQN"]
    _name = "tripod/DQN"


class SACTrainable(TripodTrainable):
    """tripod's SAC under Tune (``"tripod/SAC"``)."""

    algo_path = TUNE_NAMES["tripod/SAC"]
    _name = "tripod/SAC"


_BUILTIN: dict[str, type[TripodTrainable]] = {
    "tripod/PPO": PPOTrainable,
    "tripod/PG": PGTrainable,
    "tripod/DQN": DQNTrainable,
    "tripod/SAC": SACTrainable,
}
_MADE: dict[type, type[TripodTrainable]] = {}


def trainable(algo: type[Algorithm] | str) -> type[TripodTrainable]:
    """The Tune trainable class of a tripod algorithm: ``tune.Tuner(trainable(PPO), param_space=...)``.

    Args:
        algo: An :class:`~tripod.algorithms.algorithm.Algorithm` subclass (tripod's or your
            own), or a name: ``"PPO"`` or ``"tripod/PPO"`` (likewise PG, DQN, SAC).

    Returns:
        A :class:`TripodTrainable` subclass; Tune registers it as ``"tripod/<Name>"``.

    Raises:
        ValueError: An unknown name. TypeError: Not an Algorithm subclass.
    """
    if isinstance(algo, str):
        name = algo if algo.startswith("tripod/") else f"tripod/{algo}"
        if name not in _BUILTIN:
            raise ValueError(
                f"No tripod algorithm named {algo!r}; choose one of {', '.join(sorted(_BUILTIN))}."
            )
        return _BUILTIN[name]
    if not (isinstance(algo, type) and issubclass(algo, Algorithm)):
        raise TypeError(
            f"trainable() takes a tripod Algorithm subclass such as PPO or a name such as 'tripod/PPO', got "
            f"{algo!r}. (For a config, pass it as param_space.)"
        )
    for builtin in _BUILTIN.values():
        if builtin.algorithm() is algo:
            return builtin
    if algo not in _MADE:
        _MADE[algo] = type(
            f"{algo.__name__}Trainable",
            (TripodTrainable,),
            {"_algo": (algo,), "_name": f"tripod/{algo.__name__}", "__doc__": f"{algo.__name__} under Tune."},
        )
    return _MADE[algo]


def register_tune_trainables() -> list[str]:
    """Register ``"tripod/PPO"``, ``"tripod/PG"``, ``"tripod/DQN"`` and ``"tripod/SAC"`` with Tune.

    Importing this module does it once; call it again after ``ray.shutdown()`` and a new
    ``ray.init()`` (Tune's registry lives in the Ray session). Returns the names.
    """
    for name, cls in _BUILTIN.items():
        _tune_register_trainable(name, cls)
    return list(_BUILTIN)


# ------------------------------------------------------------------------------ param spaces


def tune_param_space(config: AlgorithmConfig, **search: Any) -> dict[str, Any]:
    """``config``'s settings as a Tune param space, with the settings in ``search`` searched.

    Example: ``tune_param_space(config, lr=tune.grid_search([1e-4, 3e-4, 1e-3]), gamma=tune.uniform(0.95, 0.999))``.

    Values stay objects (module specs, env classes, creator functions), so they reach the trials
    as they are. The result's ``"config_class"`` entry names the config class.

    Args:
        config: The config every trial starts from.
        **search: Setting name (or fluent keyword) -> a Tune search space
            (``tune.grid_search``, ``tune.choice``, ``tune.uniform``, ...) or a plain value.

    Raises:
        UnknownSettingError: A name is not a setting of the config (suggesting the right one).
        ConfigError: A value of a grid or choice, or a bound of a range, is refused by the setting.
    """
    if not isinstance(config, AlgorithmConfig):
        raise TypeError(f"tune_param_space() takes a tripod AlgorithmConfig, got {type(config).__name__}.")
    config = config.copy()
    space: dict[str, Any] = {CONFIG_CLASS_KEY: _config_class_value(type(config))}
    space.update({f.name: getattr(config, f.name) for f in dataclasses.fields(config)})
    for key, value in search.items():
        name = _setting_name(type(config), key, where="tune_param_space()")
        _check_search_values(config, key, name, value)
        space[name] = value
    _share_env_registrations(config.env)
    return space


def config_from_tune_params(
    params: Mapping[str, Any], algo_class: type[Algorithm] | None = None
) -> AlgorithmConfig:
    """The config a trial runs: ``params`` (a resolved Tune param space) as a tripod config.

    Also the way back from a result: ``config_from_tune_params(best_result.config, PPO)``.

    Args:
        params: What :func:`tune_param_space` or ``config.to_dict()`` gave Tune (resolved), or
            a plain dict of settings.
        algo_class: The algorithm the trainable runs; its ``config_class`` is used when
            ``params`` names none, and must be a base of the one it names.

    Raises:
        ConfigError: The config class does not fit the algorithm, a value is refused, or a
            class or function was recorded in a form a trial cannot load (says what to do).
        UnknownSettingError: A key is not a setting.
    """
    params = {k: v for k, v in params.items() if k not in _TUNE_KEYS}
    config_cls = _config_class(params.pop(CONFIG_CLASS_KEY, None), algo_class)
    values = {_setting_name(config_cls, k, where="the Tune param_space"): v for k, v in params.items()}
    saved = {k: v for k, v in values.items() if _is_saved_form(k, v)}
    live = {k: v for k, v in values.items() if k not in saved}
    for name, value in saved.items():
        _check_loadable(name, value)
    _restore_env_registrations(values.get("env"))
    if not saved:
        return config_cls().update_from_dict(live)
    return config_from_dict(
        {CONFIG_CLASS_KEY: class_path(config_cls), **saved},
        live,
        config_base=config_cls,
        trusted=True,  # the user's own param space, not a checkpoint (see the module docstring)
        source="the Tune param_space",
    )


def _config_class_value(cls: type[AlgorithmConfig]) -> str | type[AlgorithmConfig]:
    """The config class as its import path, or the class itself if a trial could not import it."""
    path = class_path(cls)
    return cls if cls.__module__ == "__main__" or "<locals>" in path else path


def _config_class(value: Any, algo_class: type[Algorithm] | None) -> type[AlgorithmConfig]:
    """The config class a param space names (a class or an import path), checked against the algorithm."""
    base: type[AlgorithmConfig] = algo_class.config_class if algo_class is not None else AlgorithmConfig
    if value is None:
        if algo_class is None:
            raise ConfigError(
                "The Tune param_space names no config class: build it with "
                "tripod.distributed.tune.tune_param_space(config, ...) or config.to_dict(), or run it with "
                "a per-algorithm trainable (trainable(PPO) or 'tripod/PPO')."
            )
        return base
    if isinstance(value, str) and value.startswith("__main__."):
        raise ConfigError(
            f"The Tune param_space names the config class {value}, defined in your script, which a trial "
            "process cannot import. Pass param_space=tripod.distributed.tune.tune_param_space(config, ...), "
            "which sends the class itself."
        )
    cls = value if isinstance(value, type) else import_class(str(value))
    if not (isinstance(cls, type) and issubclass(cls, base)):
        algo = algo_class.__name__ if algo_class is not None else "this trainable"
        raise ConfigError(
            f"The Tune param_space holds a {getattr(cls, '__name__', cls)} but {algo} needs a "
            f"{base.__name__}: use the trainable of the config's algorithm (trainable(config.algo_class))."
        )
    return cls


@functools.cache
def _keywords(cls: type[AlgorithmConfig]) -> dict[str, str]:
    """``{setting name or fluent keyword: setting name}`` of a config class."""
    names = {f.name: f.name for f in dataclasses.fields(cls)}
    keywords = {s.keyword_for(n): n for n, s in settings_of(cls).items()}
    return {**keywords, **names}


def _setting_name(cls: type[AlgorithmConfig], key: str, *, where: str) -> str:
    """The setting ``key`` names (a field or a fluent keyword); UnknownSettingError otherwise."""
    known = _keywords(cls)
    if key in known:
        return known[key]
    close = suggest(key, known)
    hint = f" Did you mean '{close}'?" if close else f" Settings: {', '.join(sorted(known))}."
    raise UnknownSettingError(f"{where}: {cls.__name__} has no setting '{key}'.{hint}")


def _candidates(value: Any) -> Iterable[Any]:
    """The values of a search space that can be checked up front (all of a grid or choice, a range's bounds)."""
    if isinstance(value, dict) and set(value) == {"grid_search"}:
        return list(value["grid_search"])
    if isinstance(value, Categorical):
        return list(value.categories)
    if isinstance(value, Float):
        return [b for b in (value.lower, value.upper) if b is not None]
    if isinstance(value, Integer):
        return [value.lower, value.upper - 1]  # Tune's integer ranges exclude the upper bound
    if isinstance(value, Domain):
        return []  # tune.sample_from(fn): known only when a trial is made
    return [value]


def _check_search_values(config: AlgorithmConfig, key: str, name: str, value: Any) -> None:
    """Raise ConfigError naming the search space when a value it can produce is refused by setting ``name``."""
    for candidate in _candidates(value):
        if isinstance(candidate, Domain) or (isinstance(candidate, dict) and "grid_search" in candidate):
            continue  # a nested search space: checked when the trial is made
        try:
            config.copy().update_from_dict({name: candidate})
        except ConfigError as err:
            raise ConfigError(
                f"tune_param_space({key}=...): the search space can produce {candidate!r}, which is refused: {err}"
            ) from None


def _has_ref(value: Any) -> bool:
    if isinstance(value, dict):
        return any(m in value for m in _REF_MARKERS) or any(_has_ref(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_ref(v) for v in value)
    return False


def _is_saved_form(name: str, value: Any) -> bool:
    """Whether ``value`` is setting ``name`` as ``AlgorithmConfig.to_dict()`` records it (import paths, spec dicts)."""
    if name == "rl_module_spec":
        return isinstance(value, dict)
    if name == "policies" and isinstance(value, dict):
        return any(isinstance(v, dict) for v in value.values())
    return _has_ref(value)


def _check_loadable(name: str, value: Any) -> None:
    """ConfigError for a ``to_dict()`` record no trial can load: a lambda, a local or ``__main__`` object."""
    if isinstance(value, list):
        for v in value:
            _check_loadable(name, v)
        return
    if not isinstance(value, dict):
        return
    ref, function = value.get("__import__", ""), value.get("__function__")
    main = isinstance(ref, str) and ref.startswith("__main__.")
    main = main or (isinstance(function, dict) and function.get("module") == "__main__")
    if ref is None or main:
        what = value.get("repr") or ref or f"__main__.{function.get('qualname')}"  # type: ignore[union-attr]
        raise ConfigError(
            f"The Tune param_space's '{name}' is {what}, recorded by config.to_dict() as "
            f"{'an object' if ref is None else 'a name in your script'}, which a trial process cannot load. "
            "Pass param_space=tripod.distributed.tune.tune_param_space(config, ...) instead: it keeps the "
            "object itself, which Ray sends to the trials."
        )
    for key, v in value.items():
        if key not in _REF_MARKERS:
            _check_loadable(name, v)


# ------------------------------------------------------------------------------ resources


def _resource_settings(params: Mapping[str, Any], algo_class: type[Algorithm] | None) -> AlgorithmConfig:
    """A config holding only the settings of ``params`` that size the placement group (checked)."""
    params = {k: v for k, v in params.items() if k not in _TUNE_KEYS}
    config_cls = _config_class(params.pop(CONFIG_CLASS_KEY, None), algo_class)
    values = {_setting_name(config_cls, k, where="the Tune param_space"): v for k, v in params.items()}
    return config_cls().update_from_dict({k: v for k, v in values.items() if k in _RESOURCE_SETTINGS})


def placement_group_factory(config: AlgorithmConfig) -> PlacementGroupFactory:
    """The resources one trial of ``config`` reserves, as RLlib lays them out (strategy ``PACK``).

    Bundles: the trial's driver (1 CPU, and 1 GPU when the local learner uses ``device="cuda"``),
    then one per remote env runner (``num_env_runners + evaluation_num_env_runners`` of
    ``num_cpus_per_env_runner`` CPUs), then one per remote learner (``num_cpus_per_learner``
    CPUs, ``num_gpus_per_learner`` GPUs). Tune starts the trial in this placement group and
    the algorithm's actors are placed in its other bundles.
    """
    driver: dict[str, float] = {"CPU": 1.0}
    if config.num_learners == 0 and str(config.device).startswith("cuda"):
        driver["GPU"] = 1.0
    runners = config.num_env_runners + config.evaluation_num_env_runners
    runner_bundle = {"CPU": float(config.num_cpus_per_env_runner)}
    learner_bundle = {"CPU": float(config.num_cpus_per_learner)}
    if config.num_gpus_per_learner:
        learner_bundle["GPU"] = float(config.num_gpus_per_learner)
    bundles = [driver] + [dict(runner_bundle) for _ in range(runners)]
    bundles += [dict(learner_bundle) for _ in range(config.num_learners)]
    return PlacementGroupFactory(bundles, strategy="PACK")


# ------------------------------------------------------------------------------ env registrations


def _tune_registry() -> tuple[Any, str] | None:
    """Tune's (Ray-session wide) registry and its env category; None if this Ray lacks them."""
    try:
        from ray.tune.registry import ENV_CREATOR, _global_registry
    except ImportError:  # pragma: no cover - a Ray without Tune's registry
        return None
    return _global_registry, ENV_CREATOR


def _share_env_registrations(env: Any) -> None:
    """Put what a trial needs to make the env name ``env`` (a tripod ``register_env`` creator, a
    gymnasium spec) into Tune's registry, where the trial process finds it."""
    from tripod.env.env_creation import env_registrations, restore_env_registrations

    registry = _tune_registry()
    registrations = env_registrations(env)
    if registry is None or not registrations:
        return
    table, category = registry
    table.register(
        category, _ENV_KEY_PREFIX + env, functools.partial(restore_env_registrations, registrations)
    )


def _restore_env_registrations(env: Any) -> None:
    """In a trial: register the env name ``env`` as the driver had it (see :func:`_share_env_registrations`),
    or, if only ``ray.tune.register_env`` knows it (RLlib's way), register that creator with tripod."""
    import gymnasium as gym

    from tripod.env.env_creation import register_env, registered_envs

    registry = _tune_registry()
    if registry is None or not isinstance(env, str):
        return
    table, category = registry
    if table.contains(category, _ENV_KEY_PREFIX + env):
        table.get(category, _ENV_KEY_PREFIX + env)()
    elif env not in registered_envs() and env not in gym.registry and table.contains(category, env):
        register_env(env, table.get(category, env))


def _accept_config_objects() -> None:
    """Let ``Tuner(param_space=config)`` take a tripod config: Tune calls ``to_dict()`` on
    instances of its abstract ``_Config`` (RLlib's configs subclass it; tripod's are registered)."""
    try:
        module = importlib.import_module("ray.tune.tune")
    except ImportError:  # pragma: no cover
        return
    abstract = getattr(module, "_Config", None)
    if abstract is not None and hasattr(abstract, "register") and not issubclass(AlgorithmConfig, abstract):
        abstract.register(AlgorithmConfig)


_accept_config_objects()
register_tune_trainables()
