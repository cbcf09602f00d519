"""tripod.data."""
