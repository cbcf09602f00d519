"""SAC's torch module (RLlib path: ``ray.rllib.algorithms.sac.torch``)."""
