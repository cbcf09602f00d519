"""Unit tests for tripod.core.distribution (maths checked against torch.distributions)."""

import pickle

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import distributions as td

from tripod.core.distribution.action_dist import get_action_dist_cls, make_action_dist
from tripod.core.distribution.distribution import Distribution, PartialDistCls
from tripod.core.distribution.torch.torch_distribution import (
    LOG_STD_MAX,
    LOG_STD_MIN,
    TorchCategorical,
    TorchDeterministic,
    TorchDiagGaussian,
    TorchDistributionWrapper,
    TorchMultiCategorical,
    TorchSquashedGaussian,
)

B = 6


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def gauss_logits(*shape, dtype=torch.float32):
    """Random Gaussian logits whose log_std stays inside the clamp range."""
    return torch.randn(*shape, dtype=dtype).clamp(-1.5, 1.5)


def close(a, b, atol=1e-5):
    torch.testing.assert_close(a, b, atol=atol, rtol=1e-5)


# ---------------------------------------------------------------- Categorical


def test_categorical_matches_torch():
    logits, other = torch.randn(B, 4), torch.randn(B, 4)
    d, ref = TorchCategorical.from_logits(logits), td.Categorical(logits=logits)
    a = d.sample()
    assert a.shape == (B,) and a.dtype == torch.int64
    assert d.logits is logits
    close(d.logp(a), ref.log_prob(a))
    close(d.entropy(), ref.entropy())
    close(d.kl(TorchCategorical.from_logits(other)), td.kl_divergence(ref, td.Categorical(logits=other)))
    close(d.probs, torch.softmax(logits, -1))
    assert d.sample(sample_shape=(3,)).shape == (3, B)


def test_categorical_unbatched_and_probs():
    d = TorchCategorical.from_logits(torch.tensor([0.0, 3.0, 1.0]))
    assert d.sample().shape == ()
    assert d.logp(torch.tensor(1)).shape == ()
    assert d.to_deterministic().sample().item() == 1
    p = torch.tensor([[0.2, 0.8]])
    close(TorchCategorical(probs=p).logp(torch.tensor([1])), p[:, 1].log())
    with pytest.raises(ValueError, match="exactly one"):
        TorchCategorical()


def test_categorical_deterministic_and_no_rsample():
    logits = torch.randn(B, 5)
    det = TorchCategorical.from_logits(logits).to_deterministic()
    assert isinstance(det, TorchDeterministic)
    assert torch.equal(det.sample(), logits.argmax(-1))
    close(det.logp(det.sample()), torch.zeros(B))
    close(det.entropy(), torch.zeros(B))
    with pytest.raises(NotImplementedError, match="does not support rsample"):
        TorchCategorical.from_logits(logits).rsample()


def test_categorical_kl_type_check():
    with pytest.raises(TypeError, match="needs another TorchCategorical"):
        TorchCategorical.from_logits(torch.randn(2, 3)).kl(TorchDiagGaussian.from_logits(torch.randn(2, 4)))


def test_categorical_sample_frequencies_and_grad():
    logits = torch.tensor([[0.0, 1.0, 2.0], [2.0, -1.0, 0.0]], requires_grad=True)
    d = TorchCategorical.from_logits(logits)
    a = d.sample(sample_shape=(20000,))
    assert a.shape == (20000, 2)
    freq = torch.stack([torch.bincount(a[:, i], minlength=3) for i in range(2)]).float() / 20000
    close(freq, torch.softmax(logits.detach(), -1), atol=0.02)
    d.entropy().sum().backward()  # probs were cached by sample(); they must still carry gradient
    assert logits.grad.abs().sum() > 0


def test_categorical_subclass_is_delegated():
    class Masked(td.Categorical):
        def log_prob(self, value):
            return torch.full(value.shape, -7.0)

    d = make_action_dist(Masked(logits=torch.randn(B, 3)))
    assert isinstance(d, TorchCategorical)
    close(d.logp(torch.zeros(B, dtype=torch.long)), torch.full((B,), -7.0))


# ----------------------------------------------------------- MultiCategorical


@pytest.mark.parametrize("lens", [(3, 3, 3), (2, 5, 3)])
def test_multicategorical_matches_torch(lens):
    logits, other = torch.randn(B, sum(lens)), torch.randn(B, sum(lens))
    d = TorchMultiCategorical.from_logits(logits, input_lens=list(lens))
    o = TorchMultiCategorical.from_logits(other, input_lens=lens)
    refs = [td.Categorical(logits=chunk) for chunk in logits.split(lens, -1)]
    orefs = [td.Categorical(logits=chunk) for chunk in other.split(lens, -1)]
    a = d.sample()
    assert a.shape == (B, len(lens)) and a.dtype == torch.int64
    for i, n in enumerate(lens):
        assert a[:, i].min() >= 0 and a[:, i].max() < n
    close(d.logp(a), sum(r.log_prob(a[:, i]) for i, r in enumerate(refs)))
    close(d.entropy(), sum(r.entropy() for r in refs))
    close(d.kl(o), sum(td.kl_divergence(r, q) for r, q in zip(refs, orefs)))
    expected = torch.stack([c.argmax(-1) for c in logits.split(lens, -1)], -1)
    assert torch.equal(d.to_deterministic().sample(), expected)
    assert d.sample(sample_shape=(2,)).shape == (2, B, len(lens))


def test_multicategorical_sample_frequencies():
    logits = torch.tensor([[0.0, 1.0, 3.0, 0.0, -1.0]])
    a = TorchMultiCategorical.from_logits(logits, input_lens=[2, 3]).sample(sample_shape=(20000,))
    assert a.shape == (20000, 1, 2)
    close(
        torch.bincount(a[:, 0, 0], minlength=2).float() / 20000, torch.softmax(logits[0, :2], -1), atol=0.02
    )
    close(
        torch.bincount(a[:, 0, 1], minlength=3).float() / 20000, torch.softmax(logits[0, 2:], -1), atol=0.02
    )


def test_multicategorical_padding_never_sampled():
    logits = torch.full((1000, 6), -50.0)  # very unlikely real actions must still beat padding
    a = TorchMultiCategorical.from_logits(logits, input_lens=[1, 5]).sample()
    assert (a[:, 0] == 0).all() and (a[:, 1] < 5).all()
    assert torch.isfinite(TorchMultiCategorical.from_logits(logits, input_lens=[1, 5]).entropy()).all()


def test_multicategorical_errors():
    with pytest.raises(ValueError, match="needs input_lens"):
        TorchMultiCategorical.from_logits(torch.randn(2, 5))
    with pytest.raises(ValueError, match="sum to the logits' last dim"):
        TorchMultiCategorical.from_logits(torch.randn(2, 5), input_lens=[2, 2])
    with pytest.raises(NotImplementedError, match="rsample"):
        TorchMultiCategorical.from_logits(torch.randn(2, 5), input_lens=[2, 3]).rsample()


# -------------------------------------------------------------- DiagGaussian


def test_diag_gaussian_matches_torch():
    logits, other = gauss_logits(B, 6), gauss_logits(B, 6)
    d, o = TorchDiagGaussian.from_logits(logits), TorchDiagGaussian.from_logits(other)
    mean, log_std = logits.chunk(2, -1)
    ref = td.Independent(td.Normal(mean, log_std.exp()), 1)
    oref = td.Independent(td.Normal(*[t if i == 0 else t.exp() for i, t in enumerate(other.chunk(2, -1))]), 1)
    a = d.sample()
    assert a.shape == (B, 3)
    close(d.logp(a), ref.log_prob(a))
    close(d.entropy(), ref.entropy())
    close(d.kl(o), td.kl_divergence(ref, oref))
    close(d.to_deterministic().sample(), mean)
    assert d.logits is logits
    assert d.sample(sample_shape=(4,)).shape == (4, B, 3)


def test_diag_gaussian_sample_statistics_and_constructor():
    loc = torch.tensor([[1.0, -2.0]])
    d = TorchDiagGaussian(loc, torch.tensor(0.5))  # scalar scale broadcasts
    a = d.sample(sample_shape=(20000,))
    assert a.shape == (20000, 1, 2) and not a.requires_grad
    close(a.mean(0), loc, atol=0.02)
    close(a.std(0), torch.full((1, 2), 0.5), atol=0.02)
    close(d.logp(loc), td.Normal(loc, 0.5).log_prob(loc).sum(-1))
    other = TorchDiagGaussian(torch.tensor([[0.0, 0.0]]), torch.tensor(2.0))
    close(d.kl(other), td.kl_divergence(td.Normal(loc, 0.5), td.Normal(torch.zeros(1, 2), 2.0)).sum(-1))


def test_diag_gaussian_rsample_grad_and_clamp():
    logits = torch.randn(B, 4, requires_grad=True)
    d = TorchDiagGaussian.from_logits(logits)
    d.rsample().sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    extreme = torch.tensor([[0.0, 100.0], [0.0, -100.0]])
    scale = TorchDiagGaussian.from_logits(extreme).scale
    close(scale.log(), torch.tensor([[LOG_STD_MAX], [LOG_STD_MIN]]))


def test_diag_gaussian_multidim_box():
    space = gym.spaces.Box(-1, 1, shape=(2, 3))
    cls = get_action_dist_cls(space)
    assert isinstance(cls, PartialDistCls) and cls.required_input_dim(space) == 12
    logits = gauss_logits(B, 12)
    d = cls.from_logits(logits)
    a = d.sample()
    assert a.shape == (B, 2, 3) and d.logp(a).shape == (B,) and d.entropy().shape == (B,)
    mean, log_std = logits.chunk(2, -1)
    ref = td.Independent(td.Normal(mean, log_std.exp()), 1)
    close(d.logp(a), ref.log_prob(a.reshape(B, 6)))
    close(d.logits, logits)


def test_diag_gaussian_odd_width_error():
    with pytest.raises(ValueError, match="even last dim"):
        TorchDiagGaussian.from_logits(torch.randn(2, 5))


# ----------------------------------------------------------- SquashedGaussian


def _change_of_variables_logp(mean, std, u, squash):
    """Reference log-density of a = squash(u), with |da/du| from autograd (elementwise squash)."""
    u = u.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(squash(u).sum(), u)
    return (td.Normal(mean, std).log_prob(u) - grad.abs().log()).sum(-1)


@pytest.mark.parametrize(
    "low,high",
    [(-1.0, 1.0), (-2.0, 2.0), (np.array([0.0, -3.0, 1.0]), np.array([1.0, 3.0, 5.0]))],
)
def test_squashed_gaussian_logp_change_of_variables(low, high):
    # Moderate std so that samples stay away from the atanh clipping at +-(1 - 1e-6).
    mean0 = torch.empty(B, 3, dtype=torch.float64).uniform_(-1, 1)
    logits = torch.cat([mean0, torch.empty(B, 3, dtype=torch.float64).uniform_(-2, 0)], -1)
    d = TorchSquashedGaussian.from_logits(logits, low=low, high=high)
    lo, hi = torch.as_tensor(low, dtype=torch.float64), torch.as_tensor(high, dtype=torch.float64)

    def squash(x):
        return lo + (torch.tanh(x) + 1) / 2 * (hi - lo)

    mean, log_std = logits.chunk(2, -1)
    u = mean + log_std.exp() * torch.randn(B, 3, dtype=torch.float64)
    ref = _change_of_variables_logp(mean, log_std.exp(), u, squash)
    close(d.logp(squash(u)), ref, atol=1e-6)
    a, lp = d.sample_and_logp()
    close(d.logp(a), lp, atol=1e-5)
    assert ((a >= lo) & (a <= hi)).all()
    close(d.to_deterministic().sample(), squash(mean))


def test_squashed_gaussian_samples_in_bounds_and_stable():
    d = TorchSquashedGaussian.from_logits(
        torch.tensor([[0.0, 30.0, 2.0, 2.0]]).repeat(500, 1), low=-2, high=3
    )
    a = d.sample()
    assert a.shape == (500, 2) and (a >= -2).all() and (a <= 3).all()
    _, lp = d.sample_and_logp()
    assert torch.isfinite(lp).all()
    # logp of exact bound values is finite thanks to clipping before atanh.
    assert torch.isfinite(d.logp(torch.tensor([[-2.0, 3.0]]).repeat(500, 1))).all()


def test_squashed_gaussian_rsample_grad_and_unsupported():
    logits = torch.randn(B, 4, requires_grad=True)
    d = TorchSquashedGaussian.from_logits(logits)
    a, lp = d.rsample_and_logp()
    assert a.shape == (B, 2) and lp.shape == (B,)
    (a.sum() + lp.sum()).backward()
    assert logits.grad.abs().sum() > 0
    assert d.rsample(sample_shape=(3,)).shape == (3, B, 2)
    with pytest.raises(NotImplementedError, match="no closed-form entropy"):
        d.entropy()
    with pytest.raises(NotImplementedError, match="no closed-form KL"):
        d.kl(d)
    with pytest.raises(ValueError, match="high > low"):
        TorchSquashedGaussian.from_logits(logits, low=1.0, high=-1.0)


# ------------------------------------------------------------- Deterministic


def test_deterministic():
    loc = torch.randn(B, 3, requires_grad=True)
    d = TorchDeterministic.from_logits(loc)
    assert torch.equal(d.sample(), loc.detach()) and not d.sample().requires_grad
    assert d.rsample().requires_grad
    assert d.sample(sample_shape=(2,)).shape == (2, B, 3)
    assert d.logp(loc).shape == (B,) and d.entropy().shape == (B,) and d.kl(d).shape == (B,)
    assert d.to_deterministic() is d
    assert TorchDeterministic.required_input_dim(gym.spaces.Box(-1, 1, (4,))) == 4


# ---------------------------------------------- spaces, partials, factories


def test_required_input_dim():
    assert TorchCategorical.required_input_dim(gym.spaces.Discrete(7)) == 7
    assert TorchMultiCategorical.required_input_dim(gym.spaces.MultiDiscrete([2, 3, 4])) == 9
    assert TorchDiagGaussian.required_input_dim(gym.spaces.Box(-1, 1, (3,))) == 6
    assert TorchSquashedGaussian.required_input_dim(gym.spaces.Box(-1, 1, (2,))) == 4
    with pytest.raises(ValueError, match="TorchCategorical is for gymnasium.spaces.Discrete"):
        TorchCategorical.required_input_dim(gym.spaces.Box(-1, 1, (3,)))


def test_get_action_dist_cls_per_space():
    assert get_action_dist_cls(gym.spaces.Discrete(3)) is TorchCategorical
    assert get_action_dist_cls(gym.spaces.Box(-1, 1, (2,))) is TorchDiagGaussian
    assert get_action_dist_cls(gym.spaces.Box(-1, 1, (2,)), squashed=True) is TorchSquashedGaussian
    md = get_action_dist_cls(gym.spaces.MultiDiscrete([2, 3]))
    assert isinstance(md, PartialDistCls) and md.dist_cls is TorchMultiCategorical
    assert md.required_input_dim(gym.spaces.MultiDiscrete([2, 3])) == 5
    assert isinstance(md.from_logits(torch.randn(B, 5)), TorchMultiCategorical)
    assert isinstance(md(torch.randn(B, 5)), TorchMultiCategorical)
    sq = get_action_dist_cls(gym.spaces.Box(-2.0, 2.0, (2,)), squashed=True)
    assert sq.kwargs == {"low": -2.0, "high": 2.0}
    a = sq.from_logits(torch.randn(500, 4) * 3).sample()
    assert (a.abs() <= 2.0).all() and (a.abs() > 1.0).any()
    per_dim = get_action_dist_cls(
        gym.spaces.Box(np.array([0.0, -5.0], np.float32), np.array([1.0, 5.0], np.float32)), squashed=True
    )
    a = per_dim.from_logits(torch.randn(500, 4) * 3).sample()
    assert (a[:, 0] >= 0).all() and (a[:, 0] <= 1).all() and (a[:, 1].abs() > 1).any()


def test_get_action_dist_cls_errors():
    with pytest.raises(
        ValueError, match=r"No action distribution for action space.*Text.*Discrete, MultiDiscrete"
    ):
        get_action_dist_cls(gym.spaces.Text(5))
    with pytest.raises(ValueError, match=r"Dict.*supports gymnasium.spaces.Discrete"):
        get_action_dist_cls(gym.spaces.Dict({"a": gym.spaces.Discrete(2)}))
    with pytest.raises(ValueError, match="finite Box bounds"):
        get_action_dist_cls(gym.spaces.Box(-np.inf, np.inf, (2,)), squashed=True)
    with pytest.raises(ValueError, match="high > low in every dimension"):
        get_action_dist_cls(gym.spaces.Box(np.float32(0.0), np.array([1.0, 0.0], np.float32)), squashed=True)
    with pytest.raises(ValueError, match="squashed=True needs a gymnasium.spaces.Box"):
        get_action_dist_cls(gym.spaces.Discrete(2), squashed=True)


def test_make_action_dist_from_logits():
    space = gym.spaces.Discrete(4)
    logits = torch.randn(B, 4)
    d = make_action_dist(logits, space)
    assert isinstance(d, TorchCategorical) and d.logits is logits
    assert make_action_dist(logits, space) is not d  # cache holds classes, not distributions
    assert isinstance(make_action_dist(logits, dist_cls=TorchCategorical), TorchCategorical)
    md = make_action_dist(torch.randn(B, 5), gym.spaces.MultiDiscrete([2, 3]))
    assert md.sample().shape == (B, 2)
    assert make_action_dist(d) is d
    with pytest.raises(ValueError, match="neither action_space nor dist_cls"):
        make_action_dist(logits)


def test_make_action_dist_from_torch_distributions():
    logits = torch.randn(B, 4)
    cat = td.Categorical(logits=logits)
    d = make_action_dist(cat)
    assert isinstance(d, TorchCategorical) and d.logits is cat.logits  # wraps, does not copy
    other = td.Categorical(logits=torch.randn(B, 4))
    close(d.kl(make_action_dist(other)), td.kl_divergence(cat, other))
    assert torch.equal(d.to_deterministic().sample(), logits.argmax(-1))

    mean, std = torch.randn(B, 3), torch.rand(B, 3) + 0.5
    a = torch.randn(B, 3)
    for dist in (td.Normal(mean, std), td.Independent(td.Normal(mean, std), 1)):
        g = make_action_dist(dist)
        assert isinstance(g, TorchDiagGaussian)
        close(g.logp(a), td.Normal(mean, std).log_prob(a).sum(-1))
        close(g.entropy(), td.Normal(mean, std).entropy().sum(-1))
        close(g.logits, torch.cat([mean, std.log()], -1))
        close(g.to_deterministic().sample(), mean)


def test_make_action_dist_generic_wrapper():
    conc = torch.rand(B, 2) + 0.5
    beta = td.Beta(conc, conc + 1)
    w = make_action_dist(beta)
    assert isinstance(w, TorchDistributionWrapper)
    torch.manual_seed(5)
    a = w.sample()
    torch.manual_seed(5)
    torch.testing.assert_close(a, beta.sample(), rtol=0, atol=0)  # draws through the wrapped object
    assert a.shape == (B, 2)
    other = td.Beta(conc + 1, conc)
    close(w.kl(make_action_dist(other)), td.kl_divergence(beta, other).sum(-1))
    close(w.logp(a), beta.log_prob(a).sum(-1))
    close(w.entropy(), beta.entropy().sum(-1))
    assert w.rsample().shape == (B, 2)
    close(w.to_deterministic().sample(), beta.mean)
    bern = make_action_dist(td.Bernoulli(logits=torch.randn(B)))
    assert bern.logp(bern.sample()).shape == (B,) and bern.logits.shape == (B,)
    with pytest.raises(NotImplementedError, match="Bernoulli does not support rsample"):
        bern.rsample()
    with pytest.raises(NotImplementedError, match="cannot be built from logits"):
        TorchDistributionWrapper.from_logits(torch.randn(2))


@pytest.mark.parametrize("garbage", [[0.1, 0.2], np.zeros((2, 3)), "logits", None])
def test_make_action_dist_garbage(garbage):
    with pytest.raises(
        TypeError,
        match=r"expected action_dist_inputs to be a logits torch.Tensor or a torch.distributions.Distribution, but received",
    ):
        make_action_dist(garbage, gym.spaces.Discrete(2))


def test_make_action_dist_numpy_hint():
    with pytest.raises(TypeError, match=r"numpy.ndarray.*torch.as_tensor"):
        make_action_dist(np.zeros((2, 3)))


def test_partial_dist_cls_repr_pickle_and_base_abstract():
    p = TorchMultiCategorical.get_partial_dist_cls(input_lens=(2, 3))
    assert "input_lens=(2, 3)" in repr(p) and p.__name__ == "TorchMultiCategorical"
    space = gym.spaces.Box(np.zeros((2, 3), np.float32), np.arange(1, 7, dtype=np.float32).reshape(2, 3))
    sq = pickle.loads(pickle.dumps(get_action_dist_cls(space, squashed=True)))  # Ray ships these
    a, lp = sq.from_logits(torch.randn(B, 12) * 0.3).sample_and_logp()
    assert a.shape == (B, 2, 3) and lp.shape == (B,)
    assert (a >= 0).all() and (a <= torch.arange(1, 7).reshape(2, 3)).all()
    with pytest.raises(TypeError):
        Distribution()
