"""Shared plumbing of the race benchmarks: run whole processes, time them, print a table."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _run(cmd: list[str], timeout: float) -> tuple[float, str, int]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}\n")
    return wall, proc.stdout, proc.returncode


def run_tripod(
    algo: str,
    env: str,
    stop_return: float,
    seed: int,
    extra: list[str],
    timeout: float,
    eval_every: int | None = None,
) -> dict:
    """Whole-process run of ``tripod train``; reads the run's result.json.

    With ``eval_every``, ``_tripod_race.py`` trains the same preset and stops on greedy evaluation.
    """
    if eval_every:
        return _run_eval_race(
            "tripod", "_tripod_race.py", algo, env, stop_return, seed, eval_every, extra, timeout
        )
    with tempfile.TemporaryDirectory() as out:
        cmd = [
            sys.executable,
            "-m",
            "tripod.cli",
            "train",
            algo,
            env,
            "--stop-return",
            str(stop_return),
            "--seed",
            str(seed),
            "--out",
            out,
            "--quiet",
            *extra,
        ]
        wall, _, rc = _run(cmd, timeout)
        result = json.loads((Path(out) / "result.json").read_text()) if rc == 0 else {}
    return {
        "lib": "tripod",
        "seed": seed,
        "wall_s": wall,
        "env_steps": result.get("env_steps"),
        "eval_return_mean": result.get("eval_return_mean"),
        "ok": rc == 0,
    }


def run_sb3(
    algo: str, env: str, stop_return: float, seed: int, timeout: float, eval_every: int | None = None
) -> dict:
    """Whole-process run of Stable-Baselines3 with rl-zoo hyperparameters."""
    if eval_every:
        return _run_eval_race("sb3", "_sb3_race.py", algo, env, stop_return, seed, eval_every, [], timeout)
    cmd = [
        sys.executable,
        str(HERE / "_sb3_race.py"),
        algo,
        env,
        "--stop-return",
        str(stop_return),
        "--seed",
        str(seed),
    ]
    wall, stdout, rc = _run(cmd, timeout)
    result = json.loads(stdout.strip().splitlines()[-1]) if rc == 0 else {}
    return {
        "lib": "sb3",
        "seed": seed,
        "wall_s": wall,
        "env_steps": result.get("env_steps"),
        "eval_return_mean": result.get("eval_return_mean"),
        "ok": rc == 0,
    }


def _run_eval_race(
    lib: str,
    script: str,
    algo: str,
    env: str,
    stop_return: float,
    seed: int,
    eval_every: int,
    extra: list[str],
    timeout: float,
) -> dict:
    """Whole-process run of a script that stops on greedy evaluation and prints one JSON line."""
    cmd = [sys.executable, str(HERE / script), algo, env, "--stop-return", str(stop_return)]
    cmd += ["--seed", str(seed), "--eval-every", str(eval_every), *extra]
    wall, stdout, rc = _run(cmd, timeout)
    result = json.loads(stdout.strip().splitlines()[-1]) if rc == 0 else {}
    return {
        "lib": lib,
        "seed": seed,
        "wall_s": wall,
        "env_steps": result.get("env_steps"),
        "eval_return_mean": result.get("eval_return_mean"),
        "ok": rc == 0,
    }


def race(
    algo: str,
    env: str,
    *,
    stop_return: float,
    solved: float,
    seeds: list[int],
    tripod_args: list[str],
    timeout: float = 900,
    eval_every: int | None = None,
) -> dict:
    """Alternate tripod and SB3 runs per seed; print per-run rows and the medians.

    With ``eval_every`` both libraries stop once 10 greedy episodes, run every ``eval_every``
    env steps, average at least ``stop_return`` (instead of the mean training return).
    """
    rows = []
    for seed in seeds:
        rows.append(run_tripod(algo, env, stop_return, seed, tripod_args, timeout, eval_every))
        print(_fmt(rows[-1]), flush=True)
        rows.append(run_sb3(algo, env, stop_return, seed, timeout, eval_every))
        print(_fmt(rows[-1]), flush=True)
    summary = {}
    for lib in ("tripod", "sb3"):
        mine = [r for r in rows if r["lib"] == lib and r["ok"]]
        summary[lib] = {
            "median_wall_s": statistics.median(r["wall_s"] for r in mine) if mine else float("nan"),
            "median_env_steps": statistics.median(r["env_steps"] for r in mine) if mine else float("nan"),
            "solved": sum(1 for r in mine if (r["eval_return_mean"] or -1e9) >= solved),
            "runs": len([r for r in rows if r["lib"] == lib]),
        }
    speedup = summary["sb3"]["median_wall_s"] / summary["tripod"]["median_wall_s"]
    rule = f"greedy eval (10 episodes every {eval_every} steps)" if eval_every else "train return"
    print(f"\n{algo.upper()} {env}: stop at {rule} >= {stop_return}, solved = greedy eval >= {solved}")
    for lib, s in summary.items():
        print(
            f"  {lib:7s} median wall {s['median_wall_s']:7.2f} s   median env steps {s['median_env_steps']:>9}   "
            f"solved {s['solved']}/{s['runs']}"
        )
    print(f"  speed-up (SB3 median / tripod median): {speedup:.2f}x")
    return {"rows": rows, "summary": summary, "speedup": speedup}


def _fmt(r: dict) -> str:
    ev = r["eval_return_mean"]
    return (
        f"  {r['lib']:7s} seed {r['seed']}: wall {r['wall_s']:6.2f} s  env steps {r['env_steps']}  "
        f"eval {'-' if ev is None else f'{ev:.1f}'}  {'ok' if r['ok'] else 'FAILED'}"
    )
