"""The ``tripod`` command's argument parser (:func:`build_parser`) and its argument types."""

from __future__ import annotations

import argparse
import math
from typing import Any

from tripod import __version__
from tripod.algorithms.registry import known_algorithms
from tripod.cli.benchmark_command import add_benchmark_parser
from tripod.cli.commands import cmd_evaluate, cmd_export, cmd_train
from tripod.cli.train_options import add_train_option_flags

__all__ = ["build_parser"]


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def _finite_float(*, above: float | None = None):
    """An argparse type: a finite float, greater than ``above`` when given."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if above is not None and value <= above:
            raise argparse.ArgumentTypeError(f"must be > {above:g}, got {text}")
        return value

    return parse


def _seed(text: str) -> int:
    """An argparse type: a seed in [0, 2**63 - 1]."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value <= 2**63 - 1:
        raise argparse.ArgumentTypeError(f"must be an int in [0, 2**63 - 1], got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tripod`` command."""
    parser = argparse.ArgumentParser(prog="tripod", description="Train, evaluate and export RL modules.")
    parser.add_argument("--version", action="version", version=f"tripod {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train_parser(sub)

    evaluate = sub.add_parser("evaluate", help="run greedy episodes from a checkpoint")
    evaluate.add_argument(
        "checkpoint",
        metavar="CHECKPOINT_DIR",
        help="a checkpoint, a run directory (its newest checkpoint) or RUN/best (its best kept checkpoint)",
    )
    evaluate.add_argument("--episodes", type=_int_at_least(1), default=10)
    evaluate.add_argument("--seed", type=_seed)
    evaluate.add_argument("--render", choices=["rgb_array", "human"])
    evaluate.add_argument(
        "--video", metavar="DIR", help="record each episode as an mp4 in DIR (needs tripod-rl[video])"
    )
    _add_loading_flags(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)

    export = sub.add_parser("export", help="write a checkpoint's modules (safetensors, ONNX, torch.export)")
    export.add_argument("checkpoint", metavar="CHECKPOINT_DIR", help="a checkpoint or a run directory")
    export.add_argument("--out", required=True, metavar="DIR", help="a new or empty directory")
    export.add_argument(
        "--format",
        choices=["safetensors", "onnx", "pt2"],
        default="safetensors",
        help="safetensors: a tripod module checkpoint (default); onnx / pt2: forward_inference as an ONNX "
        "or torch.export file per module, with a JSON sidecar (onnx needs tripod-rl[onnx])",
    )
    which = export.add_mutually_exclusive_group()
    which.add_argument("--module-id", metavar="ID", help="the module to export (default: default_policy)")
    which.add_argument("--all", action="store_true", help="export every module of a multi-agent checkpoint")
    export.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a previous tripod export at --out (never a directory of other files)",
    )
    _add_loading_flags(export)
    export.set_defaults(func=cmd_export)
    add_benchmark_parser(sub)
    return parser


def _add_trust_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="let loading import the classes and functions the checkpoint names (only for checkpoints "
        "you trust; see docs/checkpoints.md)",
    )


def _add_loading_flags(parser: argparse.ArgumentParser) -> None:
    """``--env``, ``--module`` and ``--trust-checkpoint``: what loading a checkpoint may use."""
    parser.add_argument(
        "--env",
        metavar="ENV",
        help="the env to use instead of the saved one, e.g. for a 'pettingzoo:...' or 'module:EnvId' env "
        "that loading does not import by itself",
    )
    parser.add_argument(
        "--module",
        metavar="PKG.MOD:CLASS",
        help="the RLModule class to build (for a checkpoint whose module class is defined in a script)",
    )
    _add_trust_flag(parser)


def _add_train_parser(sub: Any) -> None:
    train = sub.add_parser(
        "train",
        help="train an algorithm on an environment",
        description="Train ALGO on ENV and write a run directory.",
    )
    train.add_argument("algo", nargs="?", metavar="ALGO", help=f"one of: {', '.join(known_algorithms())}")
    train.add_argument("env", nargs="?", metavar="ENV", help="a gymnasium env id, e.g. CartPole-v1")
    _add_stop_flags(train)
    _add_setting_flags(train)
    _add_run_dir_flags(train)
    train.add_argument("--no-preset", action="store_true", help="ignore the tuned preset for ALGO on ENV")
    train.add_argument("--quiet", action="store_true", help="no live display: a line every 10 iterations")
    train.add_argument(
        "--print-every",
        type=_int_at_least(1),
        metavar="N",
        help="without a live display, print every N iterations",
    )
    add_train_option_flags(train)
    _add_trust_flag(train)
    train.set_defaults(func=cmd_train)


def _add_stop_flags(train: argparse.ArgumentParser) -> None:
    """``--stop-return``, ``--stop-eval-return``, ``--stop-steps``, ``--stop-iters``, ``--stop-time``
    (whichever is met first) and ``--eval-every``."""
    train.add_argument(
        "--stop-return",
        metavar="R",
        type=_finite_float(),
        help="stop when the mean training return reaches this",
    )
    train.add_argument(
        "--stop-eval-return",
        metavar="R",
        type=_finite_float(),
        help="stop when a greedy evaluation reaches this mean return (evaluated once the training "
        "return reaches it, and every --eval-every iterations)",
    )
    train.add_argument(
        "--stop-steps", metavar="N", type=_int_at_least(1), help="stop after this many env steps"
    )
    train.add_argument(
        "--eval-every",
        metavar="N",
        type=_int_at_least(1),
        help="evaluate greedily every N iterations (sets evaluation_interval); the best evaluation's "
        "checkpoint is kept as checkpoints/best",
    )
    train.add_argument(
        "--stop-iters", metavar="N", type=_int_at_least(1), help="stop after this many iterations"
    )
    train.add_argument(
        "--stop-time",
        metavar="S",
        type=_finite_float(above=0),
        help="stop after this many seconds of training",
    )


def _add_setting_flags(train: argparse.ArgumentParser) -> None:
    """``--seed``, ``--num-envs``, ``--num-env-runners``, ``--num-learners``, ``--out`` and ``--set KEY=VALUE``."""
    train.add_argument("--seed", metavar="S", type=_seed, help="random seed (an int in [0, 2**63 - 1])")
    train.add_argument("--num-envs", metavar="N", type=_int_at_least(1), help="environments per env runner")
    train.add_argument(
        "--num-env-runners",
        metavar="N",
        type=_int_at_least(0),
        help="env runners sampling in parallel on Ray (needs tripod-rl[ray]; 0: in this process)",
    )
    train.add_argument(
        "--num-learners",
        metavar="M",
        type=_int_at_least(0),
        help="learners training data-parallel on Ray (needs tripod-rl[ray]; 0: in this process)",
    )
    train.add_argument("--out", metavar="DIR", help="run directory (default: runs/ALGO-ENV-TIMESTAMP)")
    train.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="a config setting (JSON value), e.g. --set lr=0.001; repeatable",
    )


def _add_run_dir_flags(train: argparse.ArgumentParser) -> None:
    """Checkpoints, the final evaluation and ``--resume``: what the run directory gets."""
    train.add_argument(
        "--checkpoint-every",
        type=_int_at_least(0),
        default=10,
        metavar="N",
        help="checkpoint every N iterations (0: only at the end; default 10)",
    )
    train.add_argument(
        "--keep-checkpoints",
        type=_int_at_least(1),
        default=3,
        metavar="N",
        help="keep the last N checkpoints (default 3)",
    )
    train.add_argument(
        "--eval-episodes",
        type=_int_at_least(0),
        default=10,
        metavar="N",
        help="greedy evaluation episodes at the end (default 10; 0: none)",
    )
    train.add_argument(
        "--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint"
    )
