"""Stable-Baselines3 side of the races: train with rl-zoo hyperparameters until the
mean training return over the last 100 episodes reaches a threshold, then
evaluate greedily. Prints one JSON line. Run by race_*.py in a fresh process."""

import argparse
import json
import time

T0 = time.perf_counter()

import numpy as np  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402
from stable_baselines3.common.evaluation import evaluate_policy  # noqa: E402


def linear(start):
    return lambda progress: progress * start


# rl-baselines3-zoo hyperparameters (hyperparams/ppo.yml, dqn.yml, sac.yml).
ZOO = {
    ("ppo", "CartPole-v1"): dict(
        n_envs=8,
        total=100_000,
        kwargs=dict(
            n_steps=32,
            batch_size=256,
            gae_lambda=0.8,
            gamma=0.98,
            n_epochs=20,
            ent_coef=0.0,
            learning_rate=linear(1e-3),
            clip_range=linear(0.2),
        ),
    ),
    ("dqn", "CartPole-v1"): dict(
        n_envs=1,
        total=50_000,
        kwargs=dict(
            learning_rate=2.3e-3,
            batch_size=64,
            buffer_size=100_000,
            learning_starts=1000,
            gamma=0.99,
            target_update_interval=10,
            train_freq=256,
            gradient_steps=128,
            exploration_fraction=0.16,
            exploration_final_eps=0.04,
            policy_kwargs=dict(net_arch=[256, 256]),
        ),
    ),
    ("sac", "Pendulum-v1"): dict(
        n_envs=1,
        total=20_000,
        kwargs=dict(learning_rate=1e-3),
    ),
}


class StopOnEvalReturn(BaseCallback):
    """Every ``every`` env steps, run ``episodes`` greedy episodes; stop once their mean reaches ``threshold``."""

    def __init__(self, eval_env, threshold, every, episodes=10):
        super().__init__()
        self.eval_env, self.threshold, self.every, self.episodes = eval_env, threshold, every, episodes
        self.next_eval, self.last_eval, self.num_evals = every, None, 0

    def _on_step(self):
        if self.num_timesteps < self.next_eval:
            return True
        self.next_eval += self.every
        self.num_evals += 1
        self.last_eval, _ = evaluate_policy(
            self.model, self.eval_env, n_eval_episodes=self.episodes, deterministic=True
        )
        return self.last_eval < self.threshold


class StopOnReturn(BaseCallback):
    def __init__(self, threshold):
        super().__init__()
        self.threshold = threshold

    def _on_step(self):
        buf = self.model.ep_info_buffer
        return not (len(buf) > 0 and np.mean([ep["r"] for ep in buf]) >= self.threshold)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("algo")
    p.add_argument("env")
    p.add_argument("--stop-return", type=float, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument(
        "--eval-every",
        type=int,
        default=None,
        help="stop on greedy evaluation (10 episodes every N env steps) instead of the training return",
    )
    a = p.parse_args()
    import torch

    torch.set_num_threads(1)
    from stable_baselines3 import DQN, PPO, SAC

    zoo = ZOO[(a.algo, a.env)]
    algo_cls = {"ppo": PPO, "dqn": DQN, "sac": SAC}[a.algo]
    env = make_vec_env(a.env, n_envs=zoo["n_envs"], seed=a.seed)
    model = algo_cls("MlpPolicy", env, seed=a.seed, verbose=0, **zoo["kwargs"])
    eval_env = make_vec_env(a.env, n_envs=1, seed=a.seed + 10_000)
    steps = a.max_steps or zoo["total"] * 3
    extra = {}
    if a.eval_every:
        stopper = StopOnEvalReturn(eval_env, a.stop_return, a.eval_every)
        model.learn(total_timesteps=steps, callback=stopper)
        mean, std, extra["num_evals"] = stopper.last_eval, None, stopper.num_evals
    else:
        model.learn(total_timesteps=steps, callback=StopOnReturn(a.stop_return))
        mean, std = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
    train_ret = float(np.mean([ep["r"] for ep in model.ep_info_buffer]))
    print(
        json.dumps(
            {
                "lib": "sb3",
                "seed": a.seed,
                "env_steps": int(model.num_timesteps),
                "train_return_mean": train_ret,
                "eval_return_mean": None if mean is None else float(mean),
                "eval_return_std": None if std is None else float(std),
                "wall_s_inside": time.perf_counter() - T0,
                **extra,
            }
        )
    )


if __name__ == "__main__":
    main()
