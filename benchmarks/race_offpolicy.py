"""DQN CartPole and SAC Pendulum races against Stable-Baselines3, then learner updates/s of both.

The races are ``tripod benchmark dqn`` and ``tripod benchmark sac`` (code in ``tripod.benchmark``;
results in ``benchmarks/results/``); the update speed is ``benchmarks/offpolicy_update_speed.py``.
Targets (issue 13): whole process >= 3x SB3 on every seed, updates >= 2x.

    python benchmarks/race_offpolicy.py [--seeds 3] [--no-speed]
"""

import argparse
import subprocess
import sys
from pathlib import Path

from tripod.cli import main

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="3")
    p.add_argument("--no-speed", action="store_true", help="skip the learner updates/s comparison")
    args = p.parse_args()
    for race in ("dqn", "sac"):
        main(["benchmark", race, "--seeds", args.seeds])
    if not args.no_speed:
        for algo, extra in {"sac": ["--hidden", "256", "64", "--batch", "256"],
                            "dqn": ["--hidden", "64", "256", "--batch", "64"]}.items():  # fmt: skip
            subprocess.run([sys.executable, str(HERE / "offpolicy_update_speed.py"), "--algo", algo, *extra], check=True)
