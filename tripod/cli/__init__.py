"""The ``tripod`` command line: ``train``, ``evaluate`` and ``export``.

    tripod train ppo CartPole-v1 --stop-return 475
    tripod train ppo CartPole-v1 --stop-steps 100000 --set lr=0.001 --set model_config='{"fcnet_hiddens":[64,64]}'
    tripod train --resume runs/ppo-CartPole-v1-20250101-120000 --stop-steps 200000
    tripod evaluate runs/ppo-CartPole-v1-20250101-120000 --episodes 20
    tripod export runs/ppo-CartPole-v1-20250101-120000/checkpoints/iter_000040 --out exported/

User errors (unknown algorithm, environment or setting, missing checkpoint) print
one line to stderr and exit with code 2; Ctrl-C stops training after the current
iteration, saves a checkpoint and ``result.json``, and exits with code 130.
"""

from __future__ import annotations

import sys

from tripod.algorithms.registry import UnknownAlgorithmError
from tripod.cli.commands import (
    EXIT_INTERRUPT,
    EXIT_USAGE,
    CliError,
    cmd_evaluate,
    cmd_export,
    cmd_train,
    parse_overrides,
    parse_value,
)
from tripod.cli.parser import build_parser

__all__ = [
    "EXIT_INTERRUPT",
    "EXIT_USAGE",
    "CliError",
    "build_parser",
    "cmd_evaluate",
    "cmd_export",
    "cmd_train",
    "main",
    "parse_overrides",
    "parse_value",
]


def _cli_hint(err: BaseException) -> str:
    """For a refused checkpoint reference: the command-line ways to name the object yourself."""
    cause = err.__cause__
    if type(cause).__name__ != "UntrustedCheckpointError":
        return ""
    return (
        " On the command line, name it yourself: --env ENV for an env, --module PKG.MOD:CLASS for a "
        "module class (tripod train ALGO ENV --resume RUN for a resumed run)."
    )


def main(argv: list[str] | None = None) -> int:
    """Run the ``tripod`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CliError, UnknownAlgorithmError) as err:
        print(f"tripod: error: {err}{_cli_hint(err)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("tripod: interrupted", file=sys.stderr)
        return EXIT_INTERRUPT
