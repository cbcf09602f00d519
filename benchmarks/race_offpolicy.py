"""Race: whole-process wall time to a greedy-evaluation threshold, tripod vs Stable-Baselines3.

- DQN CartPole-v1: stop once 10 greedy episodes, run every 5000 env steps, average >= 475.
- SAC Pendulum-v1: stop once 10 greedy episodes, run every 1000 env steps, average >= -200.

tripod trains with its tuned presets (`tripod.algorithms.presets`, as `tripod train` does),
SB3 with its rl-zoo hyperparameters (benchmarks/_sb3_race.py). Both use one torch thread,
the same stop rule and evaluation cadence (evaluation time counts), 3 seeds each, alternating,
one run. A greedy evaluation is used because DQN's training return on CartPole (with
epsilon-greedy actions, and DQN's well-known collapses) rarely averages 475 over 100 episodes.
Then learner updates/s for both libraries (benchmarks/offpolicy_update_speed.py): SAC at batch 256,
DQN at batch 64, each with 256- and 64-unit networks.

    python benchmarks/race_offpolicy.py [--seeds 0 1 2] [--only dqn|sac] [--no-speed]

Needs `pip install stable-baselines3`. Target: tripod median >= 2x faster than SB3, with
equal or fewer env steps.
"""

import argparse
import subprocess
import sys
from pathlib import Path

from _race import race

HERE = Path(__file__).resolve().parent

RACES = {
    "dqn": {"env": "CartPole-v1", "stop_return": 475, "eval_every": 5000},
    "sac": {"env": "Pendulum-v1", "stop_return": -200, "eval_every": 1000},
}

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--only", choices=sorted(RACES))
    p.add_argument("--no-speed", action="store_true", help="skip the learner updates/s comparison")
    args = p.parse_args()
    for algo, spec in RACES.items():
        if args.only and algo != args.only:
            continue
        race(
            algo,
            spec["env"],
            stop_return=spec["stop_return"],
            solved=spec["stop_return"],
            seeds=args.seeds,
            tripod_args=[],
            eval_every=spec["eval_every"],
            timeout=1800,
        )
        print(flush=True)
    speed = {
        "sac": ["--hidden", "256", "64", "--batch", "256"],
        "dqn": ["--hidden", "64", "256", "--batch", "64"],
    }
    for algo, extra in speed.items():
        if not args.no_speed and args.only in (None, algo):
            cmd = [sys.executable, str(HERE / "offpolicy_update_speed.py"), "--algo", algo, *extra]
            subprocess.run(cmd, check=True)
