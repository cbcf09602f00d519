"""docs/cli.md against the code: every command and flag, the presets, default stops and exit codes."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from tripod.algorithms.presets import default_stop, list_presets
from tripod.cli import EXIT_INTERRUPT, EXIT_USAGE, build_parser

CLI_MD = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _section(command: str) -> str:
    """The text of the ``## `tripod COMMAND` `` section."""
    start = CLI_MD.index(f"## `tripod {command}`")
    end = CLI_MD.find("\n## ", start + 1)
    return CLI_MD[start : end if end != -1 else None]


def test_every_command_has_a_section_that_names_each_of_its_flags():
    missing = []
    for command, sub in _subparsers().items():
        section = _section(command)
        for action in sub._actions:
            names = [o for o in action.option_strings if o.startswith("--") and o != "--help"]
            names += [] if action.option_strings else [action.metavar]
            missing += [f"tripod {command}: {n}" for n in names if f"`{n}" not in section]
    assert missing == []


def test_the_presets_table_lists_every_preset():
    table = CLI_MD[CLI_MD.index("| `ALGO` | `ENV` |") :].split("\n\n")[0]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([a-z]+)` \| (`.*`) \|$", table, re.M)}
    documented = {(algo, env) for algo, envs in rows.items() for env in re.findall(r"`([^`]+)`", envs)}
    assert documented == set(list_presets())


def test_the_default_stop_table_matches_the_code():
    rows = re.findall(r"^\| `([^`]+)` \| (?:return (-?\d+) or )?([\d,]+) steps \|$", CLI_MD, re.M)
    assert len(rows) >= 5
    for env, ret, steps in rows:
        expected = default_stop(env)
        assert expected.get("stop_return") == (float(ret) if ret else None), env
        assert expected["stop_steps"] == int(steps.replace(",", "")), env


def test_the_exit_codes_table_names_the_codes_main_returns():
    table = CLI_MD[CLI_MD.index("**Exit codes**") : CLI_MD.index("## `tripod train`")]
    codes = set(re.findall(r"^\| `(\d+)` \|", table, re.M))
    assert codes == {"0", "1", str(EXIT_USAGE), str(EXIT_INTERRUPT)}
