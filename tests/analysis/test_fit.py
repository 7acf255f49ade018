"""Tests of mfa_engine.analysis.fit against np.polyfit and scipy.stats.linregress."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mfa_engine.analysis.fit import linear_fit
from mfa_engine.errors import ConfigError


def test_hand_three_points() -> None:
    # x = 0, 1, 2; y = 1, 2, 4. xbar = 1, ybar = 7/3, Sxx = 2,
    # Sxy = (-1)(1 - 7/3) + 0 + (1)(4 - 7/3) = 4/3 + 5/3 = 3  ->  slope 3/2,
    # intercept 7/3 - 3/2 = 5/6; residuals 1 - 5/6 = 1/6, 2 - 7/3 = -1/3, 4 - 23/6 = 1/6,
    # SSE = 1/36 + 4/36 + 1/36 = 1/6; SST = 16/9 + 1/9 + 25/9 = 14/3;
    # R^2 = 1 - (1/6)/(14/3) = 27/28; SE = sqrt(SSE / (n-2) / Sxx) = sqrt(1/12).
    fit = linear_fit(np.array([0.0, 1.0, 2.0]), np.array([1.0, 2.0, 4.0]))
    assert fit.slope.shape == ()
    assert float(fit.slope) == pytest.approx(1.5, abs=1e-14)
    assert float(fit.intercept) == pytest.approx(5 / 6, abs=1e-14)
    assert float(fit.r2) == pytest.approx(27 / 28, abs=1e-14)
    assert float(fit.slope_se) == pytest.approx(math.sqrt(1 / 12), abs=1e-14)


@pytest.mark.parametrize("n_series", [1, 7, 200])
@pytest.mark.parametrize("n_points", [3, 10, 64])
def test_matches_polyfit_and_linregress(n_series: int, n_points: int) -> None:
    rng = np.random.default_rng(n_series * 1000 + n_points)
    x = np.sort(rng.uniform(-5, 1, n_points))
    y = 0.3 + rng.normal(size=(n_series, 1)) * x + rng.normal(scale=0.5, size=(n_series, n_points))
    fit = linear_fit(x, y)
    assert fit.slope.shape == (n_series,)
    for s in range(n_series):
        b, a = np.polyfit(x, y[s], 1)
        ref = stats.linregress(x, y[s])
        np.testing.assert_allclose(fit.slope[s], b, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fit.intercept[s], a, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fit.slope[s], ref.slope, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fit.r2[s], ref.rvalue**2, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fit.slope_se[s], ref.stderr, rtol=1e-9, atol=1e-13)


def test_batch_shape_is_kept() -> None:
    rng = np.random.default_rng(1)
    x = np.arange(5.0)
    y = rng.normal(size=(2, 3, 5))
    fit = linear_fit(x, y)
    assert fit.slope.shape == (2, 3)
    np.testing.assert_allclose(fit.slope[1, 2], np.polyfit(x, y[1, 2], 1)[0], rtol=1e-12)


def test_exact_line_and_constant() -> None:
    x = np.log(np.array([1.0, 2.0, 5.0, 9.0]))
    y = np.stack([2.5 * x - 1.0, np.full(4, math.log(7.0))])
    fit = linear_fit(x, y)
    np.testing.assert_allclose(fit.slope, [2.5, 0.0], atol=1e-13)
    np.testing.assert_allclose(fit.r2, [1.0, 1.0], atol=1e-13)
    np.testing.assert_allclose(fit.slope_se, [0.0, 0.0], atol=1e-7)
    assert fit.slope[1] == 0.0  # a constant series gives exactly zero slope


def test_two_points_has_no_standard_error() -> None:
    fit = linear_fit(np.array([1.0, 3.0]), np.array([2.0, 6.0]))
    assert float(fit.slope) == pytest.approx(2.0)
    assert math.isnan(float(fit.slope_se))


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (np.array([1.0]), np.array([1.0]), "at least 2"),
        (np.array([1.0, 1.0, 1.0]), np.array([1.0, 2.0, 3.0]), "all equal"),
        (np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0]), "shape"),
        (np.array([1.0, 2.0, np.nan]), np.array([1.0, 2.0, 3.0]), "finite"),
        (np.array([[1.0, 2.0]]), np.array([1.0, 2.0]), "1-D"),
    ],
)
def test_errors(x: np.ndarray, y: np.ndarray, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        linear_fit(x, y)
