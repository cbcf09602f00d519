"""The settings, presets and ``model_config`` tables of ``docs/training.md``, generated from the code.

Each table in the page sits between ``<!-- table: NAME -->`` and ``<!-- /table -->``;
:func:`render_tables` fills them in from the setting declarations
(:func:`~tripod.algorithms.config_checks.setting`), :mod:`tripod.algorithms.presets` and
:class:`~tripod.core.rl_module.default_model_config.DefaultModelConfig`. The test suite
checks that the page equals its rendering, so the docs cannot drift from the code.
Regenerate with::

    python -m tripod.algorithms.config_docs docs/training.md
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

from tripod.algorithms.algorithm_config import FLUENT_METHODS, AlgorithmConfig
from tripod.algorithms.config_checks import declared_in, settings_of
from tripod.algorithms.dqn.dqn import DQNConfig
from tripod.algorithms.off_policy_config import OffPolicyConfig
from tripod.algorithms.pg.pg import PGConfig
from tripod.algorithms.ppo.ppo import PPOConfig
from tripod.algorithms.presets import get_preset, list_presets
from tripod.algorithms.sac.sac import SACConfig
from tripod.core.rl_module.default_model_config import DefaultModelConfig

__all__ = ["TABLES", "format_value", "model_config_table", "presets_table", "render_tables", "settings_table"]

#: The algorithms whose changed defaults the common tables show, by label.
ALGORITHM_CONFIGS: dict[str, type] = {"PPO": PPOConfig, "PG": PGConfig, "DQN": DQNConfig, "SAC": SACConfig}


def _float(x: float) -> str:
    if x != 0 and (abs(x) < 0.01 or abs(x) >= 1e6):
        mantissa, exponent = f"{x:e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return repr(x)


def format_value(value: Any) -> str:
    """A default as Python source, compactly: ``3e-4``, ``100_000``, ``"auto"``, ``[[0, 1.0]]``."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, int):
        return f"{value:_}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{format_value(k)}: {format_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _default(cls: type, name: str) -> Any:
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _default_cell(cls: type, name: str, variants: Mapping[str, type]) -> str:
    default = _default(cls, name)
    changed = [
        f"{label}: `{format_value(_default(other, name))}`"
        for label, other in variants.items()
        if issubclass(other, cls) and _default(other, name) != default
    ]
    return f"`{format_value(default)}`" + (f" ({', '.join(changed)})" if changed else "")


def _documented_in(config_cls: type, name: str) -> bool:
    """Whether ``config_cls``'s table lists setting ``name``: it declares it, or it is AlgorithmConfig
    and a settings mixin it inherits (``ScaleOutSettings``) declares it."""
    owner = declared_in(config_cls, name)
    return owner is config_cls or (config_cls is AlgorithmConfig and not issubclass(owner, AlgorithmConfig))


def settings_table(config_cls: type, variants: Mapping[str, type] | None = None) -> str:
    """The Markdown table of the settings ``config_cls`` declares itself (not those it inherits).

    Columns: the fluent method that sets it, the keyword, the default (with the algorithms
    in ``variants``, ``{label: config class}``, that change it) and the declaration's doc.
    """
    variants = variants or {}
    order = {name: i for i, name in enumerate(f.name for f in dataclasses.fields(config_cls))}
    methods = {m: i for i, m in enumerate(FLUENT_METHODS)}
    own = [(name, decl) for name, decl in settings_of(config_cls).items() if _documented_in(config_cls, name)]
    own.sort(  # within a method: the class's own settings, then a mixin's (ScaleOutSettings come last)
        key=lambda item: (
            methods.get(item[1].method or "", len(methods)),
            declared_in(config_cls, item[0]) is not config_cls,
            order[item[0]],
        )
    )
    rows = ["| Method | Setting | Default | Meaning |", "|---|---|---|---|"]
    previous = None
    for name, decl in own:
        method = f"`.{decl.method}()`" if decl.method and decl.method != previous else ""
        previous = decl.method
        keyword = decl.keyword_for(name)
        setting = f"`{keyword}`" if keyword == name else f"`{keyword}` (field `{name}`)"
        rows.append(
            f"| {method} | {setting} | {_cell(_default_cell(config_cls, name, variants))} | {_cell(decl.doc)} |"
        )
    return "\n".join(rows)


def presets_table() -> str:
    """The Markdown table of every preset in :mod:`tripod.algorithms.presets`."""
    rows = ["| Algorithm, env | Settings |", "|---|---|"]
    for algo, env in list_presets():
        values = get_preset(algo, env) or {}
        settings = ", ".join(f"{k}={format_value(v)}" for k, v in values.items())
        rows.append(f"| `{algo}`, `{env}` | `{_cell(settings)}` |")
    return "\n".join(rows)


def model_config_table() -> str:
    """The Markdown table of the ``model_config`` keys tripod's default modules implement,
    then the line naming the RLlib keys they do not (which must keep their defaults)."""
    rows = ["| Key | Default | Meaning |", "|---|---|---|"]
    skipped = []
    for field in dataclasses.fields(DefaultModelConfig):
        if not field.metadata["tripod"]:
            skipped.append(f"`{field.name}`")
            continue
        rows.append(
            f"| `{field.name}` | `{format_value(_default(DefaultModelConfig, field.name))}` | "
            f"{_cell(field.metadata['doc'])} |"
        )
    return "\n".join(rows) + (
        "\n\nRLlib's other `DefaultModelConfig` fields are accepted at their defaults only (another value is "
        f"an error when the module is built): {', '.join(skipped)}."
    )


#: ``<!-- table: NAME -->`` -> the function that renders it.
TABLES: dict[str, Callable[[], str]] = {
    "settings AlgorithmConfig": lambda: settings_table(AlgorithmConfig, ALGORITHM_CONFIGS),
    "settings PPOConfig": lambda: settings_table(PPOConfig),
    "settings PGConfig": lambda: settings_table(PGConfig),
    "settings OffPolicyConfig": lambda: settings_table(OffPolicyConfig, {"DQN": DQNConfig, "SAC": SACConfig}),
    "settings DQNConfig": lambda: settings_table(DQNConfig),
    "settings SACConfig": lambda: settings_table(SACConfig),
    "presets": presets_table,
    "model_config": model_config_table,
}

_BLOCK = re.compile(r"(<!-- table: (?P<name>[^>\n]+?) -->\n)(?:(?!<!--).*\n)*(<!-- /table -->)")


def render_tables(text: str) -> str:
    """``text`` with every ``<!-- table: NAME -->`` block filled in from :data:`TABLES`.

    Raises:
        KeyError: For a block whose name is not in :data:`TABLES`.
    """
    return _BLOCK.sub(lambda m: m.group(1) + TABLES[m.group("name")]() + "\n" + m.group(3), text)


def main(argv: list[str]) -> int:
    """``python -m tripod.algorithms.config_docs PAGE.md [--check]``: rewrite (or check) the tables."""
    if not argv:
        print(__doc__)
        return 2
    path, check = argv[0], "--check" in argv[1:]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    rendered = render_tables(text)
    if check:
        return 0 if rendered == text else 1
    with open(path, "w", encoding="utf-8") as f:
        f.write(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
