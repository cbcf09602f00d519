"""The races of ``tripod benchmark`` and how each run is made: a fresh process per library and seed.

Every race stops on the same rule for every library: 10 greedy episodes, run every ``eval_every``
env steps on an env of the library's own, average at least ``stop_return`` (or ``max_steps`` is
reached). The wall time is the whole process (interpreter and torch start-up, env checks and every
evaluation included), measured from outside. Medians over seeds; "solved" means the last greedy
evaluation reached ``stop_return``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["RACES", "Race", "available_peers", "run_race", "summarize"]


@dataclass(frozen=True)
class Race:
    """One race: ``algo`` on ``env`` until greedy evaluation reaches ``stop_return``."""

    name: str
    algo: str
    env: str
    stop_return: float
    eval_every: int
    max_steps: int
    peers: tuple[str, ...]

    def describe(self) -> str:
        return (
            f"{self.algo.upper()} {self.env}: until 10 greedy episodes, run every {self.eval_every:,} env steps, "
            f"average >= {self.stop_return:g} (at most {self.max_steps:,} env steps)"
        )


RACES: dict[str, Race] = {
    "ppo": Race("ppo", "ppo", "CartPole-v1", 475.0, 10_000, 300_000, ("sb3", "rllib")),
    "dqn": Race("dqn", "dqn", "CartPole-v1", 475.0, 5_000, 300_000, ("sb3", "rllib")),
    "sac": Race("sac", "sac", "Pendulum-v1", -200.0, 1_000, 50_000, ("sb3", "rllib")),
}

RLLIB_SIDE = Path(__file__).with_name("rllib_side.py")


def available_peers(against: list[str], rllib_python: str | None) -> tuple[list[str], list[str]]:
    """``(peers to race, notes on the ones left out)``."""
    peers, notes = [], []
    for peer in against:
        if peer == "sb3":
            if importlib.util.find_spec("stable_baselines3") is None:
                notes.append("Stable-Baselines3 is not installed (pip install 'tripod-rl[benchmarks]'): left out.")
            else:
                peers.append(peer)
        elif peer == "rllib":
            if rllib_python and Path(rllib_python).exists():
                peers.append(peer)
            else:
                notes.append(
                    "RLlib left out: pass --rllib-python PATH, an interpreter with torch==2.13.0 and "
                    "ray[rllib]==2.60.0 (RLlib's dependencies do not belong in tripod's environment)."
                )
        else:
            notes.append(f"unknown peer {peer!r} (use sb3, rllib): left out.")
    return peers, notes


def _command(lib: str, race: Race, seed: int, rllib_python: str | None) -> list[str]:
    args = [race.algo, race.env, "--stop-return", str(race.stop_return), "--eval-every", str(race.eval_every),
            "--max-steps", str(race.max_steps), "--seed", str(seed)]  # fmt: skip
    if lib == "rllib":
        return [str(rllib_python), str(RLLIB_SIDE), *args]
    return [sys.executable, "-m", "tripod.benchmark.sides", lib, *args]


def run_one(lib: str, race: Race, seed: int, *, rllib_python: str | None = None, timeout: float = 1800) -> dict:
    """One whole-process run; its row (``ok`` False with the error's tail when it failed)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(_command(lib, race, seed, rllib_python), capture_output=True, text=True,
                              timeout=timeout, env=env)  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"lib": lib, "seed": seed, "ok": False, "error": f"timed out after {timeout:g} s"}
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"lib": lib, "seed": seed, "ok": False, "error": proc.stderr.strip()[-600:]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    last = out.get("eval_return_mean")
    return {**out, "lib": lib, "seed": seed, "wall_s": wall, "ok": True,
            "solved": last is not None and last >= race.stop_return}  # fmt: skip


def run_race(
    race: Race, seeds: list[int], peers: list[str], *, rllib_python: str | None = None, timeout: float = 1800,
    on_row: Any = None,
) -> list[dict]:
    """Every library on every seed, the libraries alternating within a seed."""
    rows = []
    for seed in seeds:
        for lib in ["tripod", *[p for p in peers if p in race.peers]]:
            rows.append(run_one(lib, race, seed, rllib_python=rllib_python, timeout=timeout))
            if on_row is not None:
                on_row(rows[-1])
    return rows


def summarize(rows: list[dict]) -> dict[str, dict[str, Any]]:
    """Per library: median wall time and env steps of the runs that finished, and how many solved."""
    out: dict[str, dict[str, Any]] = {}
    for lib in dict.fromkeys(r["lib"] for r in rows):
        mine = [r for r in rows if r["lib"] == lib]
        done = [r for r in mine if r["ok"]]
        out[lib] = {
            "median_wall_s": statistics.median(r["wall_s"] for r in done) if done else float("nan"),
            "median_env_steps": statistics.median(r["env_steps"] for r in done) if done else float("nan"),
            "solved": sum(1 for r in done if r["solved"]),
            "runs": len(mine),
        }
    tripod = out.get("tripod", {}).get("median_wall_s", float("nan"))
    for stats in out.values():
        stats["tripod_speedup"] = stats["median_wall_s"] / tripod if tripod == tripod and tripod > 0 else float("nan")
    return out
