"""PettingZoo's MPE2 simple_spread with one module shared by all three agents (needs ``[multiagent]``).

    pip install 'tripod-rl[multiagent]'
    python examples/pettingzoo_spread.py          # ~60k env steps, 1-2 min on 2 cores
    python examples/pettingzoo_spread.py --fast   # 3 iterations: a smoke test

Random play is measured first, then PPO trains the shared module; both are
printed as the episode return summed over the agents. The same run from the
command line: ``tripod train ppo pettingzoo:mpe2.simple_spread_v3``.
"""

from __future__ import annotations

import argparse

import numpy as np

from tripod.algorithms.ppo import PPOConfig


def build_config(seed: int = 0) -> PPOConfig:
    """Shared parameters: with no ``.multi_agent()`` call every agent uses ``"default_policy"``."""
    return (
        PPOConfig()
        .environment("pettingzoo:mpe2.simple_spread_v3")  # a PettingZoo parallel env, wrapped
        .env_runners(num_envs_per_env_runner=4)
        .training(
            lr=2e-3,
            gamma=0.95,
            lambda_=0.95,
            entropy_coeff=0.01,
            train_batch_size_per_learner=1000,
            minibatch_size=500,
            num_epochs=10,
        )
        .rl_module(model_config={"fcnet_hiddens": [64, 64]})
        .debugging(seed=seed)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fast", action="store_true", help="train 3 iterations only")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    algo = build_config(args.seed).build_algo()
    episodes = 10 if args.fast else 50
    random = algo.env_runner_group.sample(num_episodes=episodes, random_actions=True)
    print(f"random return: {np.mean(random['episode_returns']):.1f} over {episodes} episodes")

    for _ in range(3 if args.fast else 200):
        result = algo.train()
        runners = result["env_runners"]
        print(
            f"iter {result['training_iteration']:3d}  env steps {result['num_env_steps_sampled_lifetime']:7d}  "
            f"return {runners['episode_return_mean']:6.1f}  "
            f"per agent {np.mean(list(runners['agent_episode_returns_mean'].values())):6.1f}"
        )
        if runners["episode_return_mean"] >= -55 or result["num_env_steps_sampled_lifetime"] >= 80_000:
            break

    evaluation = algo.evaluate(num_episodes=episodes)["env_runners"]
    print(f"greedy evaluation return: {evaluation['episode_return_mean']:.1f} over {episodes} episodes")
    algo.stop()


if __name__ == "__main__":
    main()
