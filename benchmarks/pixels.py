"""Pixel PPO throughput: env steps/s of whole PPO training on MinAtar (and optionally ALE), tripod vs
Stable-Baselines3 with the same CNN, hyperparameters and step budget, in one run.

MinAtar, both sides: one conv layer (16 filters 3x3, stride 1, same padding) -> flatten -> 128 units
(ReLU), shared by the policy and value heads (SB3's CnnPolicy shares its features extractor).
ALE (``--env ALE/Pong-v5``), both sides: gymnasium's ``AtariPreprocessing`` (84x84 grey, frame skip
4, 30 no-op starts), a 4-frame stack (tripod: ``FrameStackingEnvToModule``, SB3: ``VecFrameStack``),
the Nature CNN with 512 shared units (SB3's ``CnnPolicy``), rewards sign-clipped on both sides.
Both: 8 envs x 128 steps = 1024 steps per update, 4 epochs of minibatches of 256, lr 2.5e-4; one
torch thread each.
Each side runs in a fresh process per seed (imports counted separately: "train s" is the training
loop only). Target (issue 12): tripod >= 2x SB3.

    python benchmarks/pixels.py [--env MinAtar/Breakout-v1] [--steps 50000] [--seeds 3]
    python benchmarks/pixels.py --env ALE/Pong-v5 --steps 10240 --seeds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

N_ENVS, N_STEPS, EPOCHS, MINIBATCH, LR = 8, 128, 4, 256, 2.5e-4


def run_tripod(env: str, steps: int, seed: int) -> dict:
    import torch

    from tripod.algorithms.ppo import PPOConfig

    torch.set_num_threads(1)
    config = (
        PPOConfig().env_runners(num_envs_per_env_runner=N_ENVS)
        .training(train_batch_size_per_learner=N_ENVS * N_STEPS, minibatch_size=MINIBATCH, num_epochs=EPOCHS,
                  lr=LR, gamma=0.99, lambda_=0.95, entropy_coeff=0.01, vf_loss_coeff=0.5, grad_clip=0.5)
        .debugging(seed=seed)
    )  # fmt: skip
    if env.startswith("ALE/"):
        config.environment(env, env_config={"atari_preprocessing": True}, clip_rewards=True)
        config.env_runners(env_to_module_connector=[{"type": "FrameStackingEnvToModule", "num_frames": 4}])
        config.rl_module(model_config={"fcnet_hiddens": [512], "fcnet_activation": "relu", "vf_share_layers": True})
    else:
        config.environment(env)
        config.rl_module(model_config={"conv_filters": [[16, 3, 1, "same"]], "conv_activation": "relu",
                                       "fcnet_hiddens": [128], "fcnet_activation": "relu", "vf_share_layers": True})
    algo = config.build()
    t0 = time.perf_counter()
    while algo.num_env_steps_sampled_lifetime < steps:
        result = algo.train()
    elapsed = time.perf_counter() - t0
    return {"steps": algo.num_env_steps_sampled_lifetime, "train_s": elapsed,
            "return": result["env_runners"]["episode_return_mean"]}  # fmt: skip


def run_sb3(env: str, steps: int, seed: int) -> dict:
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
    from torch import nn

    from tripod.env.env_creation import make_env_creator

    torch.set_num_threads(1)
    make_env_creator(env)  # registers the MinAtar / ALE ids with gymnasium

    class SmallCNN(BaseFeaturesExtractor):
        def __init__(self, space: gym.spaces.Box, features_dim: int = 128):
            super().__init__(space, features_dim)
            h, w, c = space.shape
            self.net = nn.Sequential(
                nn.Conv2d(c, 16, 3, 1, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * h * w, 128), nn.ReLU()
            )

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            return self.net(obs.permute(0, 3, 1, 2))

    if env.startswith("ALE/"):
        from stable_baselines3.common.atari_wrappers import ClipRewardEnv
        from stable_baselines3.common.vec_env import VecFrameStack

        def preprocessed(e: gym.Env) -> gym.Env:
            return ClipRewardEnv(gym.wrappers.AtariPreprocessing(e, grayscale_newaxis=True))

        venv = VecFrameStack(make_vec_env(env, n_envs=N_ENVS, seed=seed, env_kwargs={"frameskip": 1},
                                          wrapper_class=preprocessed), n_stack=4)  # fmt: skip
        policy, kwargs = "CnnPolicy", {}
    else:
        venv = make_vec_env(env, n_envs=N_ENVS, seed=seed)
        policy, kwargs = "MlpPolicy", {"features_extractor_class": SmallCNN, "net_arch": []}
    model = PPO(
        policy, venv, n_steps=N_STEPS, batch_size=MINIBATCH, n_epochs=EPOCHS, learning_rate=LR,
        gamma=0.99, gae_lambda=0.95, ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5, seed=seed, device="cpu",
        policy_kwargs=kwargs,
    )  # fmt: skip
    t0 = time.perf_counter()
    model.learn(total_timesteps=steps)
    elapsed = time.perf_counter() - t0
    returns = [ep["r"] for ep in model.ep_info_buffer]
    return {"steps": model.num_timesteps, "train_s": elapsed, "return": float(sum(returns) / max(1, len(returns)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="MinAtar/Breakout-v1")
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--side", choices=["tripod", "sb3"], help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:  # one measurement, in this fresh process
        run = run_tripod if args.side == "tripod" else run_sb3
        print(json.dumps(run(args.env, args.steps, args.seed)))
        return
    print(f"{args.env}, {args.steps} env steps, load average {os.getloadavg()[0]:.2f}")
    rates: dict[str, list[float]] = {"tripod": [], "sb3": []}
    for seed in range(args.seeds):
        for side in ("tripod", "sb3"):
            out = subprocess.run(
                [sys.executable, __file__, "--side", side, "--seed", str(seed), "--env", args.env,
                 "--steps", str(args.steps)], capture_output=True, text=True, check=True,
            )  # fmt: skip
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rates[side].append(r["steps"] / r["train_s"])
            print(f"seed {seed} {side:6s}: {r['steps']} steps in {r['train_s']:.1f} s = "
                  f"{rates[side][-1]:,.0f} steps/s, return {r['return']:.2f}")  # fmt: skip
    med = {side: statistics.median(v) for side, v in rates.items()}
    print(f"median steps/s: tripod {med['tripod']:,.0f}, SB3 {med['sb3']:,.0f}, "
          f"ratio {med['tripod'] / med['sb3']:.2f}x (load average now {os.getloadavg()[0]:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
