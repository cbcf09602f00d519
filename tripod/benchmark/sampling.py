"""The sampling race: env steps/s of tripod's env runner against SB3's rollout collection, in this process.

CartPole-v1, a 64x64 tanh MLP policy, 1 / 8 / 64 envs, one torch thread. Columns: tripod with the
policy alone (PPO computes values later, in one batched pass in the learner), tripod with a value
head run on every step as well (as SB3's actor-critic does while collecting) and SB3 PPO's
``collect_rollouts``. Best of ``rounds`` repetitions, the libraries interleaved.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from tripod.core.columns import Columns
from tripod.core.rl_module.rl_module import RLModuleSpec
from tripod.core.rl_module.torch.torch_rl_module import TorchRLModule
from tripod.env.single_agent_env_runner import SingleAgentEnvRunner

__all__ = ["ENV_COUNTS", "sampling_race"]

ENV_COUNTS = (1, 8, 64)
_STEPS = {1: 4096, 8: 8192, 64: 65536}


def _mlp(inp: int, out: int) -> nn.Module:
    return nn.Sequential(nn.Linear(inp, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, out))


class BenchPolicy(TorchRLModule):
    """64x64 policy; ``model_config["vf"]`` adds a 64x64 value head run on every step."""

    def setup(self) -> None:
        d = self.observation_space.shape[0]
        self.pi = _mlp(d, self.action_space.n)
        self.with_vf = bool(self.model_config.get("vf"))
        if self.with_vf:
            self.vf = _mlp(d, 1)

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        obs = batch[Columns.OBS]
        out = {Columns.ACTION_DIST_INPUTS: self.pi(obs)}
        if self.with_vf:
            out[Columns.VF_PREDS] = self.vf(obs).squeeze(-1)
        return out


def tripod_rate(num_envs: int, with_vf: bool, reps: int = 3) -> float:
    """Best env steps/s of ``SingleAgentEnvRunner.sample()`` over ``reps`` rounds."""
    steps = _STEPS[num_envs]
    spec = RLModuleSpec(module_class=BenchPolicy, model_config={"vf": with_vf})
    runner = SingleAgentEnvRunner("CartPole-v1", module_spec=spec, num_envs=num_envs, seed=0)
    runner.sample(num_timesteps=steps)
    best = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        runner.sample(num_timesteps=steps)
        best = max(best, runner.get_metrics()["num_env_steps_sampled"] / (time.perf_counter() - t0))
    runner.stop()
    return best


def sb3_rate(num_envs: int, reps: int = 2) -> float:
    """Best env steps/s of SB3 PPO's ``collect_rollouts`` (the same network) over ``reps`` rounds."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import CallbackList
    from stable_baselines3.common.env_util import make_vec_env

    n_steps = _STEPS[num_envs] // num_envs
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


def sampling_race(rounds: int = 2, with_sb3: bool = True, env_counts: tuple[int, ...] = ENV_COUNTS) -> list[dict]:
    """``[{"num_envs", "tripod", "tripod_vf", "sb3"}]``: the best env steps/s of each column."""
    torch.set_num_threads(1)
    rows = []
    for n in env_counts:
        best = {"tripod": 0.0, "tripod_vf": 0.0, "sb3": 0.0 if with_sb3 else None}
        for _ in range(rounds):
            best["tripod"] = max(best["tripod"], tripod_rate(n, False))
            best["tripod_vf"] = max(best["tripod_vf"], tripod_rate(n, True))
            if with_sb3:
                best["sb3"] = max(best["sb3"], sb3_rate(n))
        rows.append({"num_envs": n, **best})
    return rows
