"""Checkpoints: save an algorithm, restore it and keep training; export the module and deploy it.

1. Train PPO on CartPole-v1 for a few iterations and save an algorithm checkpoint.
2. Rebuild the algorithm with ``Algorithm.from_checkpoint`` (weights, optimizer
   state, counters and RNG states come back) and train on.
3. Save the trained module alone and load it with ``RLModule.from_checkpoint``.
4. Run it greedily in a plain gymnasium loop, without any tripod machinery.
5. Copy weights between modules with ``get_state`` / ``set_state``, including
   into an ``inference_only`` copy.

    python examples/checkpoint_and_restore.py          # 20 iterations, then restore and deploy
    python examples/checkpoint_and_restore.py --fast   # 2 iterations
    python examples/checkpoint_and_restore.py --dir ckpts   # keep the checkpoints (default: temp dir)
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from tripod.algorithms.algorithm import Algorithm
from tripod.algorithms.ppo import PPOConfig
from tripod.core import Columns, RLModule, RLModuleSpec


def greedy_return(module: RLModule, env: gym.Env, seed: int) -> float:
    """One greedy episode with ``module.forward_inference``; returns its return."""
    dist_cls = module.get_inference_action_dist_cls()
    obs, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        batch = {Columns.OBS: torch.as_tensor(obs, dtype=torch.float32)[None]}  # a batch of one
        with torch.no_grad():
            out = module.forward_inference(batch)
        action = dist_cls.from_logits(out[Columns.ACTION_DIST_INPUTS]).to_deterministic().sample()
        obs, reward, terminated, truncated, _ = env.step(int(action[0]))
        total += float(reward)
        done = terminated or truncated
    return total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fast", action="store_true", help="train 2 iterations before saving")
    parser.add_argument("--dir", help="where to write the checkpoints (default: a new temp dir)")
    args = parser.parse_args()
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="tripod-ckpt-"))

    config = (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_envs_per_env_runner=16)
        .training(lr=2e-3, gamma=0.98, lambda_=0.8, train_batch_size_per_learner=2048, minibatch_size=512)
        .rl_module(model_config={"fcnet_hiddens": [64, 64]})
        .debugging(seed=0)
    )
    algo = config.build_algo()
    for _ in range(2 if args.fast else 20):
        result = algo.train()
    print(f"trained {algo.iteration} iterations, return {result['env_runners']['episode_return_mean']:.1f}")

    # 1. An algorithm checkpoint: config (JSON), module (safetensors), optimizer, counters, RNG states.
    algo_path = algo.save_to_path(root / "algo")
    print("algorithm checkpoint:", sorted(p.name for p in Path(algo_path).iterdir()))

    # 2. Restore it (the class is read from the checkpoint) and continue where it stopped.
    restored = Algorithm.from_checkpoint(algo_path)
    same = all(
        np.array_equal(a, b)
        for a, b in zip(algo.get_module().get_state().values(), restored.get_module().get_state().values())
    )
    print(f"restored {type(restored).__name__} at iteration {restored.iteration}, same weights: {same}")
    result = restored.train()
    print(
        f"restored run trained iteration {result['training_iteration']}, "
        f"env steps {result['num_env_steps_sampled_lifetime']}"
    )

    # 3. The module alone (what `tripod export` writes): metadata.json + module_state.safetensors.
    module_path = restored.get_module().save_to_path(root / "module")
    module = RLModule.from_checkpoint(module_path)
    print(f"loaded {type(module).__name__} from {module_path}")

    # 4. Deploy it in a plain gymnasium loop.
    env = gym.make("CartPole-v1")
    returns = [greedy_return(module, env, seed=100 + i) for i in range(3)]
    env.close()
    print(f"greedy returns of the loaded module: {returns}")

    # 5. Weights as a dict of numpy arrays: copy them into a fresh module, or into an inference-only
    #    copy (which has no value function: get_state(inference_only=True) leaves it out).
    fresh = RLModuleSpec.from_module(module).build()
    fresh.set_state(module.get_state())
    runner_spec = RLModuleSpec.from_module(module)
    runner_spec.inference_only = True
    runner_copy = runner_spec.build()
    runner_copy.set_state(module.get_state(inference_only=True))
    obs = torch.randn(5, 4)
    logits = module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
    for name, other in (("fresh", fresh), ("inference-only", runner_copy)):
        other_logits = other.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
        print(f"{name} copy gives the same logits: {torch.equal(logits, other_logits)}")
    print(f"inference-only copy has a value function: {hasattr(runner_copy, 'vf')}")
    algo.stop()
    restored.stop()


if __name__ == "__main__":
    main()
