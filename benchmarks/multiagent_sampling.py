"""Agent steps/s of the MultiAgentEnvRunner, with the single-agent EnvRunner's env steps/s beside it.

One process, ``torch.set_num_threads(1)``, a 64x64 tanh MLP policy (logits only, as
PPO samples), best of several interleaved blocks (the machine may be shared).

* ``MultiAgentCartPole`` (2 agents, one CartPole-v1 each), C copies, one shared
  module: compared with ``SingleAgentEnvRunner`` on CartPole-v1 with 2C sub-envs in
  ``sync`` mode (the same gymnasium CartPole objects, the same number of agents).
  Agents leave when their pole falls, so a multi-agent forward batch holds about
  80 % of the 2C agents on average; the single-agent vector env resets at once.
* MPE2 ``simple_spread_v3`` (3 agents, PettingZoo parallel API, needs
  ``[multiagent]``), C copies, one shared module.

Next to each runner figure is the env alone (the same env stepped in a plain loop
with fixed actions), to separate the env's cost from the runner's. Target: the
multi-agent runner's cost per agent step within 1.5x of the single-agent runner's
cost per env step.

    python benchmarks/multiagent_sampling.py [--copies 1 4 8] [--blocks 8]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import torch
from torch import nn

from tripod.core import Columns, MultiRLModuleSpec, RLModuleSpec, TorchRLModule
from tripod.env import SingleAgentEnvRunner
from tripod.env.env_creation import make_env_creator
from tripod.env.multi_agent_env_runner import MultiAgentEnvRunner
from tripod.envs import MultiAgentCartPole

SPREAD = "pettingzoo:mpe2.simple_spread_v3"


class Policy(TorchRLModule):
    """A 64x64 tanh MLP returning logits."""

    def setup(self) -> None:
        d, n = self.observation_space.shape[0], self.action_space.n
        self.pi = nn.Sequential(nn.Linear(d, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, n))

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.pi(batch[Columns.OBS])}


def single_agent_block(runner: SingleAgentEnvRunner, steps: int) -> float:
    t0 = time.perf_counter()
    runner.sample(num_timesteps=steps)
    return runner.get_metrics()["num_env_steps_sampled"] / (time.perf_counter() - t0)


def multi_agent_block(runner: MultiAgentEnvRunner, env_steps: int) -> float:
    t0 = time.perf_counter()
    runner.sample(num_timesteps=env_steps)
    return runner.get_metrics()["num_agent_steps_sampled"] / (time.perf_counter() - t0)


def env_alone_block(envs: list, env_steps_per_copy: int) -> float:
    """Agent steps/s of stepping the envs themselves (every live agent takes action 0)."""
    agent_steps, t0 = 0, time.perf_counter()
    for env in envs:
        obs, _ = env.reset()
        for _ in range(env_steps_per_copy):
            agent_steps += len(obs)
            obs, _, terms, truncs, _ = env.step(dict.fromkeys(obs, 0))
            if terms["__all__"] or truncs["__all__"]:
                obs, _ = env.reset()
    return agent_steps / (time.perf_counter() - t0)


def measure(env_id, copies: int, agents: int, blocks: int, with_single_agent: bool) -> dict[str, float]:
    spec = MultiRLModuleSpec(rl_module_specs={"shared": RLModuleSpec(module_class=Policy)})
    ma = MultiAgentEnvRunner(env_id, module_spec=spec, num_envs=copies, seed=0)
    envs = [make_env_creator(env_id)() for _ in range(copies)]
    sa = None
    if with_single_agent:
        sa = SingleAgentEnvRunner(
            "CartPole-v1", module_spec=RLModuleSpec(module_class=Policy), num_envs=agents * copies,
            vectorize_mode="sync", seed=0,
        )  # fmt: skip
    steps = 300 * copies  # env steps per multi-agent block
    best = {"ma": 0.0, "sa": 0.0, "env": 0.0}
    ma.sample(num_timesteps=steps)
    ma.get_metrics()
    if sa is not None:
        sa.sample(num_timesteps=steps * agents)
        sa.get_metrics()
    for _ in range(blocks):
        best["ma"] = max(best["ma"], multi_agent_block(ma, steps))
        best["env"] = max(best["env"], env_alone_block(envs, 300))
        if sa is not None:
            best["sa"] = max(best["sa"], single_agent_block(sa, steps * agents))
    ma.stop()
    for env in envs:
        env.close()
    if sa is not None:
        sa.stop()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--no-spread", action="store_true", help="skip simple_spread (no [multiagent] extra)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    gym.logger.min_level = 40
    print("MultiAgentCartPole (2 agents per copy) vs single-agent CartPole-v1 with 2 sub-envs per copy")
    print(f"{'copies':>6} {'MA agent st/s':>14} {'SA env st/s':>12} {'env alone':>10}   cost ratio MA/SA")
    for c in args.copies:
        b = measure(MultiAgentCartPole, c, 2, args.blocks, with_single_agent=True)
        print(
            f"{c:>6} {b['ma']:>14,.0f} {b['sa']:>12,.0f} {b['env']:>10,.0f}   {b['sa'] / b['ma']:.2f}x",
            flush=True,
        )
    if args.no_spread:
        return
    print("MPE2 simple_spread_v3 (3 agents per copy), one shared module")
    print(f"{'copies':>6} {'MA agent st/s':>14} {'env alone':>10}   runner share of the time")
    for c in args.copies:
        b = measure(SPREAD, c, 3, max(2, args.blocks // 2), with_single_agent=False)
        print(f"{c:>6} {b['ma']:>14,.0f} {b['env']:>10,.0f}   {1 - b['ma'] / b['env']:.0%}", flush=True)


if __name__ == "__main__":
    main()
