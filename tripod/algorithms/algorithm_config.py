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

Each setting is declared once, as a field made by
:func:`~tripod.algorithms.config_checks.setting` (default, check, one-line doc, the
fluent method that sets it). Validation, the fluent methods' keyword handling and
the settings tables of ``docs/training.md`` come from these declarations. The fluent
methods still list their keywords (for IDE completion and ``help()``); a test checks
that they and the declarations agree. Adding a hyperparameter is one ``setting(...)``
line plus its keyword in the fluent method's signature.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from tripod.algorithms.callback_config import CallbackSettings
from tripod.algorithms.config_checks import (
    BOOL,
    SEED_MAX,
    Check,
    ConfigError,
    NotProvided,
    UnknownSettingError,
    check_device,
    check_device_available,
    fluent_keywords,
    integer,
    is_int,
    keyword_hint,
    non_finite,
    number,
    one_of,
    optional,
    plain_model_config,
    policies_to_train_ok,
    schedule,
    setting,
    settings_of,
    sorted_if_set,
    suggest,
)
from tripod.algorithms.connector_config import ConnectorSettings
from tripod.algorithms.multi_agent_spec import (
    is_multi_agent,
    normalize_policies,
    policies_ok,
    validate_multi_agent,
)
from tripod.algorithms.scale_out_config import ScaleOutSettings
from tripod.core.rl_module.multi_rl_module import MultiRLModuleSpec
from tripod.core.rl_module.rl_module import RLModuleSpec
from tripod.learner.schedules import schedule_value

__all__ = [
    "AlgorithmConfig",
    "ConfigError",
    "NotProvided",
    "UnknownSettingError",
    "schedule_value",  # now in tripod.learner.schedules; importable from here as before
]


LR = float | list  # a constant, or a schedule [[env_step, value], ...] interpolated linearly


def _normalize_policies(value: Any) -> Any:
    """A valid ``policies`` as ``{module_id: spec or None}``; anything else as it is (the check reports it)."""
    return normalize_policies(value) if value is not None and policies_ok(value) else value


#: The fluent methods that set fields, in the order they are listed in messages.
FLUENT_METHODS = (
    "environment", "env_runners", "learners", "training", "rl_module", "multi_agent", "callbacks",
    "evaluation", "reporting", "debugging", "resources",
)  # fmt: skip

_ENV_DOC = (
    "required: a gymnasium id, a `register_env` name, an env class or a creator "
    "`fn(env_config) -> gymnasium.Env` ([Environments](#environments))"
)
_RESTART_DOC = (
    "when a sub-env raises, recreate it and keep sampling (counted in `env_runners/num_env_restarts`) instead "
    'of stopping with an `EnvError`: only the failed sub-env with `vectorize_mode="sync"`, the whole vector '
    "env otherwise ([Environments](#environments)); NaN/inf observations always stop training"
)
_VECTORIZE_DOC = (
    '`"sync"`: sub-envs stepped one after another in this process; `"async"`: one subprocess per sub-env '
    '(for slow envs); `"vector"`: the env\'s own vectorised implementation if its gymnasium id has one '
    '(CartPole, Acrobot, Pendulum, ...), else `"sync"`; `"auto"`: `"vector"` from 8 sub-envs on, else '
    '`"sync"`'
)


@dataclasses.dataclass
class AlgorithmConfig(ScaleOutSettings, CallbackSettings, ConnectorSettings):
    """Settings shared by all algorithms; subclasses declare their own with ``setting(...)``.

    Each field's declaration (below) gives its default, its check, the fluent method
    that sets it and a one-line doc; ``docs/training.md`` lists them all. ``None`` for
    ``module_class`` in ``rl_module_spec`` means the algorithm's default module.
    """

    algo_class: ClassVar[type | None] = None
    #: Keywords of fluent methods that set several settings at once (not a setting of their own).
    compound_keywords: ClassVar[dict[str, str]] = {}

    # ------------------------------------------------------------ .environment()
    env: str | type | Callable | None = setting(
        None,
        check=Check(
            lambda v: v is None or isinstance(v, str) or callable(v),
            "a gymnasium id such as 'CartPole-v1', an env class or a creator function fn(env_config) -> env",
        ),
        doc=_ENV_DOC,
        method="environment",
    )
    env_config: dict = setting(
        {},
        check=Check(lambda v: isinstance(v, dict), "a dict"),
        doc="passed to the env: `gym.make(id, **env_config)` for ids, `cls(env_config)` or "
        "`cls(**env_config)` for classes, `fn(env_config)` for creators",
        method="environment",
    )
    # ------------------------------------------------------------ .env_runners()
    num_env_runners: int = setting(
        0,
        check=integer(0),
        doc="env runners sampling in parallel as Ray actors (`pip install 'tripod-rl[ray]'`); 0: sampling "
        "happens in the training process ([Scaling out](scaling.md))",
        method="env_runners",
    )
    num_envs_per_env_runner: int = setting(
        1,
        check=integer(1),
        doc="sub-environments stepped together; one forward call serves all of them",
        method="env_runners",
    )
    rollout_fragment_length: int | str = setting(
        "auto",
        check=Check(lambda v: v == "auto" or (is_int(v) and v >= 1), "'auto' or an int >= 1"),
        doc="PPO and PG: no effect (each iteration samples `train_batch_size_per_learner` env steps); DQN "
        'and SAC: vector steps sampled between updates (`"auto"`: 1)',
        method="env_runners",
    )
    vectorize_mode: str = setting(
        "auto", check=one_of("auto", "sync", "async", "vector"), doc=_VECTORIZE_DOC, method="env_runners"
    )
    restart_failed_sub_environments: bool = setting(False, check=BOOL, doc=_RESTART_DOC, method="env_runners")
    # ------------------------------------------------------------ .training()
    gamma: float = setting(0.99, check=number(0, 1), doc="discount factor", method="training")
    lr: LR = setting(
        3e-4,
        check=schedule(0.0),
        doc="Adam learning rate: a number, or a schedule `[[env_step, value], ...]` interpolated linearly "
        "in env steps sampled ([Learning-rate schedules](#learning-rate-schedules))",
        method="training",
    )
    grad_clip: float | None = setting(
        None,
        check=optional(number(0, low_open=True)),
        doc="clip gradients at this value; `None` turns clipping off",
        method="training",
    )
    grad_clip_by: str = setting(
        "global_norm",
        check=one_of("global_norm", "norm", "value"),
        doc='`"global_norm"` (all of a module\'s gradients together; the norm is reported as '
        '`gradients_global_norm`), `"norm"` (each tensor) or `"value"` (each element)',
        method="training",
    )
    train_batch_size_per_learner: int = setting(
        4000,
        check=integer(1),
        doc="PPO, PG: env steps sampled per iteration; DQN, SAC: transitions per gradient update",
        method="training",
    )
    minibatch_size: int | None = setting(
        128,
        check=optional(integer(1)),
        doc="rows per gradient step; `None` is the whole batch",
        method="training",
    )
    num_epochs: int = setting(1, check=integer(1), doc="passes over each sampled batch", method="training")
    # ------------------------------------------------------------ .rl_module()
    rl_module_spec: RLModuleSpec | MultiRLModuleSpec | None = setting(
        None,
        check=Check(
            lambda v: v is None or isinstance(v, RLModuleSpec | MultiRLModuleSpec),
            "an RLModuleSpec or MultiRLModuleSpec",
        ),
        doc="an `RLModuleSpec` for your own module; its spaces may be left `None` (taken from the env); "
        "`None` or a spec without `module_class` uses the algorithm's default module",
        method="rl_module",
    )
    model_config: dict = setting(
        {},
        check=Check(lambda v: isinstance(v, dict), "a dict or a DefaultModelConfig"),
        doc="the `model_config` of a module whose spec has none, in particular the default module "
        "([keys](#default-modules-and-model_config)); a dict or RLlib's `DefaultModelConfig`",
        method="rl_module",
        convert=plain_model_config,
    )
    # ------------------------------------------------------------ .multi_agent()
    policies: dict | None = setting(
        None,
        check=Check(
            policies_ok, "None, a set/list of module ids or a dict {module_id: RLModuleSpec or None}"
        ),
        doc="the module ids: a set/list, or `{module_id: RLModuleSpec or None}` "
        "([Multi-agent](multi-agent.md))",
        method="multi_agent",
        convert=_normalize_policies,
    )
    policy_mapping_fn: Callable | None = setting(
        None,
        check=Check(
            lambda v: v is None or callable(v),
            "None or a function (agent_id, episode, **kwargs) -> module_id",
        ),
        doc="`fn(agent_id, episode, **kwargs) -> module_id`, asked once per agent and episode",
        method="multi_agent",
    )
    policies_to_train: list | Callable | None = setting(
        None,
        check=Check(
            policies_to_train_ok, "None, a list of module ids or a function (module_id, batch=None) -> bool"
        ),
        doc="the modules to train (`None`: all), or `fn(module_id, batch=None) -> bool`, asked once per "
        "module when the algorithm is built (with `batch=None`)",
        method="multi_agent",
        convert=sorted_if_set,
    )
    # ------------------------------------------------------------ .evaluation()
    evaluation_interval: int | None = setting(
        None,
        check=optional(integer(1)),
        doc='run greedy evaluation every N iterations, in `result["evaluation"]`; `None`: only when you '
        "call `algo.evaluate()`",
        method="evaluation",
    )
    evaluation_duration: int = setting(
        10, check=integer(1, unit="episodes"), doc="episodes per evaluation", method="evaluation"
    )
    # ------------------------------------------------------------ .debugging(), .resources(), .reporting()
    seed: int | None = setting(
        None,
        check=Check(
            lambda v: v is None or (is_int(v) and 0 <= v <= SEED_MAX), "None or an int in [0, 2**63 - 1]"
        ),
        doc="seeds Python, NumPy, torch and the environments ([Determinism](#determinism))",
        method="debugging",
    )
    num_torch_threads: int | None = setting(
        1,
        check=optional(integer(1)),
        doc="`torch.set_num_threads` at build time (one thread is fastest for small networks); `None` "
        "leaves torch's default",
        method="resources",
    )
    device: str = setting(
        "cpu",
        check=Check(
            lambda v: check_device(v) is None,
            "'cpu', 'cuda', 'cuda:<index>' or 'mps'",
            explain=lambda name, v: check_device(v),
        ),
        doc='the learner\'s device (`"cpu"`, `"cuda"`, `"cuda:1"`, `"mps"`); env runners always run '
        "on the CPU",
        method="resources",
    )
    metrics_window: int = setting(
        100,
        check=integer(1),
        doc="how many recent episodes `env_runners/episode_return_mean` and friends average over",
        method="reporting",
        keyword="metrics_num_episodes_for_smoothing",
    )

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
        object.__setattr__(self, name, self._convert(name, value))

    def _convert(self, name: str, value: Any) -> Any:
        decl = settings_of(type(self)).get(name)
        return decl.convert(value) if decl is not None and decl.convert is not None else value

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
        if unknown:
            name = next(iter(unknown))
            others = {n: m for m in FLUENT_METHODS if m != method for n in self._fluent_params(m)}
            hint = keyword_hint(name, method, self._fluent_params(method), others, _field_names(type(self)))
            raise UnknownSettingError(f"{type(self).__name__}.{method}() has no setting '{name}'.{hint}")

    # ---------------------------------------------------------------- fluent API
    def _fluent(self, method: str, args: dict[str, Any]) -> AlgorithmConfig:
        """Apply a fluent call: ``args`` is the method's ``locals()``.

        Keywords the declarations map to a setting of ``method`` are checked and set (those
        left ``NotProvided`` are skipped); ``args["unknown"]`` (the ``**unknown`` catch-all)
        is rejected with a suggestion.
        """
        self._reject_unknown(method, args.get("unknown") or {})
        keywords = fluent_keywords(type(self), method)
        for keyword, value in args.items():
            if keyword in keywords and value is not NotProvided:
                self._assign(keywords[keyword], value)
        return self

    def _assign(self, name: str, value: Any) -> None:
        """Convert, check and set one setting (the config keeps its old value when the check fails)."""
        value = self._convert(name, value)
        self._check_value(name, value)
        object.__setattr__(self, name, value)

    def environment(
        self, env: Any = NotProvided, *, env_config: Any = NotProvided, normalize_actions: Any = NotProvided,
        clip_actions: Any = NotProvided, clip_rewards: Any = NotProvided, **unknown: Any,
    ) -> AlgorithmConfig:  # fmt: skip
        """Set the environment (a gymnasium id, an env class or a creator function) and action/reward handling."""
        return self._fluent("environment", locals())

    def env_runners(
        self,
        *,
        num_env_runners: Any = NotProvided,
        num_envs_per_env_runner: Any = NotProvided,
        rollout_fragment_length: Any = NotProvided,
        vectorize_mode: Any = NotProvided,
        restart_failed_sub_environments: Any = NotProvided,
        num_cpus_per_env_runner: Any = NotProvided,
        restart_failed_env_runners: Any = NotProvided,
        max_num_env_runner_restarts: Any = NotProvided,
        sample_timeout_s: Any = NotProvided,
        async_sampling: Any = NotProvided,
        env_to_module_connector: Any = NotProvided,
        module_to_env_connector: Any = NotProvided,
        **unknown: Any,
    ) -> AlgorithmConfig:
        """Set how environments are sampled."""
        return self._fluent("env_runners", locals())

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
        return self._fluent("training", locals())

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
                keep their weights (e.g. a fixed heuristic or a frozen opponent). Or, as in
                RLlib, ``fn(module_id, batch=None) -> bool``: tripod asks it once per module
                when the algorithm is built, with ``batch=None`` (see :meth:`modules_to_train`).
        """
        return self._fluent("multi_agent", locals())

    def modules_to_train(self, module_ids: Iterable[str]) -> list[str]:
        """The ids among ``module_ids`` the learner trains, from ``policies_to_train``.

        None: all of them; a list: that list (validated against the modules by
        :meth:`validate`); a function: the ids for which ``fn(module_id, None)`` is true.
        """
        chosen = self.policies_to_train
        if chosen is None:
            return list(module_ids)
        if callable(chosen):
            return [mid for mid in module_ids if chosen(mid, None)]
        return list(chosen)

    @property
    def is_multi_agent(self) -> bool:
        """Whether the algorithm runs multi-agent: ``.multi_agent()`` was called, the module spec
        is a MultiRLModuleSpec, or the env is a MultiAgentEnv class or ``"pettingzoo:..."``."""
        return is_multi_agent(self)

    def rl_module(
        self, *, rl_module_spec: Any = NotProvided, model_config: Any = NotProvided, **unknown: Any
    ) -> AlgorithmConfig:
        """Set the module spec (spaces may be omitted: they come from the env) and model_config
        (a dict or RLlib's ``DefaultModelConfig``, kept as the dict of the keys it sets)."""
        return self._fluent("rl_module", locals())

    def evaluation(
        self,
        *,
        evaluation_interval: Any = NotProvided,
        evaluation_duration: Any = NotProvided,
        evaluation_num_env_runners: Any = NotProvided,
        evaluation_parallel_to_training: Any = NotProvided,
        **unknown: Any,
    ) -> AlgorithmConfig:
        """Evaluate greedily every ``evaluation_interval`` iterations for ``evaluation_duration`` episodes."""
        return self._fluent("evaluation", locals())

    def debugging(self, *, seed: Any = NotProvided, **unknown: Any) -> AlgorithmConfig:
        """Set the random seed (runs with the same seed give the same results)."""
        return self._fluent("debugging", locals())

    def resources(
        self, *, num_torch_threads: Any = NotProvided, device: Any = NotProvided, **unknown: Any
    ) -> AlgorithmConfig:
        """Set torch threads (None: torch's default) and the learner device ("cpu", "cuda", "cuda:1")."""
        return self._fluent("resources", locals())

    def reporting(
        self, *, metrics_num_episodes_for_smoothing: Any = NotProvided, **unknown: Any
    ) -> AlgorithmConfig:
        """Set how many recent episodes the return and length means average over."""
        return self._fluent("reporting", locals())

    def framework(self, framework: str = "torch", **_: Any) -> AlgorithmConfig:
        """Accepted for RLlib compatibility; tripod runs on torch only."""
        if framework != "torch":
            raise ConfigError(f"framework must be 'torch' (tripod runs on PyTorch), got {framework!r}.")
        return self

    def api_stack(self, **_: Any) -> AlgorithmConfig:
        """Accepted for RLlib compatibility; tripod has one (the new) API stack."""
        return self

    # ------------------------------------------------------------------ checks
    def _check_value(self, name: str, value: Any) -> None:
        """Raise ConfigError when ``value`` breaks setting ``name``'s declared check (or is NaN/inf)."""
        owner = type(self).__name__
        if non_finite(value):
            raise ConfigError(f"{owner}: {name} must be a finite number, got {value!r}.")
        decl = settings_of(type(self)).get(name)
        problem = None if decl is None or decl.check is None else decl.check.problem(name, value)
        if problem is not None:
            raise ConfigError(f"{owner}: {problem}")

    def _check_field(self, name: str) -> None:
        self._check_value(name, getattr(self, name))

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
            validate_multi_agent(self, ConfigError)
        self._validate_scale_out()
        problem = check_device_available(self.device)
        if problem is not None:
            raise ConfigError(f"{type(self).__name__}: {problem}")
        self._validate_model_config()
        if self.minibatch_size is not None and self.minibatch_size > self.train_batch_size_per_learner:
            raise ConfigError(
                f"{type(self).__name__}: minibatch_size ({self.minibatch_size}) is larger than "
                f"train_batch_size_per_learner ({self.train_batch_size_per_learner}). Lower minibatch_size "
                "or raise train_batch_size_per_learner."
            )

    def _validate_model_config(self) -> None:
        """The default module's model_config keys: typos fail here, not minutes into training."""
        spec = self.rl_module_spec
        if spec is None or (isinstance(spec, RLModuleSpec) and spec.module_class is None):
            from tripod.core.networks import resolve_model_config

            model_config = (
                spec.model_config if spec is not None and spec.model_config is not None else self.model_config
            )
            try:
                resolve_model_config(model_config)
            except ValueError as exc:
                raise ConfigError(f"{type(self).__name__}: {exc}") from None

    def update_from_dict(self, values: dict[str, Any]) -> AlgorithmConfig:
        """Set fields by name (used by the CLI's ``--set key=value``); unknown names are errors."""
        names = _field_names(type(self))
        for name, value in values.items():
            if name not in names:
                raise UnknownSettingError(f"{type(self).__name__} has no setting '{name}'.{self._hint(name)}")
            self._assign(name, value)
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


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    """The dataclass fields of ``cls`` (not its ClassVars)."""
    return frozenset(f.name for f in dataclasses.fields(cls))
