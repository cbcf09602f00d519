"""RLlib's ``ray.rllib.utils.metrics`` path: :class:`~tripod.utils.metrics.metrics_logger.MetricsLogger`."""
