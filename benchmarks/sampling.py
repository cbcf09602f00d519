"""Env steps/s of tripod's env runner against Stable-Baselines3's rollout collection, one process.

A thin wrapper of ``tripod benchmark sampling`` (code in ``tripod.benchmark.sampling``; CartPole-v1,
a 64x64 tanh MLP, 1 / 8 / 64 envs, one thread). Target: >= 3x SB3 at every env count.

    python benchmarks/sampling.py
"""

import sys

from tripod.cli import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", "sampling", *sys.argv[1:]]))
