"""tripod's Adam matches torch.optim.Adam step for step, and its state round-trips."""

import pytest
import torch

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


@pytest.mark.parametrize("fused", [True, False])
def test_adam_matches_torch(fused):
    ours, ref = _net(0), _net(0)
    opt = Adam(ours.parameters(), lr=3e-3, eps=1e-7)
    opt._fused = fused
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


def _learner_with_clip(clip, by):
    from types import SimpleNamespace

    from tripod.learner.learner import Learner

    learner = Learner.__new__(Learner)
    learner.config = SimpleNamespace(grad_clip=clip, grad_clip_by=by)
    return learner


@pytest.mark.parametrize("by", ["global_norm", "norm", "value"])
def test_gradient_clipping_matches_torch(by):
    torch.manual_seed(0)
    ours = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(7))]
    ref = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    for p, q in zip(ours, ref):
        p.grad = torch.randn_like(p) * 3
        q.grad = p.grad.clone()
    total = _learner_with_clip(0.5, by)._clip_gradients(ours)
    if by == "global_norm":
        expected = torch.nn.utils.clip_grad_norm_(ref, 0.5)
        torch.testing.assert_close(total, expected)
    elif by == "norm":
        for q in ref:
            torch.nn.utils.clip_grad_norm_([q], 0.5)
    else:
        torch.nn.utils.clip_grad_value_(ref, 0.5)
    for p, q in zip(ours, ref):
        torch.testing.assert_close(p.grad, q.grad)
