"""tripod.core.networks."""
