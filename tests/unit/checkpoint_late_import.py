"""A module that tests import only on purpose: importing it leaves a marker file.

``test_checkpoint_security`` points checkpoints at classes in here to check that
loading never imports a module a checkpoint names (unless ``trusted=True``).
Not a test file: pytest does not collect it.
"""

from __future__ import annotations

import os
from pathlib import Path

import gymnasium as gym

from tripod.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule

_marker = os.environ.get("TRIPOD_TEST_IMPORT_MARKER")
if _marker:
    Path(_marker).touch()


class LateModule(DefaultPPOTorchRLModule):
    """PPO's default module under another name, defined in a module nobody imported."""


class LateEnv(gym.Env):
    """An env class in a module nobody imported."""
