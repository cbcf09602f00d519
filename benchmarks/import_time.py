"""What ``import tripod.core`` costs on top of ``import torch``.

Each repeat runs a fresh interpreter that imports torch, then ``tripod.core`` on top of
it, and reports the second import's wall-clock time. The figure is the best of the
repeats (a busy machine only ever makes a repeat slower); the median is printed too.
The target is well under 0.2 s (about 0.05 s measured on a laptop-class CPU); the script
exits with status 1 when the best repeat is over ``--limit``.

This is a benchmark, not a test: wall-clock limits fail at random on shared CI machines.
``tests/unit/test_imports.py`` keeps the deterministic half (importing tripod loads no
optional dependency).

Run: ``python benchmarks/import_time.py [--repeats 5] [--limit 0.2]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

_PROBE = """
import time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
import tripod.core
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def measure_once() -> tuple[float, float]:
    """Seconds for ``import torch`` and for ``import tripod.core`` after it, in a fresh interpreter."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    torch_s, tripod_s = (float(x) for x in proc.stdout.split())
    return torch_s, tripod_s


def main(argv: list[str] | None = None) -> int:
    """Print the timings; return 1 when the best ``tripod.core`` import exceeds ``--limit``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh interpreters to time")
    parser.add_argument("--limit", type=float, default=0.2, help="seconds allowed for the best repeat")
    args = parser.parse_args(argv)
    runs = [measure_once() for _ in range(args.repeats)]
    torch_times = [t for t, _ in runs]
    tripod_times = [t for _, t in runs]
    best = min(tripod_times)
    for name, times in (("import torch", torch_times), ("import tripod.core (on top)", tripod_times)):
        print(f"{name:<28} best {min(times):.3f} s, median {statistics.median(times):.3f} s")
    verdict = "ok" if best < args.limit else "TOO SLOW"
    print(f"limit {args.limit:.3f} s: {verdict}")
    return 0 if best < args.limit else 1


if __name__ == "__main__":
    sys.exit(main())
