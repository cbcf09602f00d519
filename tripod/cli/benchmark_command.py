"""``tripod benchmark``: run the races of :mod:`tripod.benchmark` and write their results."""

from __future__ import annotations

import argparse
from typing import Any

from tripod.cli.commands import CliError

__all__ = ["add_benchmark_parser", "cmd_benchmark"]

_WHAT = ("ppo", "dqn", "sac", "sampling", "all")


def add_benchmark_parser(sub: Any) -> None:
    bench = sub.add_parser(
        "benchmark",
        help="race tripod against Stable-Baselines3 (and RLlib): whole processes, medians over seeds",
        description="Race tripod against its peers on the same stop rule (greedy evaluation) and write "
        "<out>/<race>.md and a plot. The peers come with pip install 'tripod-rl[benchmarks]'; without "
        "them tripod runs alone. Run on a quiet machine: other load slows the libraries unevenly.",
    )
    bench.add_argument("what", nargs="?", choices=_WHAT, default="all", metavar="RACE",
                       help="ppo, dqn, sac, sampling or all (default: all)")
    bench.add_argument("--seeds", type=int, default=3, metavar="N", help="seeds 0..N-1 per library (default 3)")
    bench.add_argument("--against", default="sb3", metavar="LIBS",
                       help="comma-separated peers: sb3, rllib (default: sb3)")  # fmt: skip
    bench.add_argument("--rllib-python", metavar="PY",
                       help="an interpreter with torch==2.13.0 and ray[rllib]==2.60.0 for the RLlib side")  # fmt: skip
    bench.add_argument("--out", default="benchmarks/results", metavar="DIR",
                       help="where to write <race>.md and <race>.png (default: benchmarks/results)")  # fmt: skip
    bench.add_argument("--timeout", type=float, default=1800, metavar="S", help="seconds allowed per run")
    bench.set_defaults(func=cmd_benchmark)


def cmd_benchmark(args: argparse.Namespace) -> int:
    from rich.console import Console

    from tripod.benchmark import report
    from tripod.benchmark.races import RACES, available_peers, run_race, summarize

    if args.seeds < 1:
        raise CliError("--seeds must be at least 1.")
    console = Console()
    against = [p.strip() for p in args.against.split(",") if p.strip()]
    peers, notes = available_peers(against, args.rllib_python)
    for note in notes:
        console.print(f"[yellow]{note}[/yellow]")
    names = [args.what] if args.what != "all" else [*RACES, "sampling"]
    for name in names:  # before any race runs: never after minutes of work
        try:
            report.check_writable(args.out, name)
        except FileExistsError as err:
            raise CliError(str(err)) from err
    for name in names:
        if name == "sampling":
            _sampling(console, args, "sb3" in peers, notes)
            continue
        race = RACES[name]
        console.print(f"[bold]{race.describe()}[/bold]")
        rows = run_race(race, list(range(args.seeds)), peers, rllib_python=args.rllib_python,
                        timeout=args.timeout, on_row=lambda r: console.print(_row_text(r)))  # fmt: skip
        summary = summarize(rows)
        report.print_race(console, race, rows, summary)
        _write(console, args.out, name, report.race_markdown(race, rows, summary, notes, f"{name}.png"),
               report.draw_race(rows, race))  # fmt: skip
    return 0


def _sampling(console: Any, args: argparse.Namespace, with_sb3: bool, notes: list[str]) -> None:
    from tripod.benchmark import report
    from tripod.benchmark.sampling import sampling_race

    console.print("[bold]Sampling throughput[/bold]")
    rows = sampling_race(with_sb3=with_sb3)
    report.print_sampling(console, rows)
    _write(console, args.out, "sampling", report.sampling_markdown(rows, notes), None)


def _row_text(r: dict) -> str:
    if not r["ok"]:
        return f"  {r['lib']} seed {r['seed']}: failed: {r['error'].splitlines()[-1][:120]}"
    return (f"  {r['lib']} seed {r['seed']}: {r['wall_s']:.1f} s, {r['env_steps']:,} env steps, greedy "
            f"{r['eval_return_mean'] if r['eval_return_mean'] is None else round(r['eval_return_mean'], 1)}")  # fmt: skip


def _write(console: Any, out: str, name: str, markdown: str, draw: Any) -> None:
    from tripod.benchmark import report

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        console.print("[yellow]matplotlib is not installed (pip install 'tripod-rl[plots]'): no plot.[/yellow]")
        draw, markdown = None, markdown.replace(f"![time to solve per seed and greedy return against env steps]({name}.png)", "")
    try:
        written = report.write_result(out, name, markdown, draw)
    except FileExistsError as err:
        raise CliError(str(err)) from err
    console.print("Wrote " + ", ".join(str(p) for p in written))
