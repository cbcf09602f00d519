"""tripod.algorithms."""
