"""PPO CartPole race: tripod against Stable-Baselines3 (rl-zoo settings) and, with --rllib-python, RLlib.

A thin wrapper of ``tripod benchmark ppo`` (the race code lives in ``tripod.benchmark``); writes
``benchmarks/results/ppo.md`` and ``ppo.png``. Target (issue 13): tripod >= 2.5x SB3, every seed solved.

    python benchmarks/race_ppo.py [--seeds 3] [--against sb3,rllib --rllib-python /tmp/rllibvenv/bin/python]
"""

import sys

from tripod.cli import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", "ppo", *sys.argv[1:]]))
