"""One run of a race in this (fresh) process: ``python -m tripod.benchmark.sides LIB ALGO ENV ...``.

Both sides train until 10 greedy episodes, run every ``--eval-every`` env steps on an env of their
own, average ``--stop-return`` (evaluation time counts), or ``--max-steps`` is reached; one torch
thread each. tripod trains with its preset (as ``tripod train`` does), SB3 with rl-baselines3-zoo's
hyperparameters. Prints one JSON line: env steps, the last evaluation, every evaluation as a curve
point ``[env_steps, seconds since start, greedy return]`` and the seconds inside the process.
"""

from __future__ import annotations

import argparse
import json
import time

T0 = time.perf_counter()  # counted from the interpreter's first tripod line, imports included


def _linear(start: float):
    return lambda progress: progress * start


#: rl-baselines3-zoo hyperparameters (hyperparams/ppo.yml, dqn.yml, sac.yml) for the races' tasks.
SB3_ZOO = {
    ("ppo", "CartPole-v1"): dict(n_envs=8, kwargs=dict(
        n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
        learning_rate=_linear(1e-3), clip_range=_linear(0.2))),
    ("dqn", "CartPole-v1"): dict(n_envs=1, kwargs=dict(
        learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1000, gamma=0.99,
        target_update_interval=10, train_freq=256, gradient_steps=128, exploration_fraction=0.16,
        exploration_final_eps=0.04, policy_kwargs=dict(net_arch=[256, 256]))),
    ("sac", "Pendulum-v1"): dict(n_envs=1, kwargs=dict(learning_rate=1e-3)),
}  # fmt: skip


def run_tripod(algo_name: str, env: str, stop_return: float, eval_every: int, seed: int, max_steps: int) -> dict:
    """Train ``algo_name`` on ``env`` with tripod's preset until the greedy evaluation reaches ``stop_return``."""
    import torch

    from tripod.algorithms.presets import get_preset
    from tripod.algorithms.registry import get_config_class

    torch.set_num_threads(1)
    config = get_config_class(algo_name)().environment(env).debugging(seed=seed)
    config.update_from_dict(get_preset(algo_name, env) or {})
    config.update_from_dict({"evaluation_interval": None})  # the race evaluates on its own cadence
    algo = config.build_algo()
    curve, next_eval, last = [], eval_every, None
    while algo.num_env_steps_sampled_lifetime < max_steps:
        algo.train()
        if algo.num_env_steps_sampled_lifetime >= next_eval:
            next_eval += eval_every
            last = algo.evaluate(10)["env_runners"]["episode_return_mean"]
            curve.append([algo.num_env_steps_sampled_lifetime, time.perf_counter() - T0, last])
            if last >= stop_return:
                break
    algo.stop()
    return {"env_steps": algo.num_env_steps_sampled_lifetime, "eval_return_mean": last, "curve": curve}


def run_sb3(algo_name: str, env: str, stop_return: float, eval_every: int, seed: int, max_steps: int) -> dict:
    """The same race with Stable-Baselines3 and its rl-zoo hyperparameters."""
    import torch
    from stable_baselines3 import DQN, PPO, SAC
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    torch.set_num_threads(1)
    zoo = SB3_ZOO[(algo_name, env)]
    curve: list[list[float]] = []

    class StopOnEvalReturn(BaseCallback):
        def __init__(self, eval_env):
            super().__init__()
            self.eval_env, self.next_eval = eval_env, eval_every

        def _on_step(self) -> bool:
            if self.num_timesteps < self.next_eval:
                return True
            self.next_eval += eval_every
            mean, _ = evaluate_policy(self.model, self.eval_env, n_eval_episodes=10, deterministic=True)
            curve.append([self.num_timesteps, time.perf_counter() - T0, float(mean)])
            return float(mean) < stop_return

    cls = {"ppo": PPO, "dqn": DQN, "sac": SAC}[algo_name]
    model = cls("MlpPolicy", make_vec_env(env, n_envs=zoo["n_envs"], seed=seed), seed=seed, verbose=0,
                device="cpu", **zoo["kwargs"])  # fmt: skip
    model.learn(total_timesteps=max_steps, callback=StopOnEvalReturn(make_vec_env(env, n_envs=1, seed=seed + 10_000)))
    return {"env_steps": int(model.num_timesteps), "eval_return_mean": curve[-1][2] if curve else None,
            "curve": curve}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lib", choices=["tripod", "sb3"])
    parser.add_argument("algo")
    parser.add_argument("env")
    parser.add_argument("--stop-return", type=float, required=True)
    parser.add_argument("--eval-every", type=int, required=True)
    parser.add_argument("--max-steps", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args(argv)
    run = run_tripod if a.lib == "tripod" else run_sb3
    out = run(a.algo, a.env, a.stop_return, a.eval_every, a.seed, a.max_steps)
    print(json.dumps({"lib": a.lib, "seed": a.seed, **out, "inside_s": time.perf_counter() - T0}))


if __name__ == "__main__":
    main()
