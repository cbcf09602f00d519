"""Ray Tune: search PPO's learning rate over three values on CartPole-v1.

RLlib's ``tune.Tuner(PPO, param_space=config)``, written for tripod:

- ``trainable(PPO)`` wraps tripod's PPO as a Tune trainable (registered as ``"tripod/PPO"``,
  which names tripod's PPO beside RLlib's own ``"PPO"``);
- ``tune_param_space(config, lr=tune.grid_search([...]))`` is the config's settings with ``lr``
  searched (tripod's ``config.training(lr=...)`` checks its value, so a search space goes here);
- each trial reports ``algo.train()``'s results (``env_runners/episode_return_mean``, ...) and
  ends with a tripod checkpoint, which ``Algorithm.from_checkpoint`` loads.

    pip install 'tripod-rl[ray]'
    python examples/tune_lr_search.py            # 3 trials x 15 iterations of 2000 steps (~30 s, 2 cores)
    python examples/tune_lr_search.py --fast     # 3 trials x 2 iterations of 500 steps
    python examples/tune_lr_search.py --storage /tmp/tune   # where Tune writes (default: ~/ray_results)
"""

from __future__ import annotations

import argparse
import os

import ray
from ray import tune

from tripod.algorithms import PPO, Algorithm, PPOConfig
from tripod.distributed.tune import trainable, tune_param_space

LRS = [1e-4, 3e-4, 1e-3]
METRIC = "env_runners/episode_return_mean"


def make_config(fast: bool) -> PPOConfig:
    """PPO on CartPole-v1: 8 sub-envs, one iteration = ``train_batch_size_per_learner`` env steps."""
    return (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_envs_per_env_runner=8)
        .training(
            train_batch_size_per_learner=500 if fast else 2000,
            minibatch_size=250,
            num_epochs=2 if fast else 6,
        )
        .debugging(seed=0)  # every trial starts from the same seed: only lr differs
    )


def greedy_return(path: str, episodes: int = 5) -> float:
    """Load a trial's checkpoint and return its mean greedy (``explore=False``) return."""
    algo = Algorithm.from_checkpoint(path)
    try:
        return algo.evaluate(num_episodes=episodes)["env_runners"]["episode_return_mean"]
    finally:
        algo.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fast", action="store_true", help="2 iterations of 500 steps per trial")
    parser.add_argument("--storage", default=None, help="Tune's storage_path (default: ~/ray_results)")
    args = parser.parse_args()

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # A local Ray on this machine's cores (ray.init(address=...) joins a cluster). The trials' own logs
    # stay in Tune's trial directories; a failed trial's error comes back in results.errors.
    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    tuner = tune.Tuner(
        trainable(PPO),
        param_space=tune_param_space(make_config(args.fast), lr=tune.grid_search(LRS)),
        tune_config=tune.TuneConfig(metric=METRIC, mode="max"),
        run_config=tune.RunConfig(
            name="tripod_ppo_lr_search",
            storage_path=os.path.abspath(args.storage) if args.storage else None,
            stop={"training_iteration": 2 if args.fast else 15},
            checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=True),
            verbose=0,
        ),
    )
    results = tuner.fit()
    if results.errors:
        raise SystemExit(f"{len(results.errors)} trial(s) failed: {results.errors[0]}")

    print(f"{'lr':>8}  {'return':>8}  {'env steps':>9}")
    for result in sorted(results, key=lambda r: r.config["lr"]):
        metrics = result.metrics
        print(
            f"{result.config['lr']:>8g}  {metrics['env_runners']['episode_return_mean']:>8.1f}  "
            f"{metrics['num_env_steps_sampled_lifetime']:>9d}"
        )
    best = results.get_best_result()  # by METRIC, mode "max" (TuneConfig)
    print(f"best lr: {best.config['lr']:g}, return {best.metrics['env_runners']['episode_return_mean']:.1f}")
    print(f"best checkpoint: {best.checkpoint.path}")
    print(f"greedy return of the best checkpoint: {greedy_return(best.checkpoint.path):.1f}")
    ray.shutdown()


if __name__ == "__main__":
    main()
