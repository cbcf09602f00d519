"""Train PPO on CartPole-v1 from Python, evaluate it greedily and save a checkpoint.

    python examples/quickstart.py                 # until the mean return reaches 475 (~70k env steps)
    python examples/quickstart.py --fast          # 3 iterations: a smoke test of the whole loop
    python examples/quickstart.py --out my_ckpt   # where the checkpoint goes (default: a temp dir)

The settings are those of the tuned CartPole preset that ``tripod train ppo
CartPole-v1`` uses (see ``tripod/algorithms/presets.py``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tripod.algorithms.ppo import PPOConfig


def build_config(seed: int = 0) -> PPOConfig:
    """PPO on CartPole-v1 with the tuned preset's settings."""
    return (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_envs_per_env_runner=16)
        .training(
            lr=2e-3,
            gamma=0.98,
            lambda_=0.8,
            train_batch_size_per_learner=2048,
            minibatch_size=512,
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
    parser.add_argument("--out", help="checkpoint directory (default: a new temp dir)")
    args = parser.parse_args()

    algo = build_config(args.seed).build_algo()
    max_iters = 3 if args.fast else 100
    for _ in range(max_iters):
        result = algo.train()
        ret = result["env_runners"]["episode_return_mean"]
        print(
            f"iter {result['training_iteration']:3d}  "
            f"env steps {result['num_env_steps_sampled_lifetime']:7d}  "
            f"return {ret:6.1f}  "
            f"policy loss {result['learners']['default_policy']['policy_loss']:+.4f}"
        )
        if ret >= 475:
            break

    evaluation = algo.evaluate(num_episodes=10)["env_runners"]
    mean, n = evaluation["episode_return_mean"], evaluation["num_episodes"]
    print(f"greedy evaluation return: {mean:.1f} over {n} episodes")

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="tripod-quickstart-")) / "checkpoint"
    algo.save_to_path(out)
    print(f"checkpoint: {out}")
    algo.stop()


if __name__ == "__main__":
    main()
