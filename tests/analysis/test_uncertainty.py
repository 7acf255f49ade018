"""Tests of mfa_engine.analysis.uncertainty (bootstrap intervals, paired across checkpoints)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mfa_engine.analysis.emergence import emergence
from mfa_engine.analysis.uncertainty import bootstrap_ci, emergence_ci, median_ci, median_ci_level, resample_indices
from mfa_engine.errors import ConfigError


@pytest.mark.parametrize("n", [1, 2, 7, 30])
def test_degenerate_sample_gives_a_zero_width_interval(n: int) -> None:
    lo, hi = bootstrap_ci(np.full(n, 1.7))
    assert lo == hi and lo == pytest.approx(1.7, rel=1e-15)
    lo, hi = bootstrap_ci(np.full(n, 1.7), stat="median")
    assert lo == hi == 1.7


def test_two_values_interval_hand_check() -> None:
    # Resample means of {0, 1} with n=2 take the values 0, 0.5, 1 with probability 1/4, 1/2, 1/4:
    # the 2.5% and 97.5% quantiles of 2000 such draws are 0 and 1.
    assert bootstrap_ci(np.array([0.0, 1.0])) == (0.0, 1.0)
    lo, hi = bootstrap_ci(np.array([0.0, 1.0]), level=0.4)  # 30% and 70% quantiles: 0.5
    assert lo == hi == 0.5


def test_resamples_are_seeded_and_in_range() -> None:
    a = resample_indices(5, 100, seed=3)
    assert a.shape == (100, 5) and a.min() >= 0 and a.max() <= 4
    np.testing.assert_array_equal(a, resample_indices(5, 100, seed=3))
    assert not np.array_equal(a, resample_indices(5, 100, seed=4))


def test_coverage_of_the_mean_of_a_normal_sample() -> None:
    """Fixed seed: 300 experiments of n = 30 draws of N(2, 1); the 95% interval holds the true
    mean in about 95% of them (percentile bootstrap undercovers slightly at n = 30)."""
    rng = np.random.default_rng(12345)
    hits, widths = 0, []
    for k in range(300):
        x = rng.normal(2.0, 1.0, size=30)
        lo, hi = bootstrap_ci(x, n_resamples=1000, seed=k)
        hits += lo <= 2.0 <= hi
        widths.append(hi - lo)
        assert lo <= x.mean() <= hi
    assert 0.88 <= hits / 300 <= 0.99
    # Width close to the normal-theory 2 * 1.96 / sqrt(30) = 0.716.
    assert np.mean(widths) == pytest.approx(2 * 1.96 / math.sqrt(30), rel=0.08)


def test_paired_interval_of_multiplicative_seed_effects_is_exact() -> None:
    """alpha0[t, s] = b_s * c_t and width[t, s] = v_s * d_t: every resample of seeds gives
    E(t) = (d_t / d_0) ln(c_0 / c_t), so the paired interval has zero width; the unpaired one
    does not."""
    rng = np.random.default_rng(0)
    b, v = rng.uniform(0.5, 2.0, 12), rng.uniform(0.2, 1.0, 12)
    c, d = np.array([1.6, 1.5, 1.3, 1.45]), np.array([0.8, 0.9, 1.1, 1.0])
    a, w = c[:, None] * b[None, :], d[:, None] * v[None, :]
    e_true = (d / d[0]) * np.log(c[0] / c)
    lo, hi = emergence_ci(a, w)
    np.testing.assert_allclose(lo, e_true, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(hi, e_true, rtol=1e-12, atol=1e-14)
    ulo, uhi = emergence_ci(a, w, paired=False)
    assert ulo[0] == uhi[0] == 0.0
    assert np.all((uhi - ulo)[1:] > 0.05)
    assert np.all((ulo <= e_true + 1e-12) & (e_true - 1e-12 <= uhi))


def test_paired_is_tighter_for_correlated_series_and_contains_the_estimate() -> None:
    rng = np.random.default_rng(1)
    seed_effect = rng.normal(0.0, 0.2, 10)
    steps = np.array([0.0, -0.02, -0.05, -0.08, -0.1])
    a = 1.6 + seed_effect[None, :] + steps[:, None] + rng.normal(0, 0.005, (5, 10))
    w = 0.9 + 0.5 * seed_effect[None, :] + rng.normal(0, 0.005, (5, 10))
    e, _ = emergence(a, w)
    lo, hi = emergence_ci(a, w)
    ulo, uhi = emergence_ci(a, w, paired=False)
    assert lo[0] == hi[0] == 0.0
    assert np.all((lo <= e) & (e <= hi))
    assert np.all((hi - lo)[1:] < 0.5 * (uhi - ulo)[1:])


def test_emergence_interval_undefined_resamples_give_nan() -> None:
    a = np.array([[1.0, 1.0], [1.0, -3.0]])  # a resample of seed 1 alone has mean alpha0 < 0
    lo, hi = emergence_ci(a, np.ones_like(a))
    assert lo[0] == 0.0 and math.isnan(lo[1]) and math.isnan(hi[1])


def test_bad_inputs_raise() -> None:
    with pytest.raises(ConfigError, match="finite"):
        bootstrap_ci(np.array([1.0, np.nan]))
    with pytest.raises(ConfigError, match="finite"):
        bootstrap_ci(np.array([]))
    with pytest.raises(ConfigError, match="level"):
        bootstrap_ci(np.ones(3), level=1.0)
    with pytest.raises(ConfigError, match="stat"):
        bootstrap_ci(np.ones(3), stat="mode")
    with pytest.raises(ConfigError, match="shape"):
        emergence_ci(np.ones((2, 3)), np.ones((2, 2)))


def test_centre_leaves_flagged_out_and_falls_back_to_all() -> None:
    from mfa_engine.analysis.uncertainty import centre

    x = np.array([[1.0, 5.0, 2.0, 3.0], [4.0, 1.0, 2.0, 8.0], [1.0, 2.0, 3.0, 4.0]])
    f = np.array([[False, True, False, False], [True, True, True, True], [False, True, False, True]])
    np.testing.assert_allclose(centre(x, f), [2.0, 3.0, 2.0])  # median of kept; all; even count
    np.testing.assert_allclose(centre(x, f, "mean"), [2.0, 3.75, 2.0])
    np.testing.assert_allclose(centre(x), np.median(x, axis=1))
    with pytest.raises(ConfigError, match="stat"):
        centre(x, stat="mode")


def test_median_ci_columns_against_explicit_resamples() -> None:
    from mfa_engine.analysis.uncertainty import median_ci_columns

    rng = np.random.default_rng(4)
    x = rng.standard_t(2, size=(9, 4))
    x[3, 2] = np.nan  # a sample without a value at one point
    x[:, 3] = np.nan  # a point without any
    med, lo, hi = median_ci_columns(x, n_resamples=500, seed=9)
    idx = resample_indices(9, 500, seed=9)
    for k in (0, 1):
        meds = [np.median(x[row, k]) for row in idx]
        assert med[k] == np.median(x[:, k])
        np.testing.assert_allclose([lo[k], hi[k]], np.quantile(meds, [0.025, 0.975]), rtol=0, atol=0)
    col = np.delete(x[:, 2], 3)
    meds = [np.median(col[row]) for row in resample_indices(8, 500, seed=9)]
    np.testing.assert_allclose([med[2], lo[2], hi[2]], [np.median(col), *np.quantile(meds, [0.025, 0.975])])
    assert np.isnan(med[3]) and np.isnan(lo[3]) and np.isnan(hi[3])


def test_paired_median_interval_of_multiplicative_seed_effects_is_exact() -> None:
    """As for the mean: with alpha0[t, s] = b_s c_t the median of any resample is c_t times
    the median of the drawn b, so E is the same in every resample; the same holds for a null
    with the same seed effects, so the contrast interval is exactly 0."""
    rng = np.random.default_rng(2)
    b, v = rng.uniform(0.5, 2.0, 11), rng.uniform(0.2, 1.0, 11)
    c, d = np.array([1.6, 1.5, 1.3]), np.array([0.8, 0.9, 1.1])
    a, w = c[:, None] * b[None, :], d[:, None] * v[None, :]
    e_true = (d / d[0]) * np.log(c[0] / c)
    lo, hi = emergence_ci(a, w, stat="median")
    np.testing.assert_allclose(lo, e_true, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(hi, e_true, rtol=1e-12, atol=1e-14)
    from mfa_engine.analysis.uncertainty import emergence_contrast_ci

    lo, hi = emergence_contrast_ci(a, w, 1.1 * a, 0.7 * w)  # a null with the same seed effects
    np.testing.assert_allclose(lo, 0.0, atol=1e-14)
    np.testing.assert_allclose(hi, 0.0, atol=1e-14)
    with pytest.raises(ConfigError, match="shape"):
        emergence_ci(a, w, flagged=np.zeros((2, 11), dtype=bool))


@pytest.mark.parametrize(("n", "k", "coverage"), [
    (1, 1, 0.0), (5, 1, 1 - 2 / 32), (6, 1, 1 - 2 / 64), (10, 2, 1 - 2 * 11 / 1024),
    (20, 6, 1 - 2 * sum(math.comb(20, j) for j in range(6)) / 2**20), (101, 41, None),
])
def test_median_ci_is_the_order_statistic_interval(n: int, k: int, coverage: float | None) -> None:
    x = np.random.default_rng(n).standard_cauchy(n)
    v = np.sort(x)
    assert median_ci(x) == (float(v[k - 1]), float(v[n - k]))
    if coverage is not None and n > 1:
        assert median_ci_level(n) == pytest.approx(coverage, abs=1e-15)
    # k is the largest rank whose two-sided binomial tail stays within 2.5% (n >= 6)
    if n >= 6:
        tail = lambda j: sum(math.comb(n, i) for i in range(j)) / 2**n  # noqa: E731
        assert tail(k) <= 0.025 < tail(k + 1)


def test_median_ci_covers_the_median_of_a_heavy_tailed_distribution() -> None:
    # 4000 runs of 10 Cauchy values (median 0): the order-statistic interval holds 0 at its
    # binomial rate, 97.9%, whatever the tails.
    rng = np.random.default_rng(21)
    runs = rng.standard_cauchy((4000, 10))
    hits = np.mean([lo <= 0.0 <= hi for lo, hi in map(median_ci, runs)])
    assert hits == pytest.approx(median_ci_level(10), abs=0.01)
    assert hits >= 0.95


def test_median_ci_refuses_empty_or_non_finite() -> None:
    with pytest.raises(ConfigError, match="finite"):
        median_ci(np.array([]))
    with pytest.raises(ConfigError, match="finite"):
        median_ci(np.array([0.5, np.nan]))
