"""Torch model helpers (RLlib path: ``ray.rllib.models.torch``)."""
