"""Race: whole-process wall time of `tripod train ppo CartPole-v1 --stop-return 475`
against Stable-Baselines3 PPO with its rl-zoo CartPole hyperparameters and the same
stop rule (mean training return over the last 100 episodes), 3 seeds each, one run.

    python benchmarks/race_ppo.py [--seeds 0 1 2]

Needs `pip install stable-baselines3`. Target: tripod median >= 2x faster, every
seed solved (greedy evaluation over 10 episodes >= 475).
"""

import argparse

from _race import race

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = p.parse_args()
    race("ppo", "CartPole-v1", stop_return=475, solved=475, seeds=args.seeds, tripod_args=[])
