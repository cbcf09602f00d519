"""tripod's Adam matches torch.optim.Adam step for step, its state round-trips, and the learner
clips gradients as torch does."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from tripod.algorithms.algorithm_config import AlgorithmConfig
from tripod.core import Columns, MultiRLModule, RLModuleSpec, TorchRLModule
from tripod.core.rl_module.rl_module import DEFAULT_MODULE_ID
from tripod.learner.learner import Learner
from tripod.learner.optim import Adam


def _net(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))


def _train(net, opt, steps=25):
    torch.manual_seed(123)
    for _ in range(steps):
        x = torch.randn(32, 4)
        loss = net(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("fused_kernel", [True, False], ids=["fused", "multi_tensor"])
def test_adam_matches_torch(fused_kernel, monkeypatch):
    if not fused_kernel:  # a torch build without the fused kernel: Adam takes its multi-tensor path
        monkeypatch.delattr(torch, "_fused_adam_", raising=False)
    elif not hasattr(torch, "_fused_adam_"):
        pytest.skip("this torch build has no fused Adam kernel")
    ours, ref = _net(0), _net(0)
    opt = Adam(ours.parameters(), lr=3e-3, eps=1e-7)
    _train(ours, opt)
    _train(ref, torch.optim.Adam(ref.parameters(), lr=3e-3, eps=1e-7))
    for a, b in zip(ours.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_adam_lr_change_and_state_round_trip():
    net_a, net_b = _net(1), _net(1)
    opt_a = Adam(net_a.parameters(), lr=1e-2)
    _train(net_a, opt_a, steps=5)
    net_b.load_state_dict(net_a.state_dict())
    opt_b = Adam(net_b.parameters(), lr=0.5)
    opt_b.load_state_dict(opt_a.state_dict())
    assert opt_b.param_groups[0]["lr"] == pytest.approx(1e-2)
    _train(net_a, opt_a, steps=5)
    _train(net_b, opt_b, steps=5)
    for a, b in zip(net_a.parameters(), net_b.parameters()):
        torch.testing.assert_close(a, b)


def test_adam_rejects_state_of_other_parameters():
    opt = Adam(_net(0).parameters())
    other = Adam([torch.nn.Parameter(torch.zeros(3))])
    with pytest.raises(ValueError, match="saved state has 1 parameters"):
        opt.load_state_dict(other.state_dict())
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([])


class _RecordingSGD:
    """An optimizer that changes nothing and keeps the gradients it was asked to apply (after clipping)."""

    def __init__(self, params):
        self.params = list(params)
        self.param_groups = [{"lr": 0.0}]
        self.applied: list[list[torch.Tensor]] = []

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            p.grad = None

    def step(self):
        self.applied.append([p.grad.detach().clone() for p in self.params])

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class _LinearModule(TorchRLModule):
    def setup(self):
        self.net = torch.nn.Linear(3, 2)

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.net(batch[Columns.OBS])}


class _ClipProbeLearner(Learner):
    """Loss 10 * sum(logits * obs[:, :2]): large gradients (clipping acts), recorded by the optimizer."""

    def configure_optimizer(self, module_id, module):
        return _RecordingSGD(module.parameters())

    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        return 10.0 * (fwd_out[Columns.ACTION_DIST_INPUTS] * batch[Columns.OBS][:, :2]).sum()


def _clip_probe(clip, by):
    space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    spec = RLModuleSpec(
        module_class=_LinearModule, observation_space=space, action_space=gym.spaces.Discrete(2)
    )
    config = AlgorithmConfig().training(grad_clip=clip, grad_clip_by=by, minibatch_size=None, num_epochs=1)
    module = MultiRLModule(rl_module_specs={DEFAULT_MODULE_ID: spec})
    return _ClipProbeLearner(config=config, module=module)


@pytest.mark.parametrize("by", ["global_norm", "norm", "value"])
def test_gradient_clipping_matches_torch(by):
    obs = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    learner = _clip_probe(0.5, by)
    unclipped = _clip_probe(None, by)
    unclipped.module.set_state(learner.module.get_state())
    results = learner.update({DEFAULT_MODULE_ID: {Columns.OBS: obs}}).get(DEFAULT_MODULE_ID, {})
    unclipped.update({DEFAULT_MODULE_ID: {Columns.OBS: obs}})
    (ours,) = learner.optimizers[DEFAULT_MODULE_ID].applied
    (raw,) = unclipped.optimizers[DEFAULT_MODULE_ID].applied
    ref = [torch.nn.Parameter(torch.zeros_like(g)) for g in raw]
    for q, g in zip(ref, raw):
        q.grad = g.clone()
    if by == "global_norm":
        expected = torch.nn.utils.clip_grad_norm_(ref, 0.5)
        assert expected > 1.0  # the gradients really were clipped
        assert results["gradients_global_norm"] == pytest.approx(float(expected), rel=1e-5)
    elif by == "norm":
        for q in ref:
            torch.nn.utils.clip_grad_norm_([q], 0.5)
        assert "gradients_global_norm" not in results
    else:
        torch.nn.utils.clip_grad_value_(ref, 0.5)
        assert "gradients_global_norm" not in results
    assert any(not torch.allclose(g, q.grad) for g, q in zip(raw, ref))  # clipping changed something
    for p, q in zip(ours, ref):
        torch.testing.assert_close(p, q.grad)
