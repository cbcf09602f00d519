"""The pieces settings are declared with, and the helpers of their checks.

Each config setting is declared once, as a dataclass field made by :func:`setting`:
its default, its :class:`Check` (the rule and the words for it in messages), a
one-line doc, and the fluent method (and keyword) that sets it. Validation, the
fluent methods' keyword handling, "did you mean" suggestions and the settings tables
in ``docs/`` are derived from these declarations (:func:`settings_of`).

Also here: "did you mean" suggestions, finite numbers and device strings.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import math
import numbers
import re
from collections.abc import Callable, Iterable
from typing import Any

from tripod.core.rl_module.default_model_config import DefaultModelConfig, model_config_dict
from tripod.learner.schedules import is_finite_number, schedule_problem

__all__ = [
    "BOOL",
    "SEED_MAX",
    "Check",
    "NotProvided",
    "ConfigError",
    "Setting",
    "UnknownSettingError",
    "check_device",
    "check_device_available",
    "declared_in",
    "fluent_keywords",
    "integer",
    "is_int",
    "is_number",
    "keyword_hint",
    "non_finite",
    "number",
    "one_of",
    "optional",
    "plain_model_config",
    "policies_to_train_ok",
    "schedule",
    "setting",
    "settings_of",
    "sorted_if_set",
    "suggest",
]


class ConfigError(ValueError):
    """A config value is invalid; the message names the field and the fix."""


class UnknownSettingError(ConfigError, AttributeError, TypeError):
    """A config name that does not exist (a typo): raised by assignment and fluent methods.

    It is also an ``AttributeError`` (what assigning a missing attribute raises) and a
    ``TypeError`` (what an unexpected keyword argument raises).
    """


#: The largest seed: numpy, torch (``manual_seed`` takes up to 2**64 - 1) and gymnasium accept it,
#: with room for the per-runner offsets tripod adds.
SEED_MAX = 2**63 - 1

#: Names from RLlib, Stable-Baselines3 and plain English -> tripod's setting.
ALIASES = {
    "learning_rate": "lr",
    "lr_rate": "lr",
    "batch_size": "train_batch_size_per_learner",
    "train_batch_size": "train_batch_size_per_learner",
    "sgd_minibatch_size": "minibatch_size",
    "mini_batch_size": "minibatch_size",
    "num_sgd_iter": "num_epochs",
    "n_epochs": "num_epochs",
    "epochs": "num_epochs",
    "num_envs": "num_envs_per_env_runner",
    "num_envs_per_worker": "num_envs_per_env_runner",
    "n_envs": "num_envs_per_env_runner",
    "num_workers": "num_env_runners",
    "num_rollout_workers": "num_env_runners",
    "n_steps": "rollout_fragment_length",
    "lambda": "lambda_",
    "gae_lambda": "lambda_",
    "ent_coef": "entropy_coeff",
    "vf_coef": "vf_loss_coeff",
    "clip_range": "clip_param",
    "max_grad_norm": "grad_clip",
    "buffer_size": "replay_buffer_capacity",
    "learning_starts": "num_steps_sampled_before_learning_starts",
    "target_update_interval": "target_network_update_freq",
    "num_gpus": "device",
    "num_cpus_per_worker": "num_cpus_per_env_runner",
    "num_learner_workers": "num_learners",
    "num_cpus_per_learner_worker": "num_cpus_per_learner",
    "num_gpus_per_learner_worker": "num_gpus_per_learner",
    "evaluation_num_workers": "evaluation_num_env_runners",
    "recreate_failed_workers": "restart_failed_env_runners",
    "recreate_failed_env_runners": "restart_failed_env_runners",
    "ignore_env_runner_failures": "restart_failed_env_runners",
    "ignore_worker_failures": "restart_failed_env_runners",
    "max_num_worker_restarts": "max_num_env_runner_restarts",
    "sample_async": "async_sampling",
    "evaluation_num_episodes": "evaluation_duration",
    "metrics_window": "metrics_num_episodes_for_smoothing",
    "model": "model_config",
}


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``name`` was most likely meant to be, or None.

    Tries, in order: a known alias (``learning_rate`` -> ``lr``), ``learning_rate``
    written as ``lr`` inside a longer name (``actor_learning_rate`` -> ``actor_lr``), a
    close spelling (difflib), then a candidate equal to one ``_``-separated part of the
    name (``lr_rate`` -> ``lr``).
    """
    names = sorted(set(candidates))
    alias = ALIASES.get(name)
    if alias in names:
        return alias
    shortened = name.replace("learning_rate", "lr")
    if shortened in names:
        return shortened
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        return close[0]
    parts = name.split("_")
    for candidate in names:
        if candidate in parts:
            return candidate
    return None


def non_finite(value: Any) -> bool:
    """Whether ``value`` is NaN/inf, or a list/tuple (e.g. a schedule) holding one."""
    if isinstance(value, list | tuple):
        return any(non_finite(v) for v in value)
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isfinite(value)


_DEVICE = re.compile(r"^(cpu|cuda|mps)(:(\d+))?$")


def check_device(value: Any) -> str | None:
    """The error text for a malformed device string, or None when it is well-formed."""
    if isinstance(value, str) and _DEVICE.match(value):
        return None
    guess = None
    if isinstance(value, str):
        lowered = value.lower().strip()
        guess = (
            "cuda"
            if lowered.startswith(("gpu", "nvidia"))
            else suggest(lowered.split(":")[0], ["cpu", "cuda"])
        )
    hint = f" Did you mean '{guess}'?" if guess else ""
    return (
        f"device {value!r} is not a torch device: expected 'cpu', 'cuda' or 'cuda:<index>' (e.g. 'cuda:0'), "
        f"or 'mps'.{hint}"
    )


def check_device_available(device: str) -> str | None:
    """The error text when the well-formed ``device`` does not exist on this machine, else None."""
    import torch

    kind, _, index = device.partition(":")
    if kind == "cuda":
        if not torch.cuda.is_available():
            return (
                f"device={device!r} but this torch ({torch.__version__}) has no CUDA device to use "
                "(a CPU-only build, or no GPU visible: check CUDA_VISIBLE_DEVICES and nvidia-smi). "
                "Use device='cpu', or install a CUDA build of torch on a machine with a GPU."
            )
        count = torch.cuda.device_count()
        if index and int(index) >= count:
            return (
                f"device={device!r} but this machine has {count} CUDA device{'s' if count > 1 else ''} "
                + (f"(cuda:0 ... cuda:{count - 1})" if count > 1 else "(cuda:0)")
                + ". Use device='cuda' or "
                + (f"'cuda:0' ... 'cuda:{count - 1}'." if count > 1 else "'cuda:0'.")
            )
    if kind == "mps" and not torch.backends.mps.is_available():
        return f"device={device!r} but Apple's MPS backend is not available here. Use device='cpu'."
    return None


# ------------------------------------------------------------------------------ checks
is_number = is_finite_number


def is_int(x: Any) -> bool:
    """An integer (not a bool)."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


@dataclasses.dataclass(frozen=True)
class Check:
    """A rule for one setting's values, and the words for it (``"an int >= 1"``).

    Attributes:
        ok: ``ok(value) -> bool``.
        text: What a valid value is; messages say "<name> must be <text>, got <value>."
        explain: Optional ``explain(name, value) -> str | None``, a message of its own
            (None when the value is valid), used instead of the generic one.
    """

    ok: Callable[[Any], bool]
    text: str
    explain: Callable[[str, Any], str | None] | None = None

    def problem(self, name: str, value: Any) -> str | None:
        """The message for an invalid ``value`` of setting ``name``, or None when it is valid."""
        if self.explain is not None:
            return self.explain(name, value)
        return None if self.ok(value) else f"{name} must be {self.text}, got {value!r}."


def _bound(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _unit(text: str, unit: str) -> str:
    return f"{text} ({unit})" if unit else text


class _NotProvided:
    """Marks a fluent-method argument the caller did not pass."""

    def __repr__(self) -> str:
        return "NotProvided"


NotProvided: Any = _NotProvided()


def integer(low: int | None = None, *, unit: str = "") -> Check:
    """An int (not a bool) ``>= low``."""
    if low is None:
        return Check(is_int, _unit("an int", unit))
    return Check(lambda v: is_int(v) and v >= low, _unit(f"an int >= {low}", unit))


def number(
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    unit: str = "",
) -> Check:
    """A finite real number (not a bool) within the bounds (``low_open``: ``> low``, else ``>= low``)."""

    def ok(v: Any) -> bool:
        if not is_number(v):
            return False
        if low is not None and (v <= low if low_open else v < low):
            return False
        return high is None or (v < high if high_open else v <= high)

    if low is not None and high is not None:
        text = (
            f"a number in {'(' if low_open else '['}{_bound(low)}, {_bound(high)}{')' if high_open else ']'}"
        )
    elif low is not None:
        text = f"a number {'>' if low_open else '>='} {_bound(low)}"
    elif high is not None:
        text = f"a number {'<' if high_open else '<='} {_bound(high)}"
    else:
        text = "a number"
    return Check(ok, _unit(text, unit))


#: True or False (not 0/1).
BOOL = Check(lambda v: isinstance(v, bool), "True or False")


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def one_of(*choices: Any) -> Check:
    """One of ``choices`` (``"'a', 'b' or 'c'"``)."""
    return Check(
        lambda v: any(isinstance(v, type(c)) and v == c for c in choices), _join([repr(c) for c in choices])
    )


def optional(check: Check) -> Check:
    """None, or a value ``check`` accepts."""
    text = "None, True or False" if check is BOOL else f"None or {check.text}"
    return Check(lambda v: v is None or check.ok(v), text)


def schedule(minimum: float = 0.0, *, text: str | None = None, maximum: float | None = None) -> Check:
    """A number or a ``[[env_step, value], ...]`` schedule with values in ``[minimum, maximum]``.

    With ``text`` None, messages explain the schedule's problem in full (what ``lr`` gets).
    """

    def ok(v: Any) -> bool:
        if schedule_problem("value", v, minimum=minimum) is not None:
            return False
        values = [p[1] for p in v] if isinstance(v, list | tuple) else [v]
        return maximum is None or all(x <= maximum for x in values)

    if text is not None:
        return Check(ok, text)
    return Check(
        ok,
        f"a number >= {_bound(minimum)} or a schedule [[env_step, value], ...]",
        explain=lambda name, v: schedule_problem(name, v, minimum=minimum),
    )


# ------------------------------------------------------------------------------ settings
_SETTING = "tripod_setting"


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting's declaration (the metadata of its dataclass field; see :func:`setting`)."""

    check: Check | None
    doc: str
    method: str | None
    keyword: str | None
    convert: Callable[[Any], Any] | None = None

    def keyword_for(self, name: str) -> str:
        """The fluent keyword that sets field ``name`` (its own name unless declared otherwise)."""
        return self.keyword or name


def setting(
    default: Any = dataclasses.MISSING,
    *,
    check: Check | None,
    doc: str,
    method: str | None,
    keyword: str | None = None,
    convert: Callable[[Any], Any] | None = None,
) -> Any:
    """Declare a config setting: a dataclass field carrying its check, doc and fluent keyword.

    Args:
        default: The default value (a list or dict default is copied for each config).
        check: The rule values must follow (None: anything).
        doc: One line for the settings tables in the docs (Markdown).
        method: The fluent method that sets it (``"training"``), None for none.
        keyword: The keyword in that method when it differs from the field name (RLlib's
            ``metrics_num_episodes_for_smoothing`` sets ``metrics_window``).
        convert: Applied to every value assigned (e.g. normalising a set into a sorted list).

    Example::

        gamma: float = setting(0.99, check=number(0, 1), doc="discount factor", method="training")
    """
    meta = {_SETTING: Setting(check=check, doc=doc, method=method, keyword=keyword, convert=convert)}
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=functools.partial(copy.deepcopy, default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _own_fields(klass: type) -> dict[str, dataclasses.Field]:
    return klass.__dict__.get("__dataclass_fields__", {})


@functools.cache
def settings_of(cls: type) -> dict[str, Setting]:
    """``{field name: Setting}`` for every declared field of the config class ``cls``.

    A subclass may change a default with a plain annotation (``lr: LR = 1e-3``); the
    declaration then comes from the nearest base class that has one.
    """
    out: dict[str, Setting] = {}
    for field in dataclasses.fields(cls):
        for klass in cls.__mro__:
            f = _own_fields(klass).get(field.name)
            if f is not None and _SETTING in f.metadata:
                out[field.name] = f.metadata[_SETTING]
                break
    return out


def declared_in(cls: type, name: str) -> type:
    """The class of ``cls``'s hierarchy whose declaration of setting ``name`` ``cls`` uses."""
    decl = settings_of(cls)[name]
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass) and settings_of(klass).get(name) is decl:
            return klass
    return cls


@functools.cache
def fluent_keywords(cls: type, method: str) -> dict[str, str]:
    """``{keyword: field name}`` of the settings the fluent ``method`` of ``cls`` sets."""
    return {s.keyword_for(name): name for name, s in settings_of(cls).items() if s.method == method}


def keyword_hint(
    name: str, method: str, own: list[str], others: dict[str, str], fields: Iterable[str]
) -> str:
    """The hint after "<Config>.<method>() has no setting '<name>'.".

    Args:
        name: The unknown keyword.
        method: The fluent method it was given to.
        own: The keywords ``method`` takes.
        others: ``{keyword: method}`` of the other fluent methods.
        fields: The config's field names.
    """
    if name in others:
        return f" '{name}' is set with .{others[name]}({name}=...), not .{method}()."
    if name in set(fields):  # a field set under another keyword (RLlib's names)
        close = suggest(name, own)
        takes = f"Did you mean '{close}'?" if close else f".{method}() takes: {', '.join(own)}."
        return (
            f" {takes} ('{name}' itself is a setting without a keyword of its own: assign it with "
            f"config.{name} = ... or use update_from_dict().)"
        )
    if (close := suggest(name, own)) is not None:
        return f" Did you mean '{close}'?"
    if (close := suggest(name, others)) is not None:
        return f" Did you mean .{others[close]}({close}=...)?"
    return f" .{method}() takes: {', '.join(own)}."


# ------------------------------------------------------------------------------ conversions
def sorted_if_set(value: Any) -> Any:
    """A set, frozenset or tuple as a sorted list (``policies_to_train``); anything else as it is."""
    return sorted(value) if isinstance(value, set | frozenset | tuple) else value


def plain_model_config(value: Any) -> Any:
    """RLlib's :class:`DefaultModelConfig` as the plain dict of the keys it sets; anything else as it is."""
    return model_config_dict(value) if isinstance(value, DefaultModelConfig) else value


def policies_to_train_ok(value: Any) -> bool:
    """None, a list/tuple of module ids, or a function ``(module_id, batch=None) -> bool``."""
    if value is None or callable(value):
        return True
    return isinstance(value, list | tuple) and all(isinstance(m, str) for m in value)
