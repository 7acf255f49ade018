"""Hand-worked diagnostics of a spectrum (analysis.diagnostics through spectrum_from_counts)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mfa_engine.analysis.spectrum import spectrum_from_counts

# Three centres x radii 1, 2, 4 (as in test_spectrum): mu at r = 1: 1/4, 1/4, 1/2.
COUNTS = np.array([[1, 2, 4], [2, 4, 8], [1, 1, 2]])
RADII = np.array([1.0, 2.0, 4.0])
Q = np.array([-1.0, 0.0, 1.0, 2.0])
LN2 = math.log(2.0)


def test_full_grid_diagnostics_by_hand() -> None:
    s = spectrum_from_counts(COUNTS, RADII, q=Q, min_reach=1)
    d = s.diagnostics
    # tau = (ln3 - ln10) / (2 ln2), 0, ln3 / (2 ln2), 3/2: slopes 0.868, 0.792, 0.708 fall, so
    # tau is concave and q = 0 is on its hull; alpha = 0.868, 0.830, 0.75, 0.708 never rises.
    assert d["n_alpha_increasing"] == 0
    assert d["q0_on_hull"] is True
    # f(-1) = -alpha(-1) - tau(-1) = 0 = f(0) (up to rounding): max f is not above f(0).
    assert d["max_f_above_f0"] is False
    # mean ln mu = -5/3 ln2, -ln2, 0 at x = -2 ln2, -ln2, 0: SSE = 6/324 ln2^2,
    # SST = 456/324 ln2^2 -> R^2 = 75/76.
    assert d["r2_alpha0"] == pytest.approx(75 / 76, abs=1e-14)
    assert d["r2_min"] == pytest.approx(float(np.min(s.r2)), abs=0)
    assert d["r2_median"] == pytest.approx(float(np.median(s.r2)), abs=0)
    # Centres 0 and 2 count only themselves at r = 1; at r_max every centre is saturated.
    assert d["self_share_lowest"] == pytest.approx(2 / 3, abs=1e-15)
    assert d["saturated_share_highest"] == 1.0
    assert d["fit_window"] == [1.0, 4.0] and d["fit_window_source"] == "full"
    assert d["fit_window_x"] == [pytest.approx(-2 * LN2, abs=1e-15), 0.0]
    assert d["n_fit_radii"] == 3 and d["window_instability"] is None
    # Z_-1 at r = 1: terms 4, 4, 2 -> the largest carries 4/10.
    assert d["qmin_top_share"] == pytest.approx(0.4, abs=1e-15)
    assert d["flags"] == ["self_plateau", "saturated"] and d["flagged"] is True
    assert json.loads(json.dumps(s.to_dict(), allow_nan=False))["diagnostics"] == d


def test_fit_range_diagnostics_and_flags() -> None:
    s = spectrum_from_counts(COUNTS, RADII, q=Q, min_reach=1, fit_range=(1.0, 2.0))
    d = s.diagnostics
    # At r = 2 no centre has reached its count at r_max (2 < 4, 4 < 8, 1 < 2).
    assert d["saturated_share_highest"] == 0.0
    assert d["fit_window_source"] == "fit_range" and d["n_fit_radii"] == 2
    assert d["r2_alpha0"] == 1.0  # two points
    assert d["flags"] == ["self_plateau"]
    # Without q = 0 in the grid the hull and f(0) questions have no answer.
    s2 = spectrum_from_counts(COUNTS[:, 1:], RADII[1:], q=[0.5, 1.0, 2.0], min_reach=1)
    assert s2.diagnostics["q0_on_hull"] is None and s2.diagnostics["max_f_above_f0"] is None
    # No centre counts only itself at r = 2 (centre 2 does: 1 of 3 -> 1/3 < 1/2: no flag).
    assert s2.diagnostics["self_share_lowest"] == pytest.approx(1 / 3, abs=1e-15)
    assert s2.diagnostics["flags"] == ["saturated"]


def test_sample_diagnostics_formulas_by_hand() -> None:
    from mfa_engine.analysis.diagnostics import sample_diagnostics
    from mfa_engine.analysis.window import FitWindow

    q = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    counts = np.array([[1.0, 1.0, 3.0], [2.0, 3.0, 3.0]])
    radii = np.array([1.0, 2.0, 4.0])
    common = dict(r2=np.array([0.5, 0.7, 1.0, 0.9, 0.8]), counts=counts, radii=radii,
                  window=FitWindow(0, 2, "full"), qmin_top_share=0.5)
    # q = 0 below the hull chord (-2, -2) -> (1, 1.5); alpha = np.gradient: 1, 1, 1.25, 1, 0.5
    # rises once; f = q alpha - tau = 0, 0, 0, -0.5, -1: max f is f(0).
    tau = np.array([-2.0, -1.0, 0.0, 1.5, 2.0])
    alpha = np.gradient(tau, q)
    d = sample_diagnostics(q=q, tau=tau, alpha=alpha, f_alpha=q * alpha - tau, r2_alpha0=0.5,
                           **common)
    assert d["n_alpha_increasing"] == 1 and d["q0_on_hull"] is False
    assert d["max_f_above_f0"] is False
    assert d["r2_min"] == 0.5 and d["r2_median"] == 0.8
    # Centre 0 counts only itself at r = 1 (1 of 2: not more than half); both are saturated.
    assert d["self_share_lowest"] == 0.5 and d["saturated_share_highest"] == 1.0
    assert d["flags"] == ["q0_off_hull", "saturated", "low_r2"]
    # Non-concave at q < 0 but q = 0 on the hull: alpha = 0.2, 0.6, 0.75, 0.4, 0.3 rises twice;
    # f(-2) = -0.4 + 1.2 = 0.8 > f(0) = 0. Neither flags.
    tau = np.array([-1.2, -1.0, 0.0, 0.5, 0.8])
    alpha = np.gradient(tau, q)
    np.testing.assert_allclose(alpha, [0.2, 0.6, 0.75, 0.4, 0.3], atol=1e-15)
    d = sample_diagnostics(q=q, tau=tau, alpha=alpha, f_alpha=q * alpha - tau, r2_alpha0=0.95,
                           **{**common, "window": FitWindow(0, 1, "auto", 0.1)})
    assert d["n_alpha_increasing"] == 2 and d["q0_on_hull"] is True
    assert d["qmin_top_share"] == 0.5  # not more than half: no flag
    assert d["max_f_above_f0"] is True
    # At r = 2 centre 1 is saturated (3 = 3), centre 0 is not: 1/2.
    assert d["saturated_share_highest"] == 0.5 and d["window_instability"] == 0.1
    assert d["flags"] == [] and d["flagged"] is False
    d = sample_diagnostics(q=q, tau=tau, alpha=alpha, f_alpha=q * alpha - tau, r2_alpha0=0.95,
                           **{**common, "qmin_top_share": 0.51})
    assert d["flags"] == ["saturated", "qmin_dominated"]


def test_auto_window_without_an_eligible_window_falls_back_and_flags() -> None:
    s = spectrum_from_counts(COUNTS, RADII, q=Q, min_reach=1, fit_window="auto", window_min_span=5.0)
    d = s.diagnostics
    assert d["fit_window_source"] == "auto" and d["n_fit_radii"] == 3
    assert "no_window" in d["flags"]


def test_window_ambiguous_flag_threshold() -> None:
    from mfa_engine.analysis.diagnostics import sample_diagnostics
    from mfa_engine.analysis.window import FitWindow

    q = np.array([-1.0, 0.0, 1.0])
    tau = np.array([-1.0, 0.0, 1.0])
    alpha = np.gradient(tau, q)
    common = dict(q=q, tau=tau, alpha=alpha, f_alpha=q * alpha - tau, r2=np.ones(3),
                  r2_alpha0=1.0, counts=np.array([[2.0, 3.0, 9.0]] * 2),
                  radii=np.array([1.0, 2.0, 4.0]), qmin_top_share=0.5)
    for spread, flags in ((0.1, []), (0.1000001, ["window_ambiguous"])):
        d = sample_diagnostics(window=FitWindow(0, 1, "auto", 0.2, alpha0_spread=spread), **common)
        assert d["alpha0_window_spread"] == spread and d["flags"] == flags
    d = sample_diagnostics(window=FitWindow(0, 1, "full"), **common)
    assert d["alpha0_window_spread"] is None and d["flags"] == []


def _two_regime_counts(steps: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Two identical centres with ln N = 1 + cumulative steps over x = ln(r / r_max) = -n..0."""
    ln_n = 1.0 + np.concatenate([[0.0], np.cumsum(steps)])
    radii = np.exp(np.arange(ln_n.size, dtype=np.float64) - (ln_n.size - 1))
    return np.exp(np.vstack([ln_n, ln_n])), radii


@pytest.mark.parametrize(
    "steps, ambiguous, spread",
    [
        # Slope 1 (secants 1, 1.1, 1, 1.1) then slope 2 (2, 2.2, 2, 2.2): a window and its
        # double have the same instability (CV is scale-free). The chosen window is ln N = 2,
        # 3.1, 4.1, 5.2 over x = -8..-5: OLS slope (-3 - 1.55 + 2.05 + 7.8) / 5 = 1.06; the
        # alternative 6.2, 8.4, 10.4, 12.6 over x = -4..-1 has twice the slope, 2.12.
        ([1.0, 1.1, 1.0, 1.1, 2.0, 2.2, 2.0, 2.2, 2.0], True, 1.06),
        # One power law with the same wobble: windows measure 1.06 or 1.04 (0, 1, 2.1, 3.1:
        # (-1 + 1.05 + 4.65) / 5): spread 0.02.
        ([1.0, 1.1] * 4 + [1.0], False, 0.02),
    ],
)
def test_auto_window_flags_two_equally_straight_regimes(
    steps: list[float], ambiguous: bool, spread: float
) -> None:
    counts, radii = _two_regime_counts(steps)
    s = spectrum_from_counts(counts, radii, q=np.array([-1.0, 0.0, 1.0]), min_reach=1,
                             fit_window="auto")
    d = s.diagnostics
    assert d["fit_window_source"] == "auto" and d["fit_window_x"] == [-8.0, -5.0]
    assert ("window_ambiguous" in d["flags"]) is ambiguous
    assert s.alpha0 == pytest.approx(1.06, abs=1e-12)
    assert d["alpha0_window_spread"] == pytest.approx(spread, abs=1e-12)
