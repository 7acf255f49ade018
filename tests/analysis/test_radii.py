"""Tests of mfa_engine.analysis.radii.radius_grid."""

from __future__ import annotations

import numpy as np
import pytest

from mfa_engine.analysis.radii import radius_grid
from mfa_engine.errors import ConfigError


@pytest.mark.parametrize("n", [2, 16, 64])
@pytest.mark.parametrize("size", [50, 1000])
def test_p99_grid(n: int, size: int) -> None:
    rng = np.random.default_rng(size + n)
    d = rng.lognormal(mean=2.0, sigma=1.5, size=size)
    d[:3] = np.inf  # unreachable pairs are ignored
    d[3] = 0.0  # so are self distances
    r = radius_grid(d, n=n)
    finite = d[np.isfinite(d) & (d > 0)]
    assert r.shape == (n,)
    assert r[0] == finite.min()
    assert r[-1] == np.percentile(finite, 99)
    assert r[-1] < finite.max()
    ratios = r[1:] / r[:-1]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)  # log-spaced
    assert np.all(np.diff(r) > 0)


def test_p99_cuts_outliers_but_max_keeps_them() -> None:
    # 1000 distances 1..100 plus a few huge ones from near-zero weights (docs/method.md, Box growing).
    d = np.concatenate([np.linspace(1.0, 100.0, 1000), [4e6, 5e6]])
    r99 = radius_grid(d, n=8)
    rmax = radius_grid(d, n=8, upper="max")
    assert r99[-1] == pytest.approx(np.percentile(d, 99))
    assert r99[-1] < 100.0
    assert rmax[-1] == 5e6
    assert rmax[0] == r99[0] == 1.0


def test_hand_max_grid() -> None:
    # 1 .. 8 in 4 log-spaced steps: 1, 2, 4, 8.
    r = radius_grid(np.array([[0.0, 1.0], [8.0, np.inf], [3.0, 2.0]]), n=4, upper="max")
    np.testing.assert_allclose(r, [1.0, 2.0, 4.0, 8.0], rtol=1e-14)


def test_rounded_grid() -> None:
    # np.round is half to even: 0.4 -> 0 (dropped), 1.5 -> 2, 2.5 -> 2, 3.5 -> 4, 7.2 -> 7.
    d = np.array([0.4, 1.5, 2.5, 3.5, 7.2, 2.0, np.inf])
    r = radius_grid(d, upper="rounded")
    np.testing.assert_array_equal(r, [2.0, 4.0, 7.0])
    assert r.dtype == np.float64


@pytest.mark.parametrize(
    ("d", "kwargs", "match"),
    [
        (np.array([]), {}, "no positive finite"),
        (np.array([0.0, np.inf]), {}, "no positive finite"),
        (np.array([1.0, 2.0]), {"n": 1}, "n must be"),
        (np.array([1.0, 2.0]), {"n": 0}, "n must be"),
        (np.array([1.0, -2.0]), {}, ">= 0"),
        (np.array([1.0, np.nan]), {}, "NaN"),
        (np.array([3.0, 3.0, 3.0]), {}, "two distinct"),
        (np.array([1.0, 2.0]), {"upper": "p95"}, "not one of"),
        (np.array([1.2, 0.9]), {"upper": "rounded"}, "at least 2 distinct"),
    ],
)
def test_errors(d: np.ndarray, kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        radius_grid(d, **kwargs)


# ----------------------------------------------------------------------------- scaled grid


def test_scaled_grid_hand_endpoints() -> None:
    from mfa_engine.analysis.radii import scaled_radius_grid

    edges = np.array([5.0, 1.0, 4.0, 2.0, 3.0, np.inf, 0.0])  # inf and 0 are ignored
    paths = np.array([2.0, 4.0, 8.0, 16.0, 32.0, np.inf])
    # 25% quantile of 1..5 (linear) = 2; max of the paths = 32; unit grid 1, 2, 4, 8, 16.
    r = scaled_radius_grid(edges, paths, n=5, low_quantile=0.25, upper="max")
    np.testing.assert_allclose(r, [2.0, 4.0, 8.0, 16.0, 32.0], rtol=1e-15)
    assert r[0] == 2.0 and r[-1] == 32.0
    # Never below the floor; never the single smallest distance (quantile 0.05 of 1..5 = 1.2).
    assert scaled_radius_grid(edges, paths, n=5, floor=3.0, upper="max")[0] == 3.0
    assert scaled_radius_grid(edges, paths, n=5, upper="max")[0] == pytest.approx(1.2, rel=1e-15)
    # p99 of the paths (linear interpolation): 16 + 0.96 * 16.
    assert scaled_radius_grid(edges, paths, n=3)[-1] == pytest.approx(31.36, rel=1e-15)


@pytest.mark.parametrize("k", [-3, -1, 1, 5])
def test_scaled_grid_is_exact_under_power_of_two(k: int) -> None:
    from mfa_engine.analysis.radii import scaled_radius_grid

    rng = np.random.default_rng(7)
    edges = 1.0 / np.abs(rng.normal(0, 0.05, 500))
    paths = rng.lognormal(3.0, 1.0, 2000)
    c = 2.0**k
    r = scaled_radius_grid(edges, paths, n=64, floor=float(np.median(edges)))
    rc = scaled_radius_grid(edges * c, paths * c, n=64, floor=float(np.median(edges * c)))
    np.testing.assert_array_equal(rc, r * c)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 1}, "n must be"),
        ({"low_quantile": 1.0}, "low_quantile"),
        ({"floor": -1.0}, "floor"),
        ({"upper": "rounded"}, "upper"),
        ({"floor": 1e9}, "not above"),
    ],
)
def test_scaled_grid_errors(kwargs: dict, match: str) -> None:
    from mfa_engine.analysis.radii import scaled_radius_grid

    with pytest.raises(ConfigError, match=match):
        scaled_radius_grid(np.array([1.0, 2.0]), np.array([1.0, 10.0]), **kwargs)
    with pytest.raises(ConfigError, match="no positive finite"):
        scaled_radius_grid(np.array([0.0, np.inf]), np.array([1.0, 10.0]))


def test_fixed_grid_in_u_and_r_unit() -> None:
    from mfa_engine.analysis.radii import U_GRID, fixed_radius_grid, r_unit_of

    assert U_GRID.size == 61 and U_GRID[0] == -3.0 and U_GRID[30] == 0.0 and U_GRID[-1] == 3.0
    d = np.array([[0.5, np.inf], [2.0, 8.0]])
    assert r_unit_of(d) == 2.0  # median of the finite distances 0.5, 2, 8
    assert r_unit_of(d / 4) == 0.5
    r = fixed_radius_grid(2.0)
    np.testing.assert_allclose(r, 2.0 * np.exp(np.linspace(-3, 3, 61)), rtol=1e-14)
    assert np.array_equal(fixed_radius_grid(8.0), 4 * r)  # a power of two scales every radius exactly
    with pytest.raises(ConfigError, match="no weighted edge"):
        r_unit_of(np.array([np.inf, 0.0]))
    with pytest.raises(ConfigError, match="r_unit"):
        fixed_radius_grid(0.0)
