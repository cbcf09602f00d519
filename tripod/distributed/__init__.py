"""tripod.distributed."""
