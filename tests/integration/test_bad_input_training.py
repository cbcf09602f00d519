"""Bad input found while an algorithm trains: the largest seed, and a value function of the
wrong shape (each test builds and trains a tiny algorithm; the rest of the bad-input tests
are in tests/unit/test_bad_input.py)."""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from tripod.algorithms.pg.pg import PGConfig
from tripod.algorithms.ppo.ppo import PPOConfig
from tripod.core import Columns, RLModuleSpec, TorchRLModule
from tripod.core.apis import ValueFunctionAPI
from tripod.core.rl_module.rl_module import DEFAULT_MODULE_ID
from tripod.core.rl_module.validation import ModuleOutputError


def test_the_largest_seed_builds_and_samples():
    def train_once():
        config = PPOConfig().environment("CartPole-v1").debugging(seed=2**63 - 1)
        algo = config.training(train_batch_size_per_learner=64, minibatch_size=32, num_epochs=1).build_algo()
        try:
            return algo.train(), algo.get_module().get_state()
        finally:
            algo.stop()

    result, weights = train_once()
    assert result["num_env_steps_sampled_lifetime"] == 64
    assert np.isfinite(result["learners"][DEFAULT_MODULE_ID]["total_loss"])
    _, again = train_once()  # the seed is used as given (no overflow into an unseeded run)
    assert weights.keys() == again.keys()
    for key, value in weights.items():
        np.testing.assert_array_equal(again[key], value)


# ============================================================================ compute_values
class ColumnValues(TorchRLModule, ValueFunctionAPI):
    """A PPO-style module whose ``compute_values`` forgets to squeeze: [B, 1]."""

    def setup(self):
        self.pi = nn.Linear(4, 2)
        self.vf = nn.Linear(4, 1)

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.pi(batch[Columns.OBS])}

    def compute_values(self, batch, embeddings=None):
        return self.vf(batch[Columns.OBS])


@pytest.mark.parametrize("config_cls", [PPOConfig, PGConfig])
def test_compute_values_of_shape_b1_is_an_error(config_cls):
    config = (
        config_cls()
        .environment("CartPole-v1")
        .training(train_batch_size_per_learner=64, minibatch_size=32, num_epochs=1)
        .rl_module(rl_module_spec=RLModuleSpec(module_class=ColumnValues))
    )
    if config_cls is PGConfig:
        config.training(use_baseline=True)
    algo = config.build_algo()
    with pytest.raises(ModuleOutputError, match=r"ColumnValues.compute_values\(\) returned a tensor of shape "
                       r"\(\d+, 1\); expected \(\d+,\), one value per row.*\.squeeze\(-1\)"):  # fmt: skip
        algo.train()
    algo.stop()
