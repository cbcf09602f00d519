"""tripod.env."""
