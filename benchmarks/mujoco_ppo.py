"""PPO on MuJoCo with observation and reward normalisation: tripod vs Stable-Baselines3 (rl-zoo settings).

Same step budget, same hyperparameters (rl-baselines3-zoo hyperparams/ppo.yml for HalfCheetah and
Hopper: one env, VecNormalize, ReLU 256x256 actor and critic), each side in a fresh process per
seed, one torch thread. tripod normalises with its connectors (``MeanStdFilter`` +
``NormalizeRewards``), SB3 with ``VecNormalize``; both start the log std at -2 (``log_std_init``).
Difference left: SB3's rl-zoo settings turn orthogonal init off; tripod's default module uses
torch's default init and a small (0.01) output layer for the policy.
After training, 10 greedy episodes with the final statistics (frozen). Needs ``tripod-rl[mujoco]``.

    python benchmarks/mujoco_ppo.py --env HalfCheetah-v5 --steps 200000 --seeds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ZOO = {
    "HalfCheetah-v5": dict(n_steps=512, batch_size=64, gamma=0.98, learning_rate=2.0633e-05, ent_coef=0.000401762,
                           clip_range=0.1, n_epochs=20, gae_lambda=0.92, max_grad_norm=0.8, vf_coef=0.58096),
    "Hopper-v5": dict(n_steps=512, batch_size=32, gamma=0.999, learning_rate=9.80828e-05, ent_coef=0.00229519,
                      clip_range=0.2, n_epochs=5, gae_lambda=0.99, max_grad_norm=0.7, vf_coef=0.835671),
}  # fmt: skip


def run_tripod(env: str, steps: int, seed: int) -> dict:
    import torch

    from tripod.algorithms.ppo import PPOConfig
    from tripod.connectors.env_to_module import MeanStdFilter, NormalizeRewards

    torch.set_num_threads(1)
    z = ZOO[env]
    config = (
        PPOConfig().environment(env)
        .env_runners(num_envs_per_env_runner=1,
                     env_to_module_connector=[MeanStdFilter(), NormalizeRewards(gamma=z["gamma"])])
        .training(train_batch_size_per_learner=z["n_steps"], minibatch_size=z["batch_size"],
                  num_epochs=z["n_epochs"], lr=z["learning_rate"], gamma=z["gamma"], lambda_=z["gae_lambda"],
                  clip_param=z["clip_range"], entropy_coeff=z["ent_coef"], vf_loss_coeff=z["vf_coef"],
                  grad_clip=z["max_grad_norm"])
        .rl_module(model_config={"fcnet_hiddens": [256, 256], "fcnet_activation": "relu", "free_log_std": True,
                                 "log_std_init": -2.0})
        .debugging(seed=seed)
    )  # fmt: skip
    algo = config.build()
    t0 = time.perf_counter()
    while algo.num_env_steps_sampled_lifetime < steps:
        algo.train()
    train_s = time.perf_counter() - t0
    greedy = algo.evaluate(10)["env_runners"]["episode_return_mean"]
    return {"steps": algo.num_env_steps_sampled_lifetime, "train_s": train_s, "greedy": greedy}


def run_sb3(env: str, steps: int, seed: int) -> dict:
    import numpy as np
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecNormalize
    from torch import nn

    torch.set_num_threads(1)
    z = ZOO[env]
    venv = VecNormalize(make_vec_env(env, n_envs=1, seed=seed), gamma=z["gamma"])
    model = PPO("MlpPolicy", venv, seed=seed, device="cpu", policy_kwargs=dict(
        log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU, net_arch=dict(pi=[256, 256], vf=[256, 256])), **z)
    t0 = time.perf_counter()
    model.learn(total_timesteps=steps)
    train_s = time.perf_counter() - t0
    eval_env = VecNormalize(make_vec_env(env, n_envs=1, seed=seed + 10_000), training=False, norm_reward=False)
    eval_env.obs_rms = venv.obs_rms
    greedy, _ = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
    return {"steps": int(model.num_timesteps), "train_s": train_s, "greedy": float(np.asarray(greedy))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="HalfCheetah-v5", choices=sorted(ZOO))
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--side", choices=["tripod", "sb3"], help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps((run_tripod if args.side == "tripod" else run_sb3)(args.env, args.steps, args.seed)))
        return
    print(f"{args.env}, {args.steps} env steps, load average {os.getloadavg()[0]:.2f}")
    print("| seed | library | env steps | train s | steps/s | greedy return |\n|---:|---|---:|---:|---:|---:|")
    out: dict[str, list[dict]] = {"tripod": [], "sb3": []}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for side in ("tripod", "sb3"):
            proc = subprocess.run([sys.executable, __file__, "--side", side, "--seed", str(seed), "--env", args.env,
                                   "--steps", str(args.steps)], capture_output=True, text=True, check=True)  # fmt: skip
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            out[side].append(r)
            print(f"| {seed} | {side} | {r['steps']} | {r['train_s']:.0f} | {r['steps'] / r['train_s']:,.0f} | "
                  f"{r['greedy']:.0f} |", flush=True)  # fmt: skip
    for side, runs in out.items():
        print(f"{side}: median greedy {statistics.median(r['greedy'] for r in runs):.0f}, median steps/s "
              f"{statistics.median(r['steps'] / r['train_s'] for r in runs):,.0f}")  # fmt: skip
    print(f"load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
