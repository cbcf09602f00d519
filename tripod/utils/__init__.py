"""tripod.utils."""
