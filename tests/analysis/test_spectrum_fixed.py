"""The fixed window in u and the local-slope profile (issue 21) against plain NumPy oracles."""

from __future__ import annotations

import numpy as np
import pytest

from mfa_engine.analysis.radii import U_GRID
from mfa_engine.analysis.spectrum import fixed_window_mask, local_slope_profile, spectrum_from_counts
from mfa_engine.errors import ConfigError


def _counts(seed: int, c: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    steps = rng.integers(0, 4, size=(c, U_GRID.size))
    return 1 + np.cumsum(steps, axis=1) + rng.integers(10, 20, size=(c, 1)) * (np.arange(U_GRID.size) >= 50)


def test_fixed_window_fit_equals_numpy_least_squares() -> None:
    counts = _counts(0)
    radii = 3.7 * np.exp(U_GRID)
    q = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    spec = spectrum_from_counts(counts, radii, q=q, fit_window="fixed", u=U_GRID, window_u=(0.35, 1.25))
    sel = (U_GRID >= 0.4 - 1e-9) & (U_GRID <= 1.2 + 1e-9)  # 0.4 .. 1.2: 9 grid points
    assert spec.radii.size == 9 and np.array_equal(spec.radii, radii[sel])
    mu = counts / counts[:, -1:]
    x = np.log(radii[sel])
    a = np.stack([x, np.ones_like(x)], axis=1)
    alpha0 = np.linalg.lstsq(a, np.log(mu[:, sel]).mean(axis=0), rcond=None)[0][0]
    assert spec.alpha0 == pytest.approx(alpha0, rel=1e-10, abs=1e-12)
    for j, qj in enumerate(q):
        tau = np.linalg.lstsq(a, np.log((mu[:, sel] ** qj).sum(axis=0)), rcond=None)[0][0]
        assert spec.tau[j] == pytest.approx(tau, rel=1e-9, abs=1e-12)
    assert spec.diagnostics["fit_window_source"] == "fixed"
    assert spec.diagnostics["window_instability"] is None and spec.diagnostics["alpha0_window_spread"] is None


def test_fixed_window_selects_in_u_not_in_r() -> None:
    # radii that went through arithmetic (a weight scale of 1.06): the same points are selected
    u = U_GRID
    for scale in (1.0, 1.06, 1 / 3):
        radii = scale * 28.6 * np.exp(u)
        spec = spectrum_from_counts(_counts(1), radii, fit_window="fixed", u=u, window_u=(1.1, 2.1))
        assert spec.radii.size == 11 and spec.radii[0] == radii[41]
    assert fixed_window_mask(u, (1.1, 2.1), u.size).sum() == 11
    with pytest.raises(ConfigError, match="need at least 2"):
        fixed_window_mask(u, (3.05, 4.0), u.size)
    with pytest.raises(ConfigError, match="needs the grid in u"):
        spectrum_from_counts(_counts(1), np.exp(u), fit_window="fixed")


def test_profile_is_the_finite_difference_of_the_series() -> None:
    counts = _counts(2)
    radii = 0.5 * np.exp(U_GRID)
    q = np.array([-1.0, 0.5, 3.0])
    prof = local_slope_profile(counts, radii, U_GRID, q=q, min_reach=0)
    mu = counts / counts[:, -1:]
    assert len(prof["u"]) == U_GRID.size - 1
    np.testing.assert_allclose(prof["u"], np.arange(-29.5, 30) / 10, rtol=0, atol=1e-12)
    np.testing.assert_allclose(prof["ln_mu"], np.diff(np.log(mu).mean(axis=0)) / 0.1, rtol=1e-9, atol=1e-12)
    for j, qj in enumerate(q):
        np.testing.assert_allclose(prof["ln_z"][j], np.diff(np.log((mu ** qj).sum(axis=0))) / 0.1,
                                   rtol=1e-9, atol=1e-12)


def test_design_weights_weight_every_average_and_sum() -> None:
    counts = _counts(3, c=30)
    radii = np.exp(U_GRID)
    w = np.random.default_rng(4).uniform(0.5, 3.0, size=30)
    q = np.array([-1.0, 0.0, 1.0, 2.0])
    spec = spectrum_from_counts(counts, radii, q=q, fit_window="fixed", u=U_GRID, window_u=(-1.0, 1.0),
                                weights=w, min_reach=0)
    sel = (U_GRID >= -1.0 - 1e-9) & (U_GRID <= 1.0 + 1e-9)
    mu = counts / counts[:, -1:]
    a = np.stack([U_GRID[sel], np.ones(int(sel.sum()))], axis=1)
    ybar = (w[:, None] * np.log(mu[:, sel])).sum(axis=0) / w.sum()
    assert spec.alpha0 == pytest.approx(np.linalg.lstsq(a, ybar, rcond=None)[0][0], rel=1e-10)
    for j, qj in enumerate(q):
        z = np.log((w[:, None] * mu[:, sel] ** qj).sum(axis=0))
        assert spec.tau[j] == pytest.approx(np.linalg.lstsq(a, z, rcond=None)[0][0], rel=1e-9, abs=1e-12)
    # equal weights change nothing
    plain = spectrum_from_counts(counts, radii, q=q, fit_window="fixed", u=U_GRID, window_u=(-1.0, 1.0), min_reach=0)
    same = spectrum_from_counts(counts, radii, q=q, fit_window="fixed", u=U_GRID, window_u=(-1.0, 1.0), min_reach=0,
                                weights=np.full(30, 2.5))
    assert same.alpha0 == pytest.approx(plain.alpha0, rel=1e-12)
    np.testing.assert_allclose(same.tau, plain.tau, rtol=1e-10, atol=1e-12)
    with pytest.raises(ConfigError, match="weights"):
        spectrum_from_counts(counts, radii, weights=np.zeros(30))
