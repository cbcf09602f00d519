"""Space helpers (RLlib path: ``ray.rllib.utils.spaces``)."""
