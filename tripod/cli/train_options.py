"""``tripod train`` options for real projects: ``--config FILE``, ``--module``/``--model-config``,
``--policies shared|per-agent`` and ``--logger wandb,mlflow``.

The functions here turn those flags into plain config values (or logger names); the
command (:mod:`tripod.cli.commands`) applies them with the same validation as ``--set``.
Precedence, lowest first: the tuned preset, ``--config FILE``, then the flags and ``--set``.
Bad input raises :class:`OptionError`, which the command prints as one line.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

__all__ = [
    "OptionError",
    "add_train_option_flags",
    "config_file_items",
    "expand_schedules",
    "logger_names",
    "policies_values",
        "read_config_file",
]

CONFIG_SUFFIXES = (".yaml", ".yml", ".toml", ".json")


class OptionError(Exception):
    """Bad input to one of these flags (printed as one line by the command)."""


def add_train_option_flags(train: argparse.ArgumentParser) -> None:
    """``--config``, ``--module``, ``--model-config``, ``--policies`` and ``--logger`` for ``tripod train``."""
    train.add_argument(
        "--config",
        metavar="FILE",
        help="settings from a YAML, TOML or JSON file (values only); flags and --set override it",
    )
    train.add_argument(
        "--module",
        metavar="PKG.MOD:CLASS",
        help="train this RLModule class (importable, e.g. from the current directory) instead of the default",
    )
    train.add_argument(
        "--model-config",
        metavar="JSON",
        help='the model_config dict the module gets, e.g. \'{"hidden_dim": 64}\' (same as --set model_config=...)',
    )
    train.add_argument(
        "--policies",
        choices=["shared", "per-agent"],
        help="multi-agent envs: one module for every agent (shared) or one module per agent id (per-agent)",
    )
    train.add_argument(
        "--logger",
        action="append",
        metavar="NAMES",
        help="also log to these, comma-separated: wandb, mlflow (needs tripod-rl[wandb] / tripod-rl[mlflow])",
    )


# ------------------------------------------------------------------ --logger
def logger_names(values: list[str] | None) -> list[str]:
    """The ``--logger`` names (comma lists, repeatable), checked: known and installed."""
    from tripod.run.external_loggers import LoggerSetupError, check_logger_names

    names = [name for value in values or [] for name in value.split(",")]
    try:
        return check_logger_names(names)
    except LoggerSetupError as err:
        raise OptionError(f"--logger: {err}") from err


# ------------------------------------------------------------------ --config FILE
def read_config_file(path: str) -> dict[str, Any]:
    """The settings in a YAML (``.yaml``/``.yml``), TOML or JSON file: one mapping of values.

    Values are data only: nothing is evaluated (a string such as ``"lambda x: x"`` stays a
    string and fails the setting's validation).

    Raises:
        OptionError: If the file is missing, unreadable, not one mapping, or YAML without PyYAML.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in CONFIG_SUFFIXES:
        raise OptionError(f"--config {path}: expected a .yaml, .yml, .toml or .json file.")
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as err:
        raise OptionError(f"--config {path}: cannot read it: {err.strerror or err}.") from err
    try:
        data = _parse(text, suffix)
    except OptionError:
        raise
    except Exception as err:  # each parser has its own error type; all mean "not valid syntax"
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise OptionError(f"--config {path}: not valid {suffix[1:].upper()}: {detail}") from err
    if not isinstance(data, dict):
        raise OptionError(f"--config {path}: expected a mapping of settings at the top, got {type(data).__name__}.")
    return data


def _parse(text: str, suffix: str) -> Any:
    if suffix == ".json":
        return json.loads(text)
    if suffix == ".toml":
        import tomllib

        return tomllib.loads(text)
    try:
        import yaml
    except ImportError as err:
        raise OptionError(
            "--config: YAML files need PyYAML: pip install 'tripod-rl[yaml]' (or write TOML or JSON)."
        ) from err
    return yaml.safe_load(text)  # safe_load: plain data only, never Python objects


def config_file_items(values: dict[str, Any], base: dict[str, Any], path: str) -> list[str]:
    """The file's settings as ``--set``-style ``KEY=JSON`` items (so they get ``--set``'s checks).

    A mapping given for a setting whose current value is a dict (``model_config``,
    ``env_config``) changes only the keys it names, like ``--set model_config.KEY=...``;
    any other value replaces the setting.

    Raises:
        OptionError: For a value that is not plain data (e.g. a TOML or YAML date).
    """
    items: list[str] = []

    def visit(key: str, value: Any, current: Any) -> None:
        if isinstance(value, dict) and value and isinstance(current, dict):
            for sub, item in value.items():
                visit(f"{key}.{sub}", item, current.get(sub))
            return
        try:
            text = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise OptionError(
                f"--config {path}: {key} = {value!r} is not a plain value (numbers, strings, booleans, "
                "null, lists and mappings only)."
            ) from err
        items.append(f"{key}={text}")

    for key, value in values.items():
        visit(str(key), value, base.get(str(key)))
    return items


def expand_schedules(values: dict[str, Any], base: dict[str, Any], step_budget: int | None) -> dict[str, Any]:
    """``{"linear": [start, end]}`` for a non-dict setting -> ``[[0, start], [step_budget, end]]``.

    A schedule in tripod is a list of ``[env_step, value]`` points; the ``linear`` form is
    a shorthand for one line over the run's step budget (``--stop-steps``).

    Raises:
        OptionError: For ``linear`` without a step budget, or a malformed ``linear``.
    """
    out = dict(values)
    for key, value in values.items():
        if not (isinstance(value, dict) and set(value) == {"linear"}) or isinstance(base.get(key), dict):
            continue
        ends = value["linear"]
        if not (
            isinstance(ends, list)
            and len(ends) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in ends)
        ):
            raise OptionError(f'{key}: {{"linear": [start, end]}} needs two numbers, got {ends!r}.')
        if step_budget is None:
            raise OptionError(
                f'{key}: {{"linear": [start, end]}} runs over the step budget, so it needs --stop-steps N; '
                f"or write the schedule as [[0, {ends[0]}], [N, {ends[1]}]] (env step, value)."
            )
        out[key] = [[0, ends[0]], [step_budget, ends[1]]]
    return out


# ------------------------------------------------------------------ --policies
def policies_values(mode: str, config: Any, env_label: str) -> dict[str, Any]:
    """Settings for ``--policies``: ``shared`` (one module, ``default_policy``, for every agent) or
    ``per-agent`` (``policies`` = the env's agent ids as strings).

    No ``policy_mapping_fn`` is stored: without one, tripod maps every agent to the only
    module, or with several modules agent ``x`` to the module named ``str(x)`` (see
    ``AlgorithmConfig.multi_agent``), so a checkpoint of the run loads without naming a function.

    Raises:
        OptionError: If the env is not a multi-agent env.
    """
    if not config.is_multi_agent:
        raise OptionError(f"--policies: {env_label} is a single-agent env; --policies is for multi-agent envs.")
    if mode == "shared":
        return {"policies": ["default_policy"], "policy_mapping_fn": None}
    from tripod.env.env_creation import make_env_creator

    env = make_env_creator(config.env, env_config=config.env_config)()
    try:
        get_ids = getattr(env, "get_agent_ids", None)
        agents = list(get_ids() if get_ids else getattr(env, "possible_agents", []))
    finally:
        env.close()
    if not agents:
        raise OptionError(f"--policies per-agent: {env_label} names no agents (possible_agents is empty).")
    return {"policies": [str(agent) for agent in agents], "policy_mapping_fn": None}
