"""Learner-side helpers that module code uses (RLlib path: ``ray.rllib.core.learner``).

tripod's ``Learner`` and ``LearnerGroup`` live in :mod:`tripod.learner` (``tripod.learner.learner``,
``tripod.learner.learner_group``); this package holds only :mod:`tripod.core.learner.utils`.
"""
