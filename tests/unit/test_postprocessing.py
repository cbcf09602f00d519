"""GAE, returns and next-value assembly against numbers worked out by hand."""

import numpy as np
import pytest
import torch

from tripod.data.postprocessing import (
    build_next_values,
    compute_gae,
    compute_returns,
    explained_variance,
    normalize_advantages,
)


def col(*xs):
    """A [T, 1] float column, one env."""
    return np.array(xs, dtype=np.float32)[:, None]


def flags(*xs):
    return np.array(xs, dtype=bool)[:, None]


# --- compute_gae --------------------------------------------------------------


def test_gae_termination_in_middle():
    # gamma = 0.5, lambda = 0.5 -> gamma * lambda = 0.25. Episode terminates at t=1.
    # next_values[1] = 99 is the terminal state's value and must be ignored.
    # d0 = 1 + 0.5*1 - 1 = 0.5    d1 = 2 + 0 - 1 = 1
    # d2 = 3 + 0.5*2 - 4 = 0      d3 = 4 + 0.5*4 - 2 = 4   (last row bootstraps)
    # A3 = 4, A2 = 0 + 0.25*4 = 1, A1 = 1 (done: no carry), A0 = 0.5 + 0.25*1 = 0.75
    adv, targets = compute_gae(
        col(1, 2, 3, 4),
        col(1, 1, 4, 2),
        col(1, 99, 2, 4),
        flags(0, 1, 0, 0),
        flags(0, 0, 0, 0),
        gamma=0.5,
        lambda_=0.5,
    )
    np.testing.assert_allclose(adv[:, 0], [0.75, 1.0, 1.0, 4.0], rtol=1e-6)
    np.testing.assert_allclose(targets[:, 0], [1.75, 2.0, 5.0, 6.0], rtol=1e-6)
    assert adv.dtype == np.float32 and targets.dtype == np.float32
    assert adv.shape == (4, 1)


def test_gae_truncation_in_middle_bootstraps_from_final_obs():
    # gamma = 0.9, lambda = 0.8 -> 0.72. Truncated at t=0, final obs value 5.
    # d0 = 1 + 0.9*5 - 2 = 3.5       (bootstrapped from the final observation)
    # d1 = 1 + 0.9*1 - 3 = -1.1      (next row's value)
    # d2 = 1 + 0.9*0.5 - 1 = 0.45    (runner's bootstrap observation)
    # A2 = 0.45, A1 = -1.1 + 0.72*0.45 = -0.776, A0 = 3.5 (no carry across the boundary)
    adv, targets = compute_gae(
        col(1, 1, 1),
        col(2, 3, 1),
        col(5, 1, 0.5),
        flags(0, 0, 0),
        flags(1, 0, 0),
        gamma=0.9,
        lambda_=0.8,
    )
    np.testing.assert_allclose(adv[:, 0], [3.5, -0.776, 0.45], rtol=1e-6)
    np.testing.assert_allclose(targets[:, 0], [5.5, 2.224, 1.45], rtol=1e-6)


def test_gae_termination_vs_truncation_differ_only_in_bootstrap():
    # Same data as above, terminated instead of truncated at t=0: d0 = 1 - 2 = -1.
    adv, _ = compute_gae(
        col(1, 1, 1), col(2, 3, 1), col(5, 1, 0.5), flags(1, 0, 0), flags(0, 0, 0), gamma=0.9, lambda_=0.8
    )
    np.testing.assert_allclose(adv[:, 0], [-1.0, -0.776, 0.45], rtol=1e-6)


def test_gae_last_row_cut_off_mid_episode():
    # No episode ends; gamma = 0.5, lambda = 0.5 -> 0.25.
    # d0 = 1 + 0.5*2 - 1 = 1,  d1 = 0 + 0.5*2 - 2 = -1,  d2 = 1 + 0.5*4 - 2 = 1
    # A2 = 1, A1 = -1 + 0.25*1 = -0.75, A0 = 1 + 0.25*(-0.75) = 0.8125
    adv, targets = compute_gae(
        col(1, 0, 1), col(1, 2, 2), col(2, 2, 4), flags(0, 0, 0), flags(0, 0, 0), gamma=0.5, lambda_=0.5
    )
    np.testing.assert_allclose(adv[:, 0], [0.8125, -0.75, 1.0], rtol=1e-6)
    np.testing.assert_allclose(targets[:, 0], [1.8125, 1.25, 3.0], rtol=1e-6)


# Two envs, T=3. Env 0 terminates at t=0, env 1 is truncated at t=1 (final obs value 4).
# The runner's extra observations: env 1's final obs after t=1 (flat index 1*2+1 = 3),
# and the bootstrap obs after the last row of each env (flat 4 and 5), both valued 2.
TWO_ENV_REWARDS = np.array([[1, 2], [1, 0], [1, 1]], dtype=np.float32)
TWO_ENV_VALUES = np.array([[0, 1], [1, 1], [1, 0]], dtype=np.float32)
TWO_ENV_TERMINATEDS = np.array([[1, 0], [0, 0], [0, 0]], dtype=bool)
TWO_ENV_TRUNCATEDS = np.array([[0, 0], [0, 1], [0, 0]], dtype=bool)


def test_gae_two_envs_with_different_episode_boundaries():
    next_values = build_next_values(TWO_ENV_VALUES, np.array([4.0, 2.0, 2.0]), np.array([3, 4, 5]))
    # next_values[0, 0] = values[1, 0] = 1 is read across the termination but ignored.
    np.testing.assert_allclose(next_values, [[1, 1], [1, 4], [2, 2]])
    # gamma = 0.5, lambda = 0.5 -> 0.25
    # env 0: d0 = 1 - 0 = 1 (terminated), d1 = 1 + 0.5*1 - 1 = 0.5, d2 = 1 + 0.5*2 - 1 = 1
    #        A2 = 1, A1 = 0.5 + 0.25*1 = 0.75, A0 = 1
    # env 1: d0 = 2 + 0.5*1 - 1 = 1.5, d1 = 0 + 0.5*4 - 1 = 1 (truncated), d2 = 1 + 0.5*2 - 0 = 2
    #        A2 = 2, A1 = 1, A0 = 1.5 + 0.25*1 = 1.75
    adv, targets = compute_gae(
        TWO_ENV_REWARDS,
        TWO_ENV_VALUES,
        next_values,
        TWO_ENV_TERMINATEDS,
        TWO_ENV_TRUNCATEDS,
        gamma=0.5,
        lambda_=0.5,
    )
    np.testing.assert_allclose(adv, [[1.0, 1.75], [0.75, 1.0], [1.0, 2.0]], rtol=1e-6)
    np.testing.assert_allclose(targets, adv + TWO_ENV_VALUES, rtol=1e-6)


def test_gae_lambda_one_equals_monte_carlo_returns_minus_values():
    # Truncation example with lambda = 1, gamma = 0.9. Bootstrapped returns by hand:
    # G2 = 1 + 0.9*0.5 = 1.45, G1 = 1 + 0.9*1.45 = 2.305, G0 = 1 + 0.9*5 = 5.5
    # A = G - V = [5.5 - 2, 2.305 - 3, 1.45 - 1] = [3.5, -0.695, 0.45]
    args = (col(1, 1, 1), col(2, 3, 1), col(5, 1, 0.5), flags(0, 0, 0), flags(1, 0, 0))
    adv, targets = compute_gae(*args, gamma=0.9, lambda_=1.0)
    np.testing.assert_allclose(adv[:, 0], [3.5, -0.695, 0.45], rtol=1e-6)
    returns = compute_returns(args[0], args[3], args[4], gamma=0.9, next_values=args[2])
    np.testing.assert_allclose(returns[:, 0], [5.5, 2.305, 1.45], rtol=1e-6)
    np.testing.assert_allclose(targets, returns, rtol=1e-6)


def test_gae_lambda_one_equals_monte_carlo_on_two_envs():
    next_values = build_next_values(TWO_ENV_VALUES, np.array([4.0, 2.0, 2.0]), np.array([3, 4, 5]))
    adv, _ = compute_gae(
        TWO_ENV_REWARDS,
        TWO_ENV_VALUES,
        next_values,
        TWO_ENV_TERMINATEDS,
        TWO_ENV_TRUNCATEDS,
        gamma=0.9,
        lambda_=1.0,
    )
    returns = compute_returns(
        TWO_ENV_REWARDS, TWO_ENV_TERMINATEDS, TWO_ENV_TRUNCATEDS, gamma=0.9, next_values=next_values
    )
    np.testing.assert_allclose(adv, returns - TWO_ENV_VALUES, rtol=1e-6, atol=1e-6)


def test_gae_lambda_zero_equals_one_step_td_error():
    # Deltas of the truncation example: [3.5, -1.1, 0.45].
    adv, _ = compute_gae(
        col(1, 1, 1), col(2, 3, 1), col(5, 1, 0.5), flags(0, 0, 0), flags(1, 0, 0), gamma=0.9, lambda_=0.0
    )
    np.testing.assert_allclose(adv[:, 0], [3.5, -1.1, 0.45], rtol=1e-6)


def test_gae_undiscounted_terminated_episode_is_reward_to_go_minus_value():
    # gamma = lambda = 1, terminated at the last row: A_t = sum_{k>=t} r_k - V(s_t)
    # rewards-to-go [6, 5, 3], values [0.5, 1, 2] -> [5.5, 4, 1]
    adv, targets = compute_gae(
        col(1, 2, 3), col(0.5, 1, 2), col(1, 2, 123), flags(0, 0, 1), flags(0, 0, 0), gamma=1.0, lambda_=1.0
    )
    np.testing.assert_allclose(adv[:, 0], [5.5, 4.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(targets[:, 0], [6.0, 5.0, 3.0], rtol=1e-6)


def test_gae_accepts_one_dimensional_arrays():
    adv, targets = compute_gae(
        [1, 2, 3, 4], [1, 1, 4, 2], [1, 99, 2, 4], [0, 1, 0, 0], [0, 0, 0, 0], gamma=0.5, lambda_=0.5
    )
    assert adv.shape == (4,) and targets.shape == (4,)
    np.testing.assert_allclose(adv, [0.75, 1.0, 1.0, 4.0], rtol=1e-6)


def test_gae_ignores_non_finite_value_at_terminated_row():
    adv, _ = compute_gae(
        col(1, 1), col(0, 0), col(np.nan, 0), flags(1, 0), flags(0, 0), gamma=0.9, lambda_=0.9
    )
    np.testing.assert_allclose(adv[:, 0], [1.0, 1.0])


def test_gae_many_envs_match_per_env_computation():
    # Wide batches take the vectorised-over-envs path, single envs the scalar path.
    rng = np.random.default_rng(0)
    shape = (50, 12)
    rewards, values, next_values = (rng.normal(size=shape).astype(np.float32) for _ in range(3))
    terminateds = rng.random(shape) < 0.1
    truncateds = rng.random(shape) < 0.1
    adv, targets = compute_gae(
        rewards, values, next_values, terminateds, truncateds, gamma=0.99, lambda_=0.95
    )
    for n in range(shape[1]):
        adv_n, targets_n = compute_gae(
            rewards[:, n],
            values[:, n],
            next_values[:, n],
            terminateds[:, n],
            truncateds[:, n],
            gamma=0.99,
            lambda_=0.95,
        )
        np.testing.assert_allclose(adv[:, n], adv_n, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(targets[:, n], targets_n, rtol=1e-5, atol=1e-5)


def test_gae_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="share one"):
        compute_gae(
            np.zeros((3, 2)),
            np.zeros((3, 2)),
            np.zeros((3, 1)),
            np.zeros((3, 2)),
            np.zeros((3, 2)),
            gamma=0.9,
            lambda_=0.9,
        )


# --- compute_returns ----------------------------------------------------------


def test_returns_without_bootstrap_treat_cut_off_tail_as_zero():
    # gamma = 0.5, terminated at t=1, last row cut off mid-episode.
    # G3 = 4, G2 = 3 + 0.5*4 = 5, G1 = 2 (terminated), G0 = 1 + 0.5*2 = 2
    returns = compute_returns(col(1, 2, 3, 4), flags(0, 1, 0, 0), flags(0, 0, 0, 0), gamma=0.5)
    np.testing.assert_allclose(returns[:, 0], [2.0, 2.0, 5.0, 4.0])
    assert returns.dtype == np.float32


def test_returns_with_bootstrap_from_last_row():
    # As above with V(s_4) = 8: G3 = 4 + 0.5*8 = 8, G2 = 3 + 0.5*8 = 7; the terminated
    # episode is unchanged, and next_values away from the tail (100) are not read.
    returns = compute_returns(
        col(1, 2, 3, 4), flags(0, 1, 0, 0), flags(0, 0, 0, 0), gamma=0.5, next_values=col(100, 100, 100, 8)
    )
    np.testing.assert_allclose(returns[:, 0], [2.0, 2.0, 7.0, 8.0])


def test_returns_at_truncation_with_and_without_bootstrap():
    # gamma = 0.5, truncated at t=0 (final obs value 4), last row bootstrap value 2.
    # without: G0 = 1, G2 = 1, G1 = 1 + 0.5*1 = 1.5
    # with:    G0 = 1 + 0.5*4 = 3, G2 = 1 + 0.5*2 = 2, G1 = 1 + 0.5*2 = 2
    rewards, terminateds, truncateds = col(1, 1, 1), flags(0, 0, 0), flags(1, 0, 0)
    plain = compute_returns(rewards, terminateds, truncateds, gamma=0.5)
    np.testing.assert_allclose(plain[:, 0], [1.0, 1.5, 1.0])
    boot = compute_returns(rewards, terminateds, truncateds, gamma=0.5, next_values=col(4, 100, 2))
    np.testing.assert_allclose(boot[:, 0], [3.0, 2.0, 2.0])


def test_returns_termination_wins_over_truncation_and_last_row_bootstrap():
    # Both flags at t=0, terminated at the last row: no bootstrap anywhere.
    returns = compute_returns(
        col(1, 1, 1), flags(1, 0, 1), flags(1, 0, 0), gamma=0.5, next_values=col(100, 100, 100)
    )
    np.testing.assert_allclose(returns[:, 0], [1.0, 1.5, 1.0])


def test_returns_two_envs():
    # gamma = 0.5, no bootstrap.
    # env 0 (terminated at t=0): G = [1, 1 + 0.5*1, 1] = [1, 1.5, 1]
    # env 1 (truncated at t=1):  G = [2 + 0.5*0, 0, 1] = [2, 0, 1]
    returns = compute_returns(TWO_ENV_REWARDS, TWO_ENV_TERMINATEDS, TWO_ENV_TRUNCATEDS, gamma=0.5)
    np.testing.assert_allclose(returns, [[1.0, 2.0], [1.5, 0.0], [1.0, 1.0]])


def test_returns_one_dimensional():
    returns = compute_returns([1, 1, 1], [0, 0, 0], [0, 0, 0], gamma=0.5)
    assert returns.shape == (3,)
    np.testing.assert_allclose(returns, [1.75, 1.5, 1.0])


# --- build_next_values --------------------------------------------------------


def test_build_next_values_shifts_and_overrides():
    values = np.array([[1, 2], [3, 4], [5, 6]], dtype=np.float32)
    # env 1 episode ended at t=0 (final obs value 10, flat 0*2+1 = 1); last row flat 4, 5.
    next_values = build_next_values(values, np.array([10.0, 7.0, 8.0]), np.array([1, 4, 5]))
    np.testing.assert_allclose(next_values, [[3, 10], [5, 6], [7, 8]])
    assert next_values.dtype == np.float32
    np.testing.assert_allclose(values, [[1, 2], [3, 4], [5, 6]])  # input untouched


def test_build_next_values_one_dimensional():
    next_values = build_next_values(np.array([1.0, 2.0, 3.0]), np.array([9.0]), np.array([2]))
    np.testing.assert_allclose(next_values, [2, 3, 9])


def test_build_next_values_requires_last_row_of_every_env():
    values = np.zeros((3, 2), dtype=np.float32)
    with pytest.raises(ValueError, match=r"env\(s\) \[1\]"):
        build_next_values(values, np.array([1.0]), np.array([4]))


def test_build_next_values_rejects_bad_indices():
    values = np.zeros((3, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="must lie in"):
        build_next_values(values, np.array([1.0, 1.0, 1.0]), np.array([4, 5, 6]))
    with pytest.raises(ValueError, match="one value per index"):
        build_next_values(values, np.array([1.0]), np.array([4, 5]))


# --- normalize_advantages / explained_variance -------------------------------


def test_normalize_advantages_numpy():
    # mean 2.5, population std sqrt(1.25)
    adv = np.array([1, 2, 3, 4], dtype=np.float32)
    out = normalize_advantages(adv)
    np.testing.assert_allclose(out, (adv - 2.5) / np.sqrt(1.25), rtol=1e-6)
    assert out.dtype == np.float32
    np.testing.assert_allclose(normalize_advantages(np.full(3, 5.0)), [0.0, 0.0, 0.0])


def test_normalize_advantages_torch():
    adv = torch.tensor([1.0, 2.0, 3.0, 4.0])
    out = normalize_advantages(adv)
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.numpy(), (np.array([1, 2, 3, 4]) - 2.5) / np.sqrt(1.25), rtol=1e-6)


def test_explained_variance():
    y_true = np.array([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(y_true, y_true) == pytest.approx(1.0)
    assert explained_variance(np.full(4, 2.5), y_true) == pytest.approx(0.0)
    # residual [0, 0, 0, -1]: variance 0.1875; Var(y_true) = 1.25 -> 1 - 0.15 = 0.85
    assert explained_variance(np.array([1.0, 2.0, 3.0, 5.0]), y_true) == pytest.approx(0.85)
    assert explained_variance(torch.tensor([1.0, 2.0, 3.0, 5.0]), torch.tensor(y_true)) == pytest.approx(0.85)
    assert np.isnan(explained_variance(np.zeros(3), np.ones(3)))
