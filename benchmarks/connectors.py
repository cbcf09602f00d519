"""What connectors cost while sampling: env steps/s of SingleAgentEnvRunner.sample() with and without them.

The default PPO module (64x64) on CartPole-v1 and Pendulum-v1, 1 / 8 / 32 sub-envs, one thread.
Pipelines: none; MeanStdFilter (the issue's target: < 5 % of sampling); MeanStdFilter +
NormalizeRewards; FrameStackingEnvToModule(4). Each configuration is measured in rounds
interleaved with the others, and the median of the rounds is reported.

For scale, the arithmetic of the peers' normalisation on the same ``[N, obs]`` arrays is timed per
vector step too: tripod's ``MeanStdFilter`` call (recording included) against Stable-Baselines3's
``VecNormalize`` observation path (its ``RunningMeanStd.update`` then normalise and clip), when
SB3 is installed.

    python benchmarks/connectors.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from tripod.algorithms.ppo.ppo import PPO
from tripod.connectors.env_to_module import FrameStackingEnvToModule, MeanStdFilter, NormalizeRewards
from tripod.core.rl_module.rl_module import RLModuleSpec
from tripod.env.single_agent_env_runner import SingleAgentEnvRunner

PIPELINES = {
    "none": None,
    "MeanStdFilter": lambda env: [MeanStdFilter()],
    "MeanStd+NormalizeRewards": lambda env: [MeanStdFilter(), NormalizeRewards()],
    "FrameStack(4)": lambda env: [FrameStackingEnvToModule(num_frames=4)],
}


def make(env: str, num_envs: int, pipeline) -> SingleAgentEnvRunner:
    spec = RLModuleSpec(module_class=PPO.default_module_class, model_config={"fcnet_hiddens": [64, 64]})
    return SingleAgentEnvRunner(env, module_spec=spec, num_envs=num_envs, seed=0, env_to_module_connector=pipeline)


def rate(runner: SingleAgentEnvRunner, steps: int) -> float:
    t0 = time.perf_counter()
    runner.sample(num_timesteps=steps)
    return runner.get_metrics()["num_env_steps_sampled"] / (time.perf_counter() - t0)


def arithmetic_us(num_envs: int, obs_dim: int, calls: int = 20_000) -> tuple[float, float | None]:
    """Microseconds per vector step of tripod's MeanStdFilter call and of SB3's VecNormalize arithmetic."""
    import gymnasium as gym
    import numpy as np

    from tripod.connectors.connector_v2 import StepInfo

    obs = np.random.default_rng(0).normal(size=(num_envs, obs_dim)).astype(np.float32)
    piece = MeanStdFilter(gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32), gym.spaces.Discrete(2))
    info = StepInfo(starts=np.zeros(num_envs, bool))
    info.update = True

    def ours() -> None:
        for _ in range(calls):
            piece(obs, info)
        piece.end_round(True)

    try:
        from stable_baselines3.common.running_mean_std import RunningMeanStd
    except ImportError:
        return _best_us(ours, calls), None
    rms = RunningMeanStd(shape=(obs_dim,))

    def sb3() -> None:  # VecNormalize.step_wait's observation path
        for _ in range(calls):
            rms.update(obs)
            np.clip((obs - rms.mean) / np.sqrt(rms.var + 1e-8), -10.0, 10.0).astype(np.float32)

    return _best_us(ours, calls), _best_us(sb3, calls)


def _best_us(fn, calls: int, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, (time.perf_counter() - t0) / calls * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"load average {os.getloadavg()[0]:.2f}; median of {args.rounds} rounds, env steps/s")
    print(f"| env | sub-envs | {' | '.join(PIPELINES)} | MeanStdFilter cost |")
    print("|---|---:|" + "---:|" * (len(PIPELINES) + 1))
    for env in ("CartPole-v1", "Pendulum-v1"):
        for num_envs in (1, 8, 32):
            steps = 2048 * max(1, num_envs // 4)
            runners = {name: make(env, num_envs, p) for name, p in PIPELINES.items()}
            for runner in runners.values():
                runner.sample(num_timesteps=steps)  # warm up
                runner.get_metrics()
            rates = {name: [] for name in runners}
            for _ in range(args.rounds):
                for name, runner in runners.items():
                    rates[name].append(rate(runner, steps))
            med = {name: statistics.median(r) for name, r in rates.items()}
            cost = 1.0 - med["MeanStdFilter"] / med["none"]
            cells = " | ".join(f"{med[name]:,.0f}" for name in PIPELINES)
            print(f"| {env} | {num_envs} | {cells} | {cost:+.1%} |")
            for runner in runners.values():
                runner.stop()
    print("\nNormalisation arithmetic per vector step (best of 3 blocks of 20,000 calls), microseconds:")
    print("| obs dim | sub-envs | tripod MeanStdFilter | SB3 VecNormalize |\n|---:|---:|---:|---:|")
    for obs_dim, num_envs in ((4, 1), (4, 8), (4, 32), (17, 1)):
        ours, sb3 = arithmetic_us(num_envs, obs_dim)
        print(f"| {obs_dim} | {num_envs} | {ours:.1f} | {'-' if sb3 is None else f'{sb3:.1f}'} |")


if __name__ == "__main__":
    main()
