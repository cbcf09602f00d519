"""DQN's torch module (RLlib path: ``ray.rllib.algorithms.dqn.torch``)."""
