"""Env steps/s of EnvRunner.sample() vs Stable-Baselines3's rollout collection, one process.

CartPole-v1, a 64x64 tanh MLP policy, 1 / 8 / 64 envs, torch.set_num_threads(1).
Columns: tripod with the policy alone (PPO computes values later, in one batched
pass in the learner), tripod with a value head evaluated on every step as well
(SB3's actor-critic does this while collecting), and SB3 PPO's
``collect_rollouts``. Best of several repetitions, the libraries interleaved.
Target: >= 3x SB3 at every env count.

    python benchmarks/sampling.py [--rounds 2]
"""

import argparse
import time

import torch
from torch import nn

from tripod.core import Columns, RLModuleSpec, TorchRLModule
from tripod.env import SingleAgentEnvRunner

STEPS = {1: 4096, 8: 8192, 64: 65536}


def mlp(inp, out):
    return nn.Sequential(nn.Linear(inp, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, out))


class BenchPolicy(TorchRLModule):
    """64x64 policy; ``model_config["vf"]`` adds a 64x64 value head run on every step."""

    def setup(self):
        d = self.observation_space.shape[0]
        self.pi = mlp(d, self.action_space.n)
        self.with_vf = bool(self.model_config.get("vf"))
        if self.with_vf:
            self.vf = mlp(d, 1)

    def _forward(self, batch, **kwargs):
        obs = batch[Columns.OBS]
        out = {Columns.ACTION_DIST_INPUTS: self.pi(obs)}
        if self.with_vf:
            out[Columns.VF_PREDS] = self.vf(obs).squeeze(-1)
        return out


def tripod_rate(num_envs: int, with_vf: bool, reps: int = 3) -> float:
    steps = STEPS[num_envs]
    spec = RLModuleSpec(module_class=BenchPolicy, model_config={"vf": with_vf})
    runner = SingleAgentEnvRunner("CartPole-v1", module_spec=spec, num_envs=num_envs, seed=0)
    runner.sample(num_timesteps=steps)
    best = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        runner.sample(num_timesteps=steps)
        sampled = runner.get_metrics()["num_env_steps_sampled"]
        best = max(best, sampled / (time.perf_counter() - t0))
    runner.stop()
    return best


def sb3_rate(num_envs: int, reps: int = 2) -> float:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import CallbackList
    from stable_baselines3.common.env_util import make_vec_env

    n_steps = STEPS[num_envs] // num_envs
    env = make_vec_env("CartPole-v1", n_envs=num_envs, seed=0)
    model = PPO("MlpPolicy", env, n_steps=n_steps, batch_size=64, verbose=0, device="cpu")
    model._setup_learn(total_timesteps=10**9, callback=None)
    callback = CallbackList([])
    callback.init_callback(model)
    model.collect_rollouts(env, callback, model.rollout_buffer, n_rollout_steps=n_steps)
    best = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        model.collect_rollouts(env, callback, model.rollout_buffer, n_rollout_steps=n_steps)
        best = max(best, n_steps * num_envs / (time.perf_counter() - t0))
    env.close()
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f"{'envs':>5} {'tripod':>10} {'tripod+vf':>10} {'SB3':>10}   ratio (policy / +vf)")
    for n in (1, 8, 64):
        best = {"tripod": 0.0, "vf": 0.0, "sb3": 0.0}
        for _ in range(args.rounds):
            best["tripod"] = max(best["tripod"], tripod_rate(n, False))
            best["vf"] = max(best["vf"], tripod_rate(n, True))
            best["sb3"] = max(best["sb3"], sb3_rate(n))
        print(
            f"{n:>5} {best['tripod']:>10,.0f} {best['vf']:>10,.0f} {best['sb3']:>10,.0f}   "
            f"{best['tripod'] / best['sb3']:.1f}x / {best['vf'] / best['sb3']:.1f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
