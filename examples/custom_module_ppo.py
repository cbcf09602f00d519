"""A hand-written actor-critic RLModule, trained with PPO on CartPole-v1.

The module shows the pieces PPO needs from a custom module:

* ``setup()`` builds the networks from ``observation_space``, ``action_space``
  and ``model_config``; the value head is left out of ``inference_only``
  copies (the ones env runners sample with).
* ``_forward()`` returns logits under ``Columns.ACTION_DIST_INPUTS``; tripod
  picks the distribution from the action space (Categorical for Discrete).
* ``_forward_train()`` also returns the shared features under
  ``Columns.EMBEDDINGS``, which PPO passes to ``compute_values`` so the
  encoder runs once per minibatch.
* ``ValueFunctionAPI.compute_values()`` gives V(s) of shape [B] (PPO with
  ``use_critic=True`` requires it).
* ``InferenceOnlyAPI.get_non_inference_attributes()`` names the value head, so
  the weights sent to the runners leave it out.

    python examples/custom_module_ppo.py          # until the mean return reaches 450
    python examples/custom_module_ppo.py --fast   # 3 iterations
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
from torch import nn

from tripod.algorithms.ppo import PPOConfig
from tripod.core import Columns, RLModuleSpec, TorchRLModule
from tripod.core.apis import InferenceOnlyAPI, ValueFunctionAPI


class SharedTrunkActorCritic(TorchRLModule, ValueFunctionAPI, InferenceOnlyAPI):
    """One MLP trunk, a policy head and (except in inference-only copies) a value head."""

    def setup(self) -> None:
        hidden = self.model_config.get("hidden", 64)
        obs_dim = self.observation_space.shape[0]
        self.trunk = nn.Sequential(
            nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh()
        )
        self.pi = nn.Linear(hidden, self.action_space.n)
        if not self.inference_only:
            self.vf = nn.Linear(hidden, 1)

    def get_non_inference_attributes(self) -> list[str]:
        return ["vf"]

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # Used by forward_inference and forward_exploration (under no_grad, in eval mode).
        return {Columns.ACTION_DIST_INPUTS: self.pi(self.trunk(batch[Columns.OBS]))}

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        features = self.trunk(batch[Columns.OBS])
        return {Columns.ACTION_DIST_INPUTS: self.pi(features), Columns.EMBEDDINGS: features}

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        if embeddings is None:
            embeddings = self.trunk(batch[Columns.OBS])
        return self.vf(embeddings).squeeze(-1)


def build_config(seed: int = 0) -> PPOConfig:
    """PPO on CartPole-v1 with :class:`SharedTrunkActorCritic`."""
    return (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_envs_per_env_runner=16)
        .training(
            lr=2e-3,
            gamma=0.98,
            lambda_=0.8,
            train_batch_size_per_learner=2048,
            minibatch_size=512,
            num_epochs=10,
            # With one trunk for policy and value, a large value loss drowns the policy
            # gradient in the shared layers; a small weight keeps training stable.
            vf_loss_coeff=0.05,
        )
        .rl_module(
            rl_module_spec=RLModuleSpec(module_class=SharedTrunkActorCritic, model_config={"hidden": 64})
        )
        .debugging(seed=seed)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fast", action="store_true", help="train 3 iterations only")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    algo = build_config(args.seed).build_algo()
    module = algo.get_module()
    print(f"module: {type(module).__name__}, {sum(p.numel() for p in module.parameters())} parameters")
    for _ in range(3 if args.fast else 100):
        result = algo.train()
        ret = result["env_runners"]["episode_return_mean"]
        losses = result["learners"]["default_policy"]
        print(
            f"iter {result['training_iteration']:3d}  env steps {result['num_env_steps_sampled_lifetime']:7d}  "
            f"return {ret:6.1f}  vf loss {losses['vf_loss']:8.3f}"
        )
        if ret >= 450:
            break
    evaluation = algo.evaluate(num_episodes=10)["env_runners"]
    print(f"greedy evaluation return: {evaluation['episode_return_mean']:.1f}")
    algo.stop()


if __name__ == "__main__":
    main()
