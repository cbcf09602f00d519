"""RLlib's public helper paths (``ray.rllib.utils.*`` with ``ray.rllib`` replaced by ``tripod``).

tripod's own foundations live in :mod:`tripod.io` and the application layer in :mod:`tripod.run`.
"""
