"""AlgorithmConfig: a typed, validated dataclass with RLlib's fluent methods on top.

    config = (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_envs_per_env_runner=8)
        .training(lr=3e-4, train_batch_size_per_learner=2048, minibatch_size=256)
        .debugging(seed=0)
    )
    algo = config.build_algo()

Every fluent method takes keyword arguments only, and a misspelt name is an
error at once that suggests the right one (``.training(lr_rate=...)``: "did you
mean 'lr'?"), as is assigning an unknown attribute (``config.lr_rate = 1e-3``).
Every value is checked when it is set (NaN and inf are never valid); checks that
involve several fields, or the machine (``device="cuda"``), run in
:meth:`validate` (called by ``build_algo``).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import math
import numbers
from collections.abc import Callable
from typing import Any, ClassVar

from tripod.algorithms.config_checks import (
    SEED_MAX,
    check_device,
    check_device_available,
    non_finite,
    suggest,
)
from tripod.core.rl_module.multi_rl_module import MultiRLModuleSpec
from tripod.core.rl_module.rl_module import RLModuleSpec


class _NotProvided:
    """Marks a fluent-method argument the caller did not pass."""

    def __repr__(self) -> str:
        return "NotProvided"


NotProvided: Any = _NotProvided()

LR = float | list  # a constant, or a schedule [[env_step, value], ...] interpolated linearly


def policies_ok(value: Any) -> bool:
    """Whether ``value`` is a valid ``policies`` setting (see :meth:`AlgorithmConfig.multi_agent`)."""
    from tripod.algorithms.multi_agent import policies_ok as check

    return check(value)


class ConfigError(ValueError):
    """A config value is invalid; the message names the field and the fix."""


class UnknownSettingError(ConfigError, AttributeError, TypeError):
    """A config name that does not exist (a typo): raised by assignment and fluent methods.

    It is also an ``AttributeError`` (what assigning a missing attribute raises) and a
    ``TypeError`` (what an unexpected keyword argument raises).
    """


#: The fluent methods that set fields, in the order they are listed in messages.
FLUENT_METHODS = (
    "environment", "env_runners", "training", "rl_module", "multi_agent",
    "evaluation", "reporting", "debugging", "resources",
)  # fmt: skip


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    """The dataclass fields of ``cls`` (not its ClassVars)."""
    return frozenset(f.name for f in dataclasses.fields(cls))


def _is_number(x: Any) -> bool:
    """A real, finite number (not a bool)."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _is_int(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def check_schedule(name: str, value: Any, *, minimum: float = 0.0) -> None:
    """A constant >= minimum, or ``[[step, value], ...]`` with increasing steps."""
    if non_finite(value):
        raise ConfigError(f"{name} must be a finite number or a schedule of finite numbers, got {value!r}.")
    if _is_number(value):
        if value < minimum:
            raise ConfigError(f"{name} must be >= {minimum}, got {value}.")
        return
    ok = isinstance(value, list | tuple) and len(value) > 0
    ok = ok and all(isinstance(p, list | tuple) and len(p) == 2 and all(map(_is_number, p)) for p in value)
    if not ok:
        raise ConfigError(
            f"{name} must be a number or a schedule [[env_step, value], ...], got {value!r}. "
            f"Example: {name}=[[0, 3e-4], [100_000, 1e-5]]."
        )
    steps = [p[0] for p in value]
    if steps != sorted(steps) or any(p[1] < minimum for p in value):
        raise ConfigError(
            f"{name} schedule {value!r} must have increasing env steps and values >= {minimum}."
        )


def schedule_value(value: float | list, step: int) -> float:
    """The value of a constant or piecewise-linear schedule at ``step``."""
    if _is_number(value):
        return float(value)
    points = [(float(s), float(v)) for s, v in value]
    if step <= points[0][0]:
        return points[0][1]
    for (s0, v0), (s1, v1) in zip(points, points[1:]):
        if step <= s1:
            return v0 + (v1 - v0) * (step - s0) / max(s1 - s0, 1e-12)
    return points[-1][1]


@dataclasses.dataclass
class AlgorithmConfig:
    """Settings shared by all algorithms. Subclasses add their own fields.

    Environment: ``env`` (a registered gymnasium id, an env class or a creator
    ``fn(env_config) -> gym.Env``), ``env_config``.
    Env runners: ``num_env_runners`` (0: sample in the main process; >0 needs Ray),
    ``num_envs_per_env_runner``, ``rollout_fragment_length`` ("auto": batch size /
    envs), ``vectorize_mode``, ``restart_failed_sub_environments``.
    Training: ``gamma``, ``lr`` (number or schedule), ``grad_clip``, ``grad_clip_by``,
    ``train_batch_size_per_learner``, ``minibatch_size``, ``num_epochs``.
    Module: ``rl_module_spec`` (``module_class`` None: the algorithm's default
    module), ``model_config`` for the default networks.
    Multi-agent (see :meth:`multi_agent`): ``policies``, ``policy_mapping_fn``,
    ``policies_to_train``.
    Evaluation: ``evaluation_interval`` (iterations; None: off), ``evaluation_duration``
    (episodes). Debugging: ``seed``. Resources: ``num_torch_threads``, ``device``.
    """

    algo_class: ClassVar[type | None] = None

    env: str | type | Callable | None = None
    env_config: dict = dataclasses.field(default_factory=dict)
    num_env_runners: int = 0
    num_envs_per_env_runner: int = 1
    rollout_fragment_length: int | str = "auto"
    vectorize_mode: str = "auto"
    restart_failed_sub_environments: bool = False
    gamma: float = 0.99
    lr: LR = 3e-4
    grad_clip: float | None = None
    grad_clip_by: str = "global_norm"
    train_batch_size_per_learner: int = 4000
    minibatch_size: int | None = 128
    num_epochs: int = 1
    rl_module_spec: RLModuleSpec | MultiRLModuleSpec | None = None
    model_config: dict = dataclasses.field(default_factory=dict)
    policies: dict | None = None
    policy_mapping_fn: Callable | None = None
    policies_to_train: list | None = None
    evaluation_interval: int | None = None
    evaluation_duration: int = 10
    seed: int | None = None
    num_torch_threads: int | None = 1
    device: str = "cpu"
    metrics_window: int = 100

    # ---------------------------------------------------------------- names
    def __setattr__(self, name: str, value: Any) -> None:
        """Set a field; an unknown public name is an error (``config.lr_rate = 1e-3`` would be ignored)."""
        if not name.startswith("_") and name not in _field_names(type(self)):
            attr = getattr(type(self), name, None)
            if isinstance(attr, property) and attr.fset is None:
                raise AttributeError(
                    f"{type(self).__name__}.{name} is read-only: it is computed from other settings."
                )
            if not isinstance(attr, property):
                raise UnknownSettingError(
                    f"{type(self).__name__} has no setting '{name}'.{self._hint(name)} Assigning it would "
                    "change nothing."
                )
        object.__setattr__(self, name, value)

    def _hint(self, name: str) -> str:
        """`` Did you mean 'x'?`` for a misspelt field name, else the list of fields."""
        fields = sorted(_field_names(type(self)))
        close = suggest(name, fields)
        if close is not None:
            return f" Did you mean '{close}'?"
        return f" Settings: {', '.join(fields)}."

    @classmethod
    def _fluent_params(cls, method: str) -> list[str]:
        """The keyword names ``cls.<method>()`` accepts, over the whole class hierarchy."""
        names: list[str] = []
        for klass in cls.__mro__:
            func = klass.__dict__.get(method)
            if func is None:
                continue
            for param in list(inspect.signature(func).parameters.values())[1:]:
                if param.kind not in (param.VAR_KEYWORD, param.VAR_POSITIONAL) and param.name not in names:
                    names.append(param.name)
        return names

    def _reject_unknown(self, method: str, unknown: dict[str, Any]) -> None:
        """Raise :class:`UnknownSettingError` for keywords ``method`` does not take, suggesting the right one."""
        if not unknown:
            return
        name = next(iter(unknown))
        where = f"{type(self).__name__}.{method}()"
        own = self._fluent_params(method)
        others = {n: m for m in FLUENT_METHODS if m != method for n in self._fluent_params(m)}
        if name in others:
            hint = f" '{name}' is set with .{others[name]}({name}=...), not .{method}()."
        elif name in _field_names(type(self)):  # a field set under another keyword (RLlib's names)
            close = suggest(name, own)
            takes = f"Did you mean '{close}'?" if close else f".{method}() takes: {', '.join(own)}."
            hint = (
                f" {takes} ('{name}' itself is a setting without a keyword of its own: assign it with "
                f"config.{name} = ... or use update_from_dict().)"
            )
        elif (close := suggest(name, own)) is not None:
            hint = f" Did you mean '{close}'?"
        elif (close := suggest(name, others)) is not None:
            hint = f" Did you mean .{others[close]}({close}=...)?"
        else:
            hint = f" .{method}() takes: {', '.join(own)}."
        raise UnknownSettingError(f"{where} has no setting '{name}'.{hint}")

    # ---------------------------------------------------------------- fluent API
    def _set(self, **values: Any) -> AlgorithmConfig:
        for name, value in values.items():
            if value is NotProvided:
                continue
            setattr(self, name, value)
            self._check_field(name)
        return self

    def environment(
        self, env: Any = NotProvided, *, env_config: Any = NotProvided, **unknown: Any
    ) -> AlgorithmConfig:
        """Set the environment: a gymnasium id, an env class or a creator function."""
        self._reject_unknown("environment", unknown)
        return self._set(env=env, env_config=env_config)

    def env_runners(
        self,
        *,
        num_env_runners: Any = NotProvided,
        num_envs_per_env_runner: Any = NotProvided,
        rollout_fragment_length: Any = NotProvided,
        vectorize_mode: Any = NotProvided,
        restart_failed_sub_environments: Any = NotProvided,
        **unknown: Any,
    ) -> AlgorithmConfig:
        """Set how environments are sampled."""
        self._reject_unknown("env_runners", unknown)
        return self._set(
            num_env_runners=num_env_runners,
            num_envs_per_env_runner=num_envs_per_env_runner,
            rollout_fragment_length=rollout_fragment_length,
            vectorize_mode=vectorize_mode,
            restart_failed_sub_environments=restart_failed_sub_environments,
        )

    def training(
        self,
        *,
        gamma: Any = NotProvided,
        lr: Any = NotProvided,
        grad_clip: Any = NotProvided,
        grad_clip_by: Any = NotProvided,
        train_batch_size_per_learner: Any = NotProvided,
        minibatch_size: Any = NotProvided,
        num_epochs: Any = NotProvided,
        **unknown: Any,
    ) -> AlgorithmConfig:
        """Set the optimisation settings shared by all algorithms."""
        self._reject_unknown("training", unknown)
        return self._set(
            gamma=gamma,
            lr=lr,
            grad_clip=grad_clip,
            grad_clip_by=grad_clip_by,
            train_batch_size_per_learner=train_batch_size_per_learner,
            minibatch_size=minibatch_size,
            num_epochs=num_epochs,
        )

    def multi_agent(
        self,
        *,
        policies: Any = NotProvided,
        policy_mapping_fn: Any = NotProvided,
        policies_to_train: Any = NotProvided,
        **unknown: Any,
    ) -> AlgorithmConfig:
        """Train several modules on a multi-agent env (RLlib's ``.multi_agent()``).

        Args:
            policies: The module ids: a set/list (each module's spec then comes from
                ``rl_module_spec`` or the algorithm's default module, with the spaces of
                the agents mapped to it), or ``{module_id: RLModuleSpec or None}``.
            policy_mapping_fn: ``fn(agent_id, episode, **kwargs) -> module_id``, asked once per
                agent and episode. Default: the only module; with several, the module named
                ``str(agent_id)``.
            policies_to_train: The module ids to train (default: all); the others act but
                keep their weights (e.g. a fixed heuristic or a frozen opponent).
        """
        from tripod.algorithms.multi_agent import normalize_policies

        self._reject_unknown("multi_agent", unknown)
        if policies is not NotProvided and policies_ok(policies):
            policies = normalize_policies(policies)
        if policies_to_train is not NotProvided and isinstance(policies_to_train, set | frozenset | tuple):
            policies_to_train = sorted(policies_to_train)
        return self._set(
            policies=policies, policy_mapping_fn=policy_mapping_fn, policies_to_train=policies_to_train
        )

    @property
    def is_multi_agent(self) -> bool:
        """Whether the algorithm runs multi-agent: ``.multi_agent()`` was called, the module spec
        is a MultiRLModuleSpec, or the env is a MultiAgentEnv class or ``"pettingzoo:..."``."""
        from tripod.algorithms.multi_agent import is_multi_agent

        return is_multi_agent(self)

    def rl_module(
        self, *, rl_module_spec: Any = NotProvided, model_config: Any = NotProvided, **unknown: Any
    ) -> AlgorithmConfig:
        """Set the module spec (spaces may be omitted: they come from the env) and model_config."""
        self._reject_unknown("rl_module", unknown)
        return self._set(rl_module_spec=rl_module_spec, model_config=model_config)

    def evaluation(
        self,
        *,
        evaluation_interval: Any = NotProvided,
        evaluation_duration: Any = NotProvided,
        **unknown: Any,
    ) -> AlgorithmConfig:
        """Evaluate greedily every ``evaluation_interval`` iterations for ``evaluation_duration`` episodes."""
        self._reject_unknown("evaluation", unknown)
        return self._set(evaluation_interval=evaluation_interval, evaluation_duration=evaluation_duration)

    def debugging(self, *, seed: Any = NotProvided, **unknown: Any) -> AlgorithmConfig:
        """Set the random seed (runs with the same seed give the same results)."""
        self._reject_unknown("debugging", unknown)
        return self._set(seed=seed)

    def resources(
        self, *, num_torch_threads: Any = NotProvided, device: Any = NotProvided, **unknown: Any
    ) -> AlgorithmConfig:
        """Set torch threads (None: torch's default) and the learner device ("cpu", "cuda", "cuda:1")."""
        self._reject_unknown("resources", unknown)
        return self._set(num_torch_threads=num_torch_threads, device=device)

    def reporting(
        self, *, metrics_num_episodes_for_smoothing: Any = NotProvided, **unknown: Any
    ) -> AlgorithmConfig:
        """Set how many recent episodes the return and length means average over."""
        self._reject_unknown("reporting", unknown)
        return self._set(metrics_window=metrics_num_episodes_for_smoothing)

    def framework(self, framework: str = "torch", **_: Any) -> AlgorithmConfig:
        """Accepted for RLlib compatibility; tripod runs on torch only."""
        if framework != "torch":
            raise ConfigError(f"framework must be 'torch' (tripod runs on PyTorch), got {framework!r}.")
        return self

    def api_stack(self, **_: Any) -> AlgorithmConfig:
        """Accepted for RLlib compatibility; tripod has one (the new) API stack."""
        return self

    # ------------------------------------------------------------------ checks
    _CHECKS: ClassVar[dict[str, tuple[Callable[[Any], bool], str]]] = {
        "env": (
            lambda v: v is None or isinstance(v, str) or callable(v),
            "a gymnasium id such as 'CartPole-v1', an env class or a creator function fn(env_config) -> env",
        ),
        "env_config": (lambda v: isinstance(v, dict), "a dict"),
        "num_env_runners": (lambda v: _is_int(v) and v >= 0, "an int >= 0"),
        "num_envs_per_env_runner": (lambda v: _is_int(v) and v >= 1, "an int >= 1"),
        "rollout_fragment_length": (
            lambda v: v == "auto" or (_is_int(v) and v >= 1),
            "'auto' or an int >= 1",
        ),
        "vectorize_mode": (
            lambda v: v in ("auto", "sync", "async", "vector"),
            "'auto', 'sync', 'async' or 'vector'",
        ),
        "restart_failed_sub_environments": (lambda v: isinstance(v, bool), "True or False"),
        "gamma": (lambda v: _is_number(v) and 0.0 <= v <= 1.0, "a number in [0, 1]"),
        "grad_clip": (lambda v: v is None or (_is_number(v) and v > 0), "None or a number > 0"),
        "grad_clip_by": (lambda v: v in ("global_norm", "norm", "value"), "'global_norm', 'norm' or 'value'"),
        "train_batch_size_per_learner": (lambda v: _is_int(v) and v >= 1, "an int >= 1"),
        "minibatch_size": (lambda v: v is None or (_is_int(v) and v >= 1), "None or an int >= 1"),
        "num_epochs": (lambda v: _is_int(v) and v >= 1, "an int >= 1"),
        "rl_module_spec": (
            lambda v: v is None or isinstance(v, RLModuleSpec | MultiRLModuleSpec),
            "an RLModuleSpec or MultiRLModuleSpec",
        ),
        "model_config": (lambda v: isinstance(v, dict), "a dict"),
        "policies": (
            policies_ok,
            "None, a set/list of module ids or a dict {module_id: RLModuleSpec or None}",
        ),
        "policy_mapping_fn": (
            lambda v: v is None or callable(v),
            "None or a function (agent_id, episode, **kwargs) -> module_id",
        ),
        "policies_to_train": (
            lambda v: v is None or (isinstance(v, list | tuple) and all(isinstance(m, str) for m in v)),
            "None or a list of module ids",
        ),
        "evaluation_interval": (lambda v: v is None or (_is_int(v) and v >= 1), "None or an int >= 1"),
        "evaluation_duration": (lambda v: _is_int(v) and v >= 1, "an int >= 1 (episodes)"),
        "seed": (
            lambda v: v is None or (_is_int(v) and 0 <= v <= SEED_MAX),
            "None or an int in [0, 2**63 - 1]",
        ),
        "num_torch_threads": (lambda v: v is None or (_is_int(v) and v >= 1), "None or an int >= 1"),
        "metrics_window": (lambda v: _is_int(v) and v >= 1, "an int >= 1"),
    }

    def _all_checks(self) -> dict[str, tuple[Callable[[Any], bool], str]]:
        checks: dict = {}
        for klass in reversed(type(self).__mro__):
            checks.update(klass.__dict__.get("_CHECKS", {}))
        return checks

    def _check_field(self, name: str) -> None:
        value = getattr(self, name)
        if non_finite(value):
            raise ConfigError(f"{type(self).__name__}: {name} must be a finite number, got {value!r}.")
        if name == "device" and (problem := check_device(value)) is not None:
            raise ConfigError(f"{type(self).__name__}: {problem}")
        if name == "lr":
            check_schedule(f"{type(self).__name__}: lr", value)
            return
        check = self._all_checks().get(name)
        if check is not None and not check[0](value):
            raise ConfigError(f"{type(self).__name__}: {name} must be {check[1]}, got {value!r}.")

    def validate(self) -> None:
        """Check every field and the rules between fields; raise ConfigError naming the fix."""
        for field in dataclasses.fields(self):
            self._check_field(field.name)
        if self.env is None:
            raise ConfigError(
                f"{type(self).__name__}: no environment set. Call .environment('CartPole-v1') "
                "(a gymnasium id, an env class or a creator function)."
            )
        if self.is_multi_agent:
            from tripod.algorithms.multi_agent import validate_multi_agent

            validate_multi_agent(self)
        if self.num_env_runners > 0:
            raise ConfigError(
                f"{type(self).__name__}: num_env_runners={self.num_env_runners} asks for remote env runners "
                "on Ray, which tripod does not provide yet. Use num_env_runners=0 and raise "
                "num_envs_per_env_runner to sample more environments in this process."
            )
        problem = check_device_available(self.device)
        if problem is not None:
            raise ConfigError(f"{type(self).__name__}: {problem}")
        spec = self.rl_module_spec
        if spec is None or (isinstance(spec, RLModuleSpec) and spec.module_class is None):
            from tripod.core.networks import resolve_model_config

            model_config = (
                spec.model_config if spec is not None and spec.model_config is not None else self.model_config
            )
            try:  # the default module's keys: typos fail here, not minutes into training
                resolve_model_config(model_config)
            except ValueError as exc:
                raise ConfigError(f"{type(self).__name__}: {exc}") from None
        if self.minibatch_size is not None and self.minibatch_size > self.train_batch_size_per_learner:
            raise ConfigError(
                f"{type(self).__name__}: minibatch_size ({self.minibatch_size}) is larger than "
                f"train_batch_size_per_learner ({self.train_batch_size_per_learner}). Lower minibatch_size "
                "or raise train_batch_size_per_learner."
            )

    def update_from_dict(self, values: dict[str, Any]) -> AlgorithmConfig:
        """Set fields by name (used by the CLI's ``--set key=value``); unknown names are errors."""
        names = {f.name for f in dataclasses.fields(self)}
        for name, value in values.items():
            if name not in names:
                raise UnknownSettingError(f"{type(self).__name__} has no setting '{name}'.{self._hint(name)}")
            setattr(self, name, value)
            self._check_field(name)
        return self

    # --------------------------------------------------------------- building
    def copy(self) -> AlgorithmConfig:
        """A deep copy (the algorithm keeps its own)."""
        return copy.deepcopy(self)

    def build_algo(self):
        """Validate and build the algorithm."""
        if self.algo_class is None:
            raise ConfigError("AlgorithmConfig itself builds no algorithm: use PPOConfig, PGConfig, ...")
        self.validate()
        return self.algo_class(self.copy())

    build = build_algo

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of the settings (env and module class as import paths)."""
        from tripod.algorithms.config_io import config_to_dict

        return config_to_dict(self)
