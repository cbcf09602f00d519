"""What tripod says when a module returns something it cannot use.

Each case below is a small, realistic mistake; the script triggers it and
prints the error tripod raises. The first is the bug of the RLlib RLModule
tutorial (``examples/seed_notebook.py``): ``np.argmax(logits)`` on a batch
returns one index for the whole batch.

    python examples/module_errors.py
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from tripod.algorithms.pg import PGConfig
from tripod.algorithms.ppo import PPOConfig
from tripod.core import Columns, RLModuleSpec, TorchRLModule


class TutorialArgmax(TorchRLModule):
    """The tutorial's greedy action: ``np.argmax`` over the whole [B, 2] logits array."""

    def setup(self):
        self.policy = nn.Linear(self.observation_space.shape[0], self.action_space.n)

    def _forward_inference(self, batch: dict[str, Any]) -> dict[str, Any]:
        with torch.no_grad():
            return {"actions": np.argmax(self.policy(batch["obs"]))}  # the bug: one index for the batch

    def _forward_exploration(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {"action_dist_inputs": torch.distributions.Categorical(logits=self.policy(batch["obs"]))}

    def _forward_train(self, batch: dict[str, Any]) -> dict[str, Any]:
        return self._forward_exploration(batch)


class TooManyLogits(TorchRLModule):
    """Three logits for CartPole's two actions."""

    def setup(self):
        self.net = nn.Linear(4, 3)

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.net(batch[Columns.OBS])}


class NumpyLogits(TooManyLogits):
    """Logits converted to numpy: tripod needs a tensor (or a torch Distribution)."""

    def setup(self):
        self.net = nn.Linear(4, 2)

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.net(batch[Columns.OBS]).numpy()}


class NaNLogits(NumpyLogits):
    """A module whose output is NaN (e.g. a log of zero)."""

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.net(batch[Columns.OBS]) * float("nan")}


class PolicyOnly(NumpyLogits):
    """A policy without a value function, given to PPO (which needs one by default)."""

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.net(batch[Columns.OBS])}


def pg(module_class: type) -> PGConfig:
    spec = RLModuleSpec(module_class=module_class)
    return (
        PGConfig()
        .environment("CartPole-v1")
        .env_runners(num_envs_per_env_runner=4)
        .training(train_batch_size_per_learner=200)
        .rl_module(rl_module_spec=spec)
        .debugging(seed=0)
    )


CASES: list[tuple[str, Callable[[], Any]]] = [
    ("np.argmax over a batch (the tutorial's bug)", lambda: pg(TutorialArgmax).build_algo().evaluate(2)),
    ("three logits for two actions", lambda: pg(TooManyLogits).build_algo().train()),
    ("numpy logits", lambda: pg(NumpyLogits).build_algo().train()),
    ("NaN logits", lambda: pg(NaNLogits).build_algo().train()),
    (
        "PPO without a value function",
        lambda: (
            PPOConfig()
            .environment("CartPole-v1")
            .rl_module(rl_module_spec=RLModuleSpec(module_class=PolicyOnly))
            .build_algo()
        ),
    ),
]


def main() -> None:
    for title, trigger in CASES:
        try:
            trigger()
        except Exception as err:  # noqa: BLE001 - printing the error is the point
            print(f"--- {title}\n{type(err).__name__}: {err}\n")
        else:
            raise SystemExit(f"--- {title}: no error was raised")
    print(f"all {len(CASES)} mistakes were caught")


if __name__ == "__main__":
    main()
