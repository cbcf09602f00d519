"""What ``tripod benchmark`` shows and writes: a rich table, ``<out>/<name>.md`` and ``<out>/<name>.png``.

Files are written atomically. A Markdown or PNG file is replaced only when tripod wrote it (the
Markdown's first line is :data:`MARKER`; a PNG counts as tripod's when the Markdown next to it does);
anything else at those paths is left alone and reported.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tripod.io.atomic_write import atomic_write_file

__all__ = ["MARKER", "check_writable", "machine_line", "print_race", "print_sampling", "race_markdown", "sampling_markdown", "write_result"]

MARKER = "<!-- written by `tripod benchmark`; rerun it to update this file -->"


def machine_line() -> str:
    """The machine, load and library versions, for every result."""
    import torch

    from tripod import __version__

    return (f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), load average "
            f"{os.getloadavg()[0]:.2f}, Python {platform.python_version()}, torch {torch.__version__}, "
            f"tripod {__version__}, {time.strftime('%Y-%m-%d %H:%M')}")  # fmt: skip


def _fmt(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return format(value, spec)


def print_race(console: Console, race: Any, rows: list[dict], summary: dict[str, dict]) -> None:
    """Per-run rows and the medians as rich tables."""
    table = Table(title=race.describe())
    for column in ("library", "seed", "wall s", "env steps", "greedy return", "solved"):
        table.add_column(column, justify="left" if column == "library" else "right")
    for r in rows:
        if r["ok"]:
            table.add_row(r["lib"], str(r["seed"]), _fmt(r["wall_s"], ".1f"), _fmt(r["env_steps"], ","),
                          _fmt(r["eval_return_mean"], ".1f"), "yes" if r["solved"] else "no")  # fmt: skip
        else:
            table.add_row(r["lib"], str(r["seed"]), "failed", "-", "-", r["error"].splitlines()[-1][:60])
    console.print(table)
    medians = Table(title="medians")
    for column in ("library", "wall s", "env steps", "solved", "its time / tripod's"):
        medians.add_column(column, justify="left" if column == "library" else "right")
    for lib, s in summary.items():
        medians.add_row(lib, _fmt(s["median_wall_s"], ".1f"), _fmt(s["median_env_steps"], ",.0f"),
                        f"{s['solved']}/{s['runs']}", _fmt(s["tripod_speedup"], ".2f"))  # fmt: skip
    console.print(medians)


def race_markdown(race: Any, rows: list[dict], summary: dict[str, dict], notes: list[str], image: str | None) -> str:
    """The race's result page."""
    lines = [MARKER, "", f"# {race.algo.upper()} {race.env}", "", race.describe() + ".", "",
             f"Machine: {machine_line()}.", "", "| library | seed | whole process s | env steps | greedy return | solved |",
             "|---|---:|---:|---:|---:|---|"]  # fmt: skip
    for r in rows:
        if r["ok"]:
            lines.append(f"| {r['lib']} | {r['seed']} | {r['wall_s']:.1f} | {r['env_steps']:,} | "
                         f"{_fmt(r['eval_return_mean'], '.1f')} | {'yes' if r['solved'] else 'no'} |")  # fmt: skip
        else:
            lines.append(f"| {r['lib']} | {r['seed']} | failed | - | - | {r['error'].splitlines()[-1][:80]} |")
    lines += ["", "| library | median s | median env steps | solved | median time / tripod's |", "|---|---:|---:|---:|---:|"]
    for lib, s in summary.items():
        lines.append(f"| {lib} | {_fmt(s['median_wall_s'], '.1f')} | {_fmt(s['median_env_steps'], ',.0f')} | "
                     f"{s['solved']}/{s['runs']} | {_fmt(s['tripod_speedup'], '.2f')} |")  # fmt: skip
    lines += [""] + [f"- {note}" for note in notes] + ([""] if notes else [])
    if image:
        lines += [f"![time to solve per seed and greedy return against env steps]({image})", ""]
    return "\n".join(lines)


def print_sampling(console: Console, rows: list[dict]) -> None:
    table = Table(title="Sampling: env steps/s, CartPole-v1, 64x64 MLP, one thread")
    for column in ("envs", "tripod", "tripod + value head", "SB3", "tripod / SB3"):
        table.add_column(column, justify="right")
    for r in rows:
        ratio = r["tripod"] / r["sb3"] if r["sb3"] else None
        table.add_row(str(r["num_envs"]), f"{r['tripod']:,.0f}", f"{r['tripod_vf']:,.0f}",
                      _fmt(r["sb3"], ",.0f"), _fmt(ratio, ".1f"))  # fmt: skip
    console.print(table)


def sampling_markdown(rows: list[dict], notes: list[str]) -> str:
    lines = [MARKER, "", "# Sampling throughput", "", "Env steps/s of tripod's env runner and SB3's "
             "`collect_rollouts`, CartPole-v1, a 64x64 tanh MLP, one torch thread, best of the rounds.", "",
             f"Machine: {machine_line()}.", "", "| envs | tripod | tripod + value head | SB3 | tripod / SB3 |",
             "|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        ratio = r["tripod"] / r["sb3"] if r["sb3"] else None
        lines.append(f"| {r['num_envs']} | {r['tripod']:,.0f} | {r['tripod_vf']:,.0f} | {_fmt(r['sb3'], ',.0f')} | "
                     f"{_fmt(ratio, '.1f')} |")  # fmt: skip
    return "\n".join(lines + [""] + [f"- {note}" for note in notes]) + "\n"


def _ours(md_path: Path) -> bool:
    if not md_path.exists():
        return True
    try:
        with md_path.open(encoding="utf-8") as f:
            return f.readline().strip() == MARKER
    except (OSError, UnicodeDecodeError):
        return False


def check_writable(out_dir: str | os.PathLike, name: str) -> None:
    """Raise ``FileExistsError`` when ``<name>.md`` or ``<name>.png`` in ``out_dir`` is not tripod's to replace."""
    md, png = Path(out_dir) / f"{name}.md", Path(out_dir) / f"{name}.png"
    if not _ours(md) or (png.exists() and not md.exists()):
        raise FileExistsError(
            f"{md if md.exists() else png} exists and was not written by `tripod benchmark`; "
            "choose another --out directory (nothing was written)."
        )


def write_result(out_dir: str | os.PathLike, name: str, markdown: str, draw: Any = None) -> list[Path]:
    """Write ``<name>.md`` (and ``<name>.png`` with ``draw(path)``); returns what was written.

    Raises:
        FileExistsError: A file at one of the paths was not written by ``tripod benchmark``.
    """
    check_writable(out_dir, name)
    out = Path(out_dir)
    md, png = out / f"{name}.md", out / f"{name}.png"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if draw is not None:
        atomic_write_file(png, draw)
        written.append(png)
    atomic_write_file(md, lambda tmp: Path(tmp).write_text(markdown, encoding="utf-8"))
    written.insert(0, md)
    return written


def draw_race(rows: list[dict], race: Any) -> Any:
    """``draw(path)``: time to solve per seed (bars) and greedy return against env steps (lines)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def draw(path: Path) -> None:
        fig = Figure(figsize=(11, 4))
        FigureCanvasAgg(fig)
        bars, curves = fig.subplots(1, 2)
        libs = list(dict.fromkeys(r["lib"] for r in rows))
        seeds = sorted({r["seed"] for r in rows})
        width = 0.8 / max(1, len(libs))
        for i, lib in enumerate(libs):
            mine = {r["seed"]: r for r in rows if r["lib"] == lib and r["ok"]}
            xs = [s + i * width for s in range(len(seeds))]
            bars.bar(xs, [mine[s]["wall_s"] if s in mine else 0 for s in seeds], width, label=lib)
            for r in mine.values():
                points = r.get("curve") or []
                curves.plot([p[0] for p in points], [p[2] for p in points], marker="o", ms=3,
                            color=f"C{i}", alpha=0.8, label=lib if r["seed"] == min(mine) else None)  # fmt: skip
        bars.set_xticks([s + width * (len(libs) - 1) / 2 for s in range(len(seeds))], [str(s) for s in seeds])
        bars.set(xlabel="seed", ylabel="whole process, s", title="time to solve")
        curves.axhline(race.stop_return, color="grey", ls="--", lw=1)
        curves.set(xlabel="env steps", ylabel="greedy return (10 episodes)", title=f"{race.algo.upper()} {race.env}")
        bars.legend()
        curves.legend()
        fig.tight_layout()
        fig.savefig(path, format="png", dpi=90)

    return draw
