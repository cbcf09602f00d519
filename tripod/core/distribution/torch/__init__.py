"""Torch action distributions (RLlib's ``ray.rllib.core.distribution.torch``)."""
