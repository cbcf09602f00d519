"""RLlib's callbacks at RLlib's path: ``tripod.callbacks.callbacks.RLlibCallback``."""

from tripod.callbacks.callbacks import DefaultCallbacks, RLlibCallback

__all__ = ["DefaultCallbacks", "RLlibCallback"]
