"""tripod: reinforcement learning built around RL modules.

Importing :mod:`tripod` does no work: subpackages (``tripod.core``,
``tripod.algorithms`` ...) are imported when used.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
