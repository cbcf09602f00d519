"""Does every preset solve every seed? Run ``tripod train ALGO ENV --seed S`` and tabulate.

Each run is the whole ``tripod train`` process with the preset and the env's default stop
(a greedy evaluation of 10 episodes reaching the solved return, within the step budget);
the wall time includes Python start-up, torch import and every evaluation.

    python benchmarks/preset_seeds.py --presets dqn:CartPole-v1,ppo:CartPole-v1 --seeds 100-104
    python benchmarks/preset_seeds.py --presets sac:HalfCheetah-v5 --seeds 100-102 \
        --stop-steps 60000 --threshold 2000      # a fixed budget, judged by the final greedy return

Prints one markdown table per preset: seed, env steps, wall seconds, the greedy return of
the evaluation that stopped the run (or the best one), the final greedy return, solved?
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tripod.algorithms.presets import default_stop


def parse_seeds(text: str) -> list[int]:
    """``"100-104"`` or ``"0,3,7"`` (or a mix) as a list of ints."""
    seeds: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        seeds.extend(range(int(low), int(high or low) + 1))
    return seeds


def run_one(algo: str, env: str, seed: int, out: Path, timeout: float, stop_steps: int | None = None) -> dict:
    """One ``tripod train`` process on one CPU thread; its result.json plus the process wall time.

    With ``stop_steps`` the run has a fixed budget (``--stop-steps``) instead of the env's default stop.
    """
    cli = "import sys; from tripod.cli import main; sys.exit(main())"  # the `tripod` command
    cmd = [sys.executable, "-c", cli, "train", algo, env, "--seed", str(seed), "--quiet", "--out", str(out)]
    if stop_steps is not None:
        cmd += ["--stop-steps", str(stop_steps)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=dict(os.environ, OMP_NUM_THREADS="1")
        )
    except subprocess.TimeoutExpired:
        sys.stderr.write(f"timed out after {timeout:g} s: {' '.join(cmd)}\n")
        return {"wall": time.perf_counter() - t0, "env_steps": None}
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}\n")
        return {"wall": wall, "env_steps": None}
    return {**json.loads((out / "result.json").read_text()), "wall": wall}


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def table(
    algo: str, env: str, rows: list[tuple[int, dict]], threshold: float | None = None, stop_steps: int | None = None
) -> str:
    """Markdown rows; with ``stop_steps`` (a fixed budget) a run is judged by its final greedy return."""
    fixed = stop_steps is not None
    if threshold is None:
        threshold = default_stop(env).get("stop_return", float("nan"))
    budget = stop_steps if fixed else default_stop(env)["stop_steps"]
    rule = "final greedy return after a fixed budget of" if fixed else "budget"
    lines = [
        f"**{algo} {env}** (threshold {threshold:g}, {rule} {budget:,} env steps)",
        "",
        "| seed | env steps | wall s | greedy return (stop) | greedy return (final) | solved |",
        "|---:|---:|---:|---:|---:|:---:|",
    ]
    for seed, r in rows:
        best, final = r.get("best_eval_return"), r.get("eval_return_mean")
        judged = final if fixed else best
        solved = judged is not None and judged >= threshold
        steps = f"{r['env_steps']:,}" if r.get("env_steps") is not None else "failed"
        cells = [str(seed), steps, f"{r['wall']:.1f}", _num(best), _num(final), "yes" if solved else "NO"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", required=True, help="ALGO:ENV[,ALGO:ENV...], e.g. dqn:CartPole-v1")
    parser.add_argument("--seeds", default="100-104", help="e.g. 100-104 or 0,1,2 (default 100-104)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per run (default 3600)")
    parser.add_argument("--stop-steps", type=int, help="a fixed env-step budget instead of the env's default stop")
    parser.add_argument("--threshold", type=float, help="the return to reach (default: the env's solved return)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="preset_seeds_") as tmp:
        for spec in args.presets.split(","):
            algo, _, env = spec.partition(":")
            rows = []
            for seed in parse_seeds(args.seeds):
                out = Path(tmp) / f"{algo}-{env.replace('/', '_')}-{seed}"
                result = run_one(algo, env, seed, out, args.timeout, args.stop_steps)
                rows.append((seed, result))
                print(f"  {algo} {env} seed {seed}: {result.get('env_steps')} env steps, {result['wall']:.1f} s",
                      file=sys.stderr, flush=True)  # fmt: skip
            print(table(algo, env, rows, args.threshold, args.stop_steps), "\n", flush=True)


if __name__ == "__main__":
    main()
