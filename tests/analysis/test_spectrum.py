"""Tests of mfa_engine.analysis.spectrum: hand-worked cases, an independent naive oracle,
the box-growing/sandbox identity, a vertex-transitive graph, validation and errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats
from scipy.sparse.csgraph import dijkstra

from mfa_engine.analysis.spectrum import Spectrum, default_q, spectrum_from_counts
from mfa_engine.errors import AnalysisError, ConfigError

LN2 = math.log(2.0)

# Three centres x three radii 1, 2, 4. ln(r / r_max) = -2 ln2, -ln2, 0: the middle point has
# zero weight in the slope, so every slope is (y(4) - y(1)) / (2 ln 2).
HAND_COUNTS = np.array([[1, 2, 4], [2, 4, 8], [1, 1, 2]])
HAND_RADII = np.array([1.0, 2.0, 4.0])


def _random_counts(rng: np.random.Generator, c: int, r: int, n_nodes: int) -> np.ndarray:
    inc = rng.integers(0, max(2, n_nodes // (2 * r)), size=(c, r))
    counts = 1 + np.cumsum(inc, axis=1)
    return np.minimum(counts, n_nodes)


# ----------------------------------------------------------------------------- hand cases


def test_hand_boxgrowing_centre() -> None:
    # mu_i(r) = N_i(r) / N_i(4) at r = 1, 2, 4:
    # centre 1: 1/4, 1/2, 1; centre 2: 1/4, 1/2, 1; centre 3: 1/2, 1/2, 1.
    # Z_q(1) = 2 (1/4)^q + (1/2)^q, Z_q(2) = 3 (1/2)^q, Z_q(4) = 3.
    q = np.array([-1.0, 0.0, 1.0, 2.0])
    s = spectrum_from_counts(HAND_COUNTS, HAND_RADII, q=q, min_reach=1)
    tau_hand = np.array(
        [
            (math.log(3) - math.log(2 * 4 + 2)) / (2 * LN2),  # Z_-1(1) = 10
            0.0,  # Z_0 = 3 at every radius
            math.log(3) / (2 * LN2),  # Z_1(1) = 1/2 + 1/2 = 1
            1.5,  # Z_2(1) = 2/16 + 1/4 = 3/8, ln(3 / (3/8)) = 3 ln 2
        ]
    )
    np.testing.assert_allclose(s.tau, tau_hand, rtol=0, atol=1e-14)
    assert s.tau[1] == 0.0  # tau(0) = 0 exactly
    # q = 2: y = ln 3 - 3 ln2, ln 3 - 2 ln2, ln 3; hand residuals (1/6, -1/3, 1/6) ln2:
    # SSE = ln2^2 / 6, SST = 42/9 ln2^2 -> R^2 = 27/28; SE = sqrt(SSE / 1 / (2 ln2^2)) = sqrt(1/12).
    assert s.r2[3] == pytest.approx(27 / 28, abs=1e-13)
    assert s.tau_se[3] == pytest.approx(math.sqrt(1 / 12), abs=1e-13)
    assert s.r2[1] == 1.0 and s.tau_se[1] == 0.0
    # alpha: forward, central, central, backward differences.
    alpha_hand = np.array(
        [
            tau_hand[1] - tau_hand[0],
            (tau_hand[2] - tau_hand[0]) / 2,
            (tau_hand[3] - tau_hand[1]) / 2,
            tau_hand[3] - tau_hand[2],
        ]
    )
    np.testing.assert_allclose(s.alpha, alpha_hand, atol=1e-14)
    np.testing.assert_allclose(s.f_alpha, q * alpha_hand - tau_hand, atol=1e-14)
    j = int(np.argmax(q * alpha_hand - tau_hand))
    assert s.alpha0_argmax == pytest.approx(alpha_hand[j], abs=1e-14)
    assert s.width == pytest.approx(alpha_hand.max() - alpha_hand.min(), abs=1e-14)
    # alpha0 analytic: mean ln mu at r = 1 is (2 ln(1/4) + ln(1/2)) / 3 = -5/3 ln2, 0 at r = 4:
    # slope = (5/3 ln2) / (2 ln2) = 5/6.
    assert s.alpha0_analytic == pytest.approx(5 / 6, abs=1e-14)
    assert s.alpha0 == s.alpha0_analytic  # the headline alpha0 is tau'(0)
    assert s.dims is None
    assert s.n_centres == 3
    assert s.convention == "boxgrowing"
    np.testing.assert_array_equal(s.radii, HAND_RADII)


def test_hand_sandbox_global() -> None:
    # n_nodes = 10, mu = N / 10. Slopes = (y(4) - y(1)) / (2 ln2).
    q = np.array([0.0, 1.0, 2.0])
    s = spectrum_from_counts(
        HAND_COUNTS, HAND_RADII, q=q, convention="sandbox", n_nodes=10, min_reach=1
    )
    # q = 0: <1/mu>(1) = 10 (1 + 1/2 + 1) / 3 = 25/3, <1/mu>(4) = 10 (1/4 + 1/8 + 1/2) / 3 = 35/12.
    tau0 = math.log((35 / 12) / (25 / 3)) / (2 * LN2)
    # q = 2: <mu>(1) = (1 + 2 + 1) / 30, <mu>(4) = (4 + 8 + 2) / 30 -> ln(14/4).
    tau2 = math.log(14 / 4) / (2 * LN2)
    np.testing.assert_allclose(s.tau, [tau0, 0.0, tau2], atol=1e-14)
    assert s.tau[1] == 0.0  # <mu^0> = 1 at every radius
    # D(0) = tau(0) / (0 - 1); D(2) = tau(2); D(1) = slope of <ln mu>:
    # <ln N>(1) = ln2 / 3, <ln N>(4) = (2 + 3 + 1) ln2 / 3 = 2 ln2 -> (5/3 ln2) / (2 ln2) = 5/6.
    np.testing.assert_allclose(s.dims, [-tau0, 5 / 6, tau2], atol=1e-14)
    assert s.dims[0] == pytest.approx(-math.log(0.35) / (2 * LN2), abs=1e-14)
    # Sandbox alpha0 analytic = tau'(0) = slope of sum(ln mu / mu) / sum(1 / mu):
    # r = 1: weights 1/N = (1, 1/2, 1), ln N = (0, ln2, 0) -> (ln2 / 2) / (5/2) = ln2 / 5;
    # r = 4: weights (1/4, 1/8, 1/2), ln N = (2, 3, 1) ln2
    #        -> (1/2 + 3/8 + 1/2) ln2 / (7/8) = 11/7 ln2.
    # (The -ln 10 shift cancels.) slope = (11/7 - 1/5) ln2 / (2 ln2) = 24/35.
    assert s.alpha0_analytic == pytest.approx(24 / 35, abs=1e-14)
    assert s.convention == "sandbox"


# ----------------------------------------------------------------------------- naive oracle


def _naive_spectrum(counts, radii, q, convention, normalisation, n_nodes, fit_range, min_reach):
    """Straightforward re-implementation: direct powers, np.polyfit, explicit differences."""
    counts = np.asarray(counts, dtype=float)
    counts = counts[counts[:, -1] - 1 >= min_reach]
    if normalisation == "centre":
        mu = counts / counts[:, -1:]
    else:
        mu = counts / n_nodes
    sel = np.ones(len(radii), bool)
    if fit_range is not None:
        sel = (radii >= fit_range[0]) & (radii <= fit_range[1])
    x = np.log(radii[sel] / radii[-1])
    tau = []
    for qq in q:
        if convention == "boxgrowing":
            y = np.log(np.sum(mu[:, sel] ** qq, axis=0))
        else:
            y = np.log(np.mean(mu[:, sel] ** (qq - 1), axis=0))
        tau.append(np.polyfit(x, y, 1)[0])
    tau = np.array(tau)
    alpha = np.empty_like(tau)
    alpha[0] = (tau[1] - tau[0]) / (q[1] - q[0])
    alpha[-1] = (tau[-1] - tau[-2]) / (q[-1] - q[-2])
    for j in range(1, len(q) - 1):
        hs, hd = q[j] - q[j - 1], q[j + 1] - q[j]  # second-order non-uniform central difference
        alpha[j] = (hs**2 * tau[j + 1] + (hd**2 - hs**2) * tau[j] - hd**2 * tau[j - 1]) / (
            hs * hd * (hd + hs)
        )
    f = q * alpha - tau
    return tau, alpha, f


@pytest.mark.parametrize("convention", ["boxgrowing", "sandbox"])
@pytest.mark.parametrize("normalisation", ["centre", "global"])
@pytest.mark.parametrize(("n_centres", "n_radii"), [(5, 4), (40, 16), (300, 64)])
def test_matches_naive_oracle(convention, normalisation, n_centres, n_radii) -> None:
    rng = np.random.default_rng(n_centres + 7 * n_radii)
    n_nodes = 500
    counts = _random_counts(rng, n_centres, n_radii, n_nodes)
    radii = np.geomspace(1.0, 50.0, n_radii)
    q = default_q() if n_radii != 16 else np.array([-2.0, -0.5, 0.0, 0.3, 1.0, 2.5])
    fit_range = (radii[1], radii[-2]) if n_radii >= 16 else None
    s = spectrum_from_counts(
        counts,
        radii,
        q=q,
        convention=convention,
        normalisation=normalisation,
        n_nodes=n_nodes,
        fit_range=fit_range,
        min_reach=3,
    )
    tau, alpha, f = _naive_spectrum(
        counts, radii, q, convention, normalisation, n_nodes, fit_range, 3
    )
    np.testing.assert_allclose(s.tau, tau, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(s.alpha, alpha, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(s.f_alpha, f, rtol=1e-8, atol=1e-9)
    assert s.alpha0_argmax == pytest.approx(alpha[int(np.argmax(f))], rel=1e-8)
    assert s.width == pytest.approx(alpha.max() - alpha.min(), rel=1e-8, abs=1e-10)
    assert s.n_centres == int(np.sum(counts[:, -1] - 1 >= 3))
    n_fit = n_radii - 2 if fit_range is not None else n_radii
    assert s.radii.shape == (n_fit,)


@pytest.mark.parametrize(("n_centres", "n_radii"), [(6, 5), (200, 64)])
def test_boxgrowing_equals_sandbox_shifted(n_centres: int, n_radii: int) -> None:
    # tau_boxgrowing(q) = tau_sandbox(q + 1) under the same (global) normalisation:
    # Z_q = C <mu^((q+1)-1)>, so ln Z differs by the constant ln C.
    rng = np.random.default_rng(n_centres)
    counts = _random_counts(rng, n_centres, n_radii, 1000)
    radii = np.geomspace(0.5, 30.0, n_radii)
    q = default_q()
    box = spectrum_from_counts(
        counts, radii, q=q, normalisation="global", n_nodes=1000, min_reach=0
    )
    sand = spectrum_from_counts(
        counts, radii, q=q + 1, convention="sandbox", normalisation="global", n_nodes=1000,
        min_reach=0,
    )
    np.testing.assert_allclose(box.tau, sand.tau, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(box.alpha, sand.alpha, rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(box.r2, sand.r2, rtol=1e-10, atol=1e-11)
    # Box-growing alpha0 analytic = tau'(0) = sandbox tau'(1) = sandbox D(1) at q = 1.
    j1 = int(np.argmin(np.abs(sand.q - 1.0)))
    assert sand.q[j1] == 1.0
    assert box.alpha0_analytic == pytest.approx(sand.dims[j1], rel=1e-10)


def test_global_normalisation_only_shifts_box_growing_intercepts() -> None:
    # Changing n_nodes multiplies every mu by a constant: slopes are unchanged.
    rng = np.random.default_rng(3)
    counts = _random_counts(rng, 30, 10, 400)
    radii = np.arange(1.0, 11.0)
    a = spectrum_from_counts(counts, radii, normalisation="global", n_nodes=400, min_reach=0)
    b = spectrum_from_counts(counts, radii, normalisation="global", n_nodes=10**6, min_reach=0)
    np.testing.assert_allclose(a.tau, b.tau, rtol=1e-10, atol=1e-12)


def test_no_overflow_with_tiny_measures() -> None:
    # mu ~ 1e-200: a naive mu**-3 = 1e600 overflows; log-sum-exp must not.
    counts = np.array([[1, 2, 4], [2, 4, 8], [1, 1, 2]])
    radii = np.array([1.0, 2.0, 4.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        tiny = spectrum_from_counts(
            counts, radii, normalisation="global", n_nodes=1e200, min_reach=1
        )
        sand = spectrum_from_counts(
            counts, radii, convention="sandbox", n_nodes=1e200, min_reach=1
        )
    ref = spectrum_from_counts(counts, radii, normalisation="global", n_nodes=10, min_reach=1)
    assert np.all(np.isfinite(tiny.tau)) and np.all(np.isfinite(sand.tau))
    np.testing.assert_allclose(tiny.tau, ref.tau, rtol=1e-9, atol=1e-9)
    # Hand value at q = -3 (the 1e600 factor cancels in the slope):
    # Z(1) ~ 1^-3 + 2^-3 + 1^-3 = 17/8 and Z(4) ~ 4^-3 + 8^-3 + 2^-3.
    z1 = 17 / 8
    z4 = 4.0**-3 + 8.0**-3 + 2.0**-3
    assert tiny.tau[0] == pytest.approx(math.log(z4 / z1) / (2 * LN2), rel=1e-9)


def test_fit_range_is_inclusive_subset() -> None:
    rng = np.random.default_rng(5)
    counts = _random_counts(rng, 25, 12, 300)
    radii = np.geomspace(1.0, 40.0, 12)
    s = spectrum_from_counts(counts, radii, fit_range=(radii[2], radii[8]), min_reach=0)
    np.testing.assert_array_equal(s.radii, radii[2:9])
    # Normalisation still uses the full grid's r_max (centre normalisation by N_i(40)).
    mu = counts / counts[:, -1:]
    x = np.log(radii[2:9] / radii[-1])
    for j, qq in enumerate(s.q[::10]):
        y = np.log(np.sum(mu[:, 2:9] ** qq, axis=0))
        ref = stats.linregress(x, y)
        assert s.tau[10 * j] == pytest.approx(ref.slope, abs=1e-10)
        assert s.tau_se[10 * j] == pytest.approx(ref.stderr, abs=1e-10)


# ----------------------------------------------------------------------------- torus


def _torus(side: int) -> sp.csr_array:
    idx = np.arange(side * side).reshape(side, side)
    right = np.stack([idx.ravel(), np.roll(idx, -1, axis=1).ravel()], axis=1)
    down = np.stack([idx.ravel(), np.roll(idx, -1, axis=0).ravel()], axis=1)
    e = np.concatenate([right, down])
    a = sp.coo_array((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(side * side,) * 2).tocsr()
    return (a + a.T).tocsr()


@pytest.mark.parametrize("side", [12, 31])
def test_torus_is_monofractal(side: int) -> None:
    g = _torus(side)
    n = side * side
    radii = np.arange(1.0, side // 2 + 1.0)
    d = dijkstra(g, indices=np.arange(n))
    counts = np.stack([(d <= r).sum(axis=1) for r in radii], axis=1)
    # Vertex-transitive: every centre sees the same mass M(r).
    assert np.all(counts == counts[0])
    m_slope = stats.linregress(np.log(radii), np.log(counts[0])).slope
    sand = spectrum_from_counts(counts, radii, convention="sandbox", n_nodes=n)
    assert sand.n_centres == n
    np.testing.assert_allclose(sand.dims, m_slope, rtol=1e-10)
    box = spectrum_from_counts(counts, radii)
    assert box.width == pytest.approx(0.0, abs=1e-10)
    np.testing.assert_allclose(box.alpha, m_slope, rtol=1e-10)
    np.testing.assert_allclose(box.tau, box.q * m_slope, atol=1e-10)
    np.testing.assert_allclose(box.f_alpha, 0.0, atol=1e-10)
    assert box.alpha0_analytic == pytest.approx(m_slope, rel=1e-12)


# ----------------------------------------------------------------------------- output


def test_to_dict_is_json_ready() -> None:
    s = spectrum_from_counts(
        np.array([[1, 3], [2, 5], [1, 4]]), np.array([1.0, 2.0]), convention="sandbox",
        n_nodes=6, min_reach=1,
    )
    d = s.to_dict()
    text = json.dumps(d, allow_nan=False)  # two radii: no slope SE -> None, not NaN
    assert json.loads(text) == d
    assert d["tau_se"][0] is None
    assert type(d["alpha0"]) is float and type(d["n_centres"]) is int
    assert all(type(v) is float for v in d["tau"])
    assert len(d["q"]) == 61 and d["q"][0] == -3.0 and d["q"][30] == 0.0 and d["q"][-1] == 3.0
    assert d["convention"] == "sandbox" and len(d["dims"]) == 61
    assert set(d) == {
        "q", "tau", "tau_se", "r2", "alpha", "f_alpha", "alpha0", "alpha0_analytic",
        "width", "dims", "n_centres", "radii", "convention", "alpha0_argmax", "width_hull",
        "diagnostics",
    }
    box = spectrum_from_counts(np.array([[1, 3], [2, 5]]), np.array([1.0, 2.0]), min_reach=1)
    assert box.to_dict()["dims"] is None
    assert isinstance(box, Spectrum)


def test_default_q_grid() -> None:
    q = default_q()
    assert q.shape == (61,)
    np.testing.assert_array_equal(q, [k / 10 for k in range(-30, 31)])
    assert q[40] == 1.0 and q[30] == 0.0


# ----------------------------------------------------------------------------- errors


def test_too_few_centres() -> None:
    # Reachable nodes within r_max (the centre excluded): 11, 2, 0, 9.
    counts = np.array([[1, 5, 12], [1, 2, 3], [1, 1, 1], [2, 4, 10]])
    with pytest.raises(AnalysisError, match=r"4 centres given, 1 remain.*min_reach=10") as info:
        spectrum_from_counts(counts, np.array([1.0, 2.0, 3.0]))
    assert "\n" not in str(info.value)
    with pytest.raises(AnalysisError, match=r"4 centres given, 0 remain.*min_reach=20"):
        spectrum_from_counts(counts, np.array([1.0, 2.0, 3.0]), min_reach=20)
    # min_reach = 9: centres 0 (11 reachable) and 3 (exactly 9 reachable) remain.
    s = spectrum_from_counts(counts, np.array([1.0, 2.0, 3.0]), min_reach=9)
    assert s.n_centres == 2
    assert spectrum_from_counts(counts, np.array([1.0, 2.0, 3.0]), min_reach=2).n_centres == 3


GOOD = np.array([[1, 2, 4], [2, 4, 8], [1, 1, 2]])
GOOD_R = np.array([1.0, 2.0, 4.0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"q": [0.0, 1.0]}, "at least 3 values"),
        ({"q": [0.0, np.nan, 1.0]}, "NaN or inf"),
        ({"q": [0.0, np.inf, 1.0]}, "NaN or inf"),
        ({"q": [0.0, 2.0, 1.0]}, "strictly increasing"),
        ({"q": [0.0, 1.0, 1.0]}, "strictly increasing"),
        ({"q": [[0.0, 1.0, 2.0]]}, "1-D"),
        ({"radii": [1.0, 4.0, 2.0]}, "radii must be strictly increasing"),
        ({"radii": [0.0, 1.0, 2.0]}, "> 0"),
        ({"radii": [-1.0, 1.0, 2.0]}, "> 0"),
        ({"radii": [1.0, 2.0]}, r"shape \[C, 2\]"),
        ({"counts": [[1, 3, 2], [1, 2, 4], [1, 2, 3]]}, "non-decreasing"),
        ({"counts": [[0, 2, 4], [1, 2, 4], [1, 2, 3]]}, ">= 1"),
        ({"counts": [1, 2, 4]}, "shape"),
        ({"convention": "box"}, "convention"),
        ({"normalisation": "local"}, "normalisation"),
        ({"normalisation": "global"}, "requires n_nodes"),
        ({"normalisation": "global", "n_nodes": 5}, "n_nodes=5"),
        ({"normalisation": "global", "n_nodes": "many"}, "n_nodes='many'"),
        ({"convention": "sandbox"}, "requires n_nodes"),
        ({"fit_range": (3.0, 3.5)}, "need at least 2"),
        ({"fit_range": (4.0, 1.0)}, "r_lo <= r_hi"),
        ({"fit_range": 2.0}, "pair"),
        ({"min_reach": -1}, "min_reach"),
    ],
)
def test_validation_errors(kwargs: dict, match: str) -> None:
    args = {"counts": GOOD, "radii": GOOD_R, "min_reach": 1}
    args.update(kwargs)
    with pytest.raises(ConfigError, match=match) as info:
        spectrum_from_counts(args.pop("counts"), args.pop("radii"), **args)
    assert "\n" not in str(info.value)
