"""The one sampling path: ActionSampler draws actions and their log-probabilities for both runners."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tripod.core import Columns, MultiRLModuleSpec, RLModuleSpec, TorchRLModule
from tripod.core.distribution.torch.torch_distribution import TorchCategorical, TorchDiagGaussian
from tripod.env import MultiAgentEnvRunner, SingleAgentEnvRunner
from tripod.env.action_sampler import ActionSampler
from tripod.envs import MultiAgentCartPole

LOGITS = np.array([[0.0, 1.0, 2.0], [3.0, -1.0, 0.5]], dtype=np.float32)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class LinearPolicy(TorchRLModule):
    def setup(self):
        self.pi = nn.Linear(self.observation_space.shape[0], self.action_space.n)

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.pi(batch[Columns.OBS])}


def test_single_and_multi_agent_runners_share_the_sampler_class():
    single = SingleAgentEnvRunner("CartPole-v1", module_spec=RLModuleSpec(module_class=LinearPolicy), seed=0)
    spec = MultiRLModuleSpec(rl_module_specs={"p0": RLModuleSpec(module_class=LinearPolicy)})
    multi = MultiAgentEnvRunner(MultiAgentCartPole, module_spec=spec, seed=0)
    try:
        assert type(single.action_sampler) is ActionSampler
        assert type(multi.action_sampler) is ActionSampler
        # Both runners' batches carry the logp the sampler computes for their actions.
        for batch in (single.sample(num_timesteps=64), multi.sample(num_timesteps=64)["p0"]):
            logits, actions = batch[Columns.ACTION_DIST_INPUTS], batch[Columns.ACTIONS]
            expected = ActionSampler.categorical_logp(logits, actions)
            mask = batch[Columns.LOSS_MASK]
            np.testing.assert_allclose(batch[Columns.ACTION_LOGP][mask], expected[mask], rtol=1e-5, atol=1e-6)
    finally:
        single.stop()
        multi.stop()


@pytest.mark.parametrize("as_tensor", [False, True], ids=["numpy-gumbel", "torch-distribution"])
def test_sampled_frequencies_match_softmax(as_tensor):
    torch.manual_seed(0)
    sampler = ActionSampler(np.random.default_rng(0))
    rows = np.repeat(LOGITS, 20000, axis=0)
    inputs = torch.from_numpy(rows) if as_tensor else rows
    actions, logp = sampler.sample(inputs, explore=True, dist_cls=TorchCategorical)
    assert actions.shape == (rows.shape[0],) and logp.shape == (rows.shape[0],)
    probs = softmax(LOGITS)
    for i in range(LOGITS.shape[0]):
        picked = actions[i * 20000 : (i + 1) * 20000]
        freq = np.bincount(picked, minlength=3) / picked.size
        np.testing.assert_allclose(freq, probs[i], atol=0.01)


def test_logp_matches_the_distribution():
    sampler = ActionSampler(np.random.default_rng(1))
    actions, logp = sampler.sample(LOGITS, explore=True)
    torch_logp = torch.distributions.Categorical(logits=torch.from_numpy(LOGITS)).log_prob(
        torch.from_numpy(actions)
    )
    np.testing.assert_allclose(logp, torch_logp.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sampler.logp(LOGITS, actions), logp, rtol=1e-6)
    tensor_logp = sampler.logp(torch.from_numpy(LOGITS), actions, dist_cls=TorchCategorical)
    np.testing.assert_allclose(tensor_logp, logp, rtol=1e-5, atol=1e-6)
    # A continuous distribution goes through the module's distribution class.
    inputs = torch.tensor([[0.5, -0.5, 0.0, 0.0]])
    acts, gauss_logp = sampler.sample(inputs, explore=True, dist_cls=TorchDiagGaussian)
    expected = torch.distributions.Normal(torch.tensor([0.5, -0.5]), torch.ones(2)).log_prob(
        torch.from_numpy(acts)
    )
    np.testing.assert_allclose(gauss_logp, expected.sum(-1).numpy(), rtol=1e-5)


def test_greedy_takes_the_argmax_and_draws_no_noise():
    sampler = ActionSampler(np.random.default_rng(2))
    before = sampler.rng.bit_generator.state
    actions, logp = sampler.sample(LOGITS, explore=False)
    np.testing.assert_array_equal(actions, LOGITS.argmax(axis=1))
    assert logp is None and sampler.rng.bit_generator.state == before


def test_noise_is_one_flat_stream_whatever_the_piece_sizes():
    whole = ActionSampler(np.random.default_rng(3)).gumbel(50000, 3)
    pieces = ActionSampler(np.random.default_rng(3))
    parts = [pieces.gumbel(n, 3).copy() for n in (1, 7, 20000, 29992)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_noise_state_round_trip_continues_the_stream():
    sampler = ActionSampler(np.random.default_rng(4))
    sampler.gumbel(10, 2)
    rng_state, pool = sampler.rng.bit_generator.state, sampler.get_state()
    first = sampler.gumbel(100000, 2).copy()
    sampler.rng.bit_generator.state = rng_state
    sampler.set_state(pool)
    np.testing.assert_array_equal(sampler.gumbel(100000, 2), first)
