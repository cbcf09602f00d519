"""Model-level constants (RLlib path: ``ray.rllib.core.models``). tripod has no catalogs or
model configs: networks are built in ``setup()`` or with :mod:`tripod.core.networks`."""
