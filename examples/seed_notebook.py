"""The tutorial "Understanding RLModules for custom policies" with only its imports changed.

The module code below is the tutorial's, unchanged (bugs included: its
``np.argmax`` and ``np.random.choice`` return one action for a whole batch,
which tripod's runners reject with an explanation). Run it with
``python examples/seed_notebook.py``; it prints what the tutorial prints.
"""

# In [1]: the tutorial's imports, with `ray.rllib` replaced by `tripod`.
import gymnasium as gym
from tripod.core.rl_module.rl_module import RLModuleSpec
from typing import Any, Dict
from tripod.core.rl_module.torch.torch_rl_module import TorchRLModule

import torch
import torch.nn as nn
import numpy as np

# Not in the tutorial: fixed seeds so the printed values are reproducible.
torch.manual_seed(0)
np.random.seed(0)


# In [2]
class DiscreteTorchModule(TorchRLModule):  # We inherit from base class TorchRLModule

    def __init__(
        self,
        observation_space,
        action_space,
        inference_only,
        model_config,
        catalog_class,
    ) -> None:
        super().__init__(
            observation_space=observation_space,
            action_space=action_space,
            inference_only=inference_only,
            model_config=model_config,
            catalog_class=catalog_class,
        )

    def setup(self):
        # Here we are going to create the policy network (neural network)
        input_dim = self.observation_space.shape[
            0
        ]  # The neural network input dimension is the same as the observation space dimension
        hidden_dim = self.model_config["fcnet_hiddens"][
            0
        ]  # Represents the number of hidden units in the neural network
        output_dim = (
            self.action_space.n
        )  # Finally, we have one neuron (output) per action in the action space

        self.policy = nn.Sequential(  # Here we create the neural network using PyTorch
            nn.Linear(input_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, output_dim),
        )

        self.input_dim = input_dim

    def _forward_inference(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        # Forward pass for training.
        with torch.no_grad():  # It disables gradient calculation and therefore no weight updates could be applied (and we don't want it since we are not training)
            action = np.argmax(self.policy(batch["obs"]))
            return {"actions": action}

    def _forward_exploration(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        exploration_epsilon = 0.2
        if np.random.rand() < exploration_epsilon:
            # Random action exploration
            action = np.random.choice(self.action_space.n)
            return {"actions": action}
        else:
            # Use logits from policy network for action selection
            logits = self.policy(batch["obs"])
            return {
                "action_dist_inputs": torch.distributions.Categorical(logits=logits)
            }

    def _forward_train(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        # Forward pass for training
        action_logits = self.policy(
            batch["obs"]
        )  # Here we pass the observation to the neural network and accounts the gradients
        # Be aware that the gradients are accounted here because we are training

        # When using a discrete action space, the neural network output is not the action itself, but the logits of the action distribution, therefore we need to apply a softmax function to get the discrete action. Therefore, we have one neural network output per action in the action space.
        return {
            "action_dist_inputs": torch.distributions.Categorical(logits=action_logits)
        }  # You can read more about the Categorical distribution in the PyTorch documentation here https://pytorch.org/docs/stable/distributions.html#categorical


# In [3]
env = gym.make("CartPole-v1")
env.observation_space.seed(0)  # Not in the tutorial: reproducible observation.
spec = RLModuleSpec(
    module_class=DiscreteTorchModule,
    observation_space=env.observation_space,
    action_space=env.action_space,
    model_config={"fcnet_hiddens": [64]},
)

rlmodule = spec.build()

# In [4]
batch = {"obs": torch.from_numpy(env.observation_space.sample())}
print(f"Obs: {batch['obs']}")

# Forward inference
inference = rlmodule.forward_inference(batch)
inference_actions = inference["actions"]
print(f"Action: {inference_actions}")

# In [5]
# Forward exploration
exploration = rlmodule.forward_exploration(batch)
if "action" in exploration:
    print(f"Action: {exploration['actions']}")
elif "action_dist_inputs" in exploration:
    exploration_action_dist_inputs = exploration["action_dist_inputs"]
    print(f"Action dist: {exploration}")
    print(f"Logits: {exploration_action_dist_inputs.logits}")
    print(f"Probabilities: {exploration_action_dist_inputs.probs}")

# In [6]
# Forward train
train = rlmodule.forward_train(batch)
train_action_dist_inputs = train["action_dist_inputs"]
print(f"Action: {train_action_dist_inputs.sample()}")
print(f"Logits: {train_action_dist_inputs.logits}")
print(f"Probabilities: {train_action_dist_inputs.probs}")
