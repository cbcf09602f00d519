"""The application layer the CLI drives: run directories, the training loop with stop criteria,
progress display, metric loggers, learning-curve plots and evaluation rollouts. Nothing below
the CLI imports it."""
