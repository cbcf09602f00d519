"""tripod.learner."""
