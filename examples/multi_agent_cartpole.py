"""Two agents, one module each: independent PPO on MultiAgentCartPole, then each module restored alone.

    python examples/multi_agent_cartpole.py           # until both agents average 450 (~60k env steps, ~1 min)
    python examples/multi_agent_cartpole.py --fast    # 3 iterations: a smoke test of the whole loop
    python examples/multi_agent_cartpole.py --frozen  # agent 1 plays a fixed heuristic module that is not trained

Each agent balances its own pole; agent ``i`` is mapped to module ``"p{i}"``. The
results hold per-agent and per-module returns next to the overall episode return
(the sum over agents), and ``result["learners"]`` one entry per trained module.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from tripod.algorithms.ppo import PPOConfig
from tripod.core import Columns, RLModule, RLModuleSpec
from tripod.envs import CartPoleHeuristicModule, MultiAgentCartPole


def agent_to_module(agent_id, episode, **kwargs):
    """Agent i plays module "p{i}" (a module-level function, so checkpoints can name it)."""
    return f"p{agent_id}"


def build_config(seed: int = 0, frozen: bool = False) -> PPOConfig:
    """PPO with one module per agent; with ``frozen``, p1 is a fixed heuristic and only p0 learns."""
    policies = {"p0": None, "p1": RLModuleSpec(module_class=CartPoleHeuristicModule) if frozen else None}
    return (
        PPOConfig()
        .environment(MultiAgentCartPole, env_config={"num_agents": 2})
        .env_runners(num_envs_per_env_runner=4)
        .training(
            lr=1e-3,
            gamma=0.98,
            lambda_=0.8,
            train_batch_size_per_learner=2048,
            minibatch_size=256,
            num_epochs=10,
        )
        .rl_module(model_config={"fcnet_hiddens": [64, 64]})
        .multi_agent(
            policies=policies,
            policy_mapping_fn=agent_to_module,
            policies_to_train=["p0"] if frozen else None,
        )
        .debugging(seed=seed)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fast", action="store_true", help="train 3 iterations only")
    parser.add_argument("--frozen", action="store_true", help="agent 1 uses a fixed heuristic module")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    algo = build_config(args.seed, args.frozen).build_algo()
    for _ in range(3 if args.fast else 100):
        result = algo.train()
        runners = result["env_runners"]
        per_agent = runners["agent_episode_returns_mean"]
        losses = ", ".join(f"{mid} {stats['policy_loss']:+.4f}" for mid, stats in result["learners"].items())
        print(
            f"iter {result['training_iteration']:3d}  env steps {result['num_env_steps_sampled_lifetime']:7d}  "
            f"return {runners['episode_return_mean']:6.1f}  "
            + "  ".join(f"agent {a} {r:5.1f}" for a, r in sorted(per_agent.items()))
            + f"  policy loss {losses}"
        )
        if per_agent and min(per_agent.values()) >= 450:
            break

    evaluation = algo.evaluate(num_episodes=10)["env_runners"]
    for agent_id, ret in sorted(evaluation["agent_episode_returns_mean"].items()):
        print(f"greedy evaluation return of agent {agent_id}: {ret:.1f}")

    path = Path(tempfile.mkdtemp(prefix="tripod-ma-cartpole-")) / "checkpoint"
    algo.save_to_path(path)
    p0 = RLModule.from_checkpoint(path / "module" / "p0")  # one module, without the algorithm
    obs = {Columns.OBS: torch.zeros(1, 4)}
    same = torch.equal(
        p0.forward_inference(obs)[Columns.ACTION_DIST_INPUTS],
        algo.get_module("p0").forward_inference(obs)[Columns.ACTION_DIST_INPUTS],
    )
    print(f"checkpoint: {path}; module p0 restored alone gives the same logits: {same}")
    algo.stop()


if __name__ == "__main__":
    main()
