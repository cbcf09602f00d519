"""Train the tutorial's module with policy gradient, its batch bug fixed.

The tutorial (``seed_notebook.py``) picks actions with ``np.argmax(logits)`` and
``np.random.choice(n)``, which return one action for a whole batch; tripod's
runners reject that with an explanation. The fix is two lines: reduce over the
last dimension only, and draw one random action per row. The module has no
value function, so it trains with plain REINFORCE.

    python examples/pg_tutorial_module.py
"""

from typing import Any

import numpy as np
import torch
import torch.nn as nn

from tripod.algorithms.pg import PGConfig
from tripod.core.rl_module.rl_module import RLModuleSpec
from tripod.core.rl_module.torch.torch_rl_module import TorchRLModule


class DiscreteTorchModule(TorchRLModule):
    """The tutorial's module with batch-correct action selection."""

    def setup(self):
        input_dim = self.observation_space.shape[0]
        hidden_dim = self.model_config["fcnet_hiddens"][0]
        output_dim = self.action_space.n
        self.policy = nn.Sequential(
            nn.Linear(input_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, output_dim),
        )

    def _forward_inference(self, batch: dict[str, Any]) -> dict[str, Any]:
        with torch.no_grad():
            return {"actions": self.policy(batch["obs"]).argmax(dim=-1)}  # was: np.argmax(...)

    def _forward_exploration(self, batch: dict[str, Any]) -> dict[str, Any]:
        exploration_epsilon = self.model_config.get("epsilon", 0.0)
        if np.random.rand() < exploration_epsilon:
            n = len(batch["obs"])
            return {"actions": np.random.randint(self.action_space.n, size=n)}  # was: np.random.choice(n)
        logits = self.policy(batch["obs"])
        return {"action_dist_inputs": torch.distributions.Categorical(logits=logits)}

    def _forward_train(self, batch: dict[str, Any]) -> dict[str, Any]:
        action_logits = self.policy(batch["obs"])
        return {"action_dist_inputs": torch.distributions.Categorical(logits=action_logits)}


def build_config(seed: int = 0) -> PGConfig:
    """PG on CartPole-v1 with the tutorial module."""
    return (
        PGConfig()
        .environment("CartPole-v1")
        .env_runners(num_envs_per_env_runner=8)
        .training(lr=0.005, gamma=0.99, train_batch_size_per_learner=2000)
        .rl_module(
            rl_module_spec=RLModuleSpec(
                module_class=DiscreteTorchModule, model_config={"fcnet_hiddens": [64]}
            )
        )
        .debugging(seed=seed)
    )


if __name__ == "__main__":
    algo = build_config().build_algo()
    for i in range(60):
        result = algo.train()
        ret = result["env_runners"]["episode_return_mean"]
        print(f"iter {i + 1:3d}  steps {result['num_env_steps_sampled_lifetime']:7d}  return {ret:7.1f}")
        if ret >= 200:
            break
    print("greedy evaluation:", algo.evaluate(10)["env_runners"]["episode_return_mean"])
