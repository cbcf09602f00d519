"""PPO's torch module (RLlib path: ``ray.rllib.algorithms.ppo.torch``)."""
