"""Hand-worked cases of the fit-window rule and of tau's concave hull (analysis.window)."""

from __future__ import annotations

import numpy as np
import pytest

from mfa_engine.analysis.window import (
    alpha0_window_spread,
    eligible_windows,
    hull_width,
    local_slopes,
    on_hull,
    select_window,
    upper_hull,
)
from mfa_engine.errors import ConfigError

X = np.arange(5, dtype=np.float64)
# Local slopes over baseline 1 (adjacent secants): 1, 2, 2, 2.
Y = np.array([[0.0, 1.0, 3.0, 5.0, 7.0]])
ZERO = np.zeros(5)


def test_local_slopes_secants_over_the_baseline() -> None:
    x = np.array([0.0, 0.5, 1.0, 1.5])
    y = np.array([[0.0, 1.0, 4.0, 9.0]])
    ends, s = local_slopes(x, y, 1.0)
    np.testing.assert_array_equal(ends, [2, 3, 4, 4])
    np.testing.assert_array_equal(s[0, :2], [4.0, 8.0])  # (4 - 0) / 1, (9 - 1) / 1
    assert np.isnan(s[0, 2:]).all()


def test_most_stable_window_prefers_wider_on_ties() -> None:
    # [0, 2] has slopes (1, 2): CV = 0.5 / 1.5; [1, 3] and [1, 4] have CV 0: the wider wins.
    assert select_window(X, Y, ZERO, ZERO, min_span=2.0, baseline=1.0) == (1, 4, 0.0)
    sat = ZERO.copy()
    sat[4] = 0.6  # more than half saturated at r_4: windows may not end there
    assert select_window(X, Y, ZERO, sat, min_span=2.0, baseline=1.0) == (1, 3, 0.0)
    own = ZERO.copy()
    own[1] = 0.6  # more than half count only themselves at r_1: windows may not start there
    assert select_window(X, Y, own, ZERO, min_span=2.0, baseline=1.0) == (2, 4, 0.0)
    a, b, cv = select_window(X, Y, own, sat, min_span=2.0, baseline=1.0)
    # Left: [0, 2] (slopes 1, 2: std 0.5, mean 1.5), [0, 3] (1, 2, 2), [2, 4] is out (sat).
    assert (a, b) == (0, 3)
    s = np.array([1.0, 2.0, 2.0])
    assert cv == pytest.approx(s.std() / s.mean(), rel=1e-15)


def test_plateau_has_no_window_and_spans_are_enforced() -> None:
    flat = np.zeros((1, 5))  # mean slope 0: infinitely unstable
    assert select_window(X, flat, ZERO, ZERO, min_span=1.0, baseline=1.0) is None
    assert select_window(X, Y, ZERO, ZERO, min_span=4.5, baseline=1.0) is None  # grid too short
    # The worst series decides: a second series (slopes 1, 1, 1, 7) unstable on [1, 4] makes
    # [1, 3] (slopes 2, 2 and 1, 1: CV 0 for both) the window.
    y2 = np.vstack([Y, [[0.0, 1.0, 2.0, 3.0, 10.0]]])
    assert select_window(X, y2, ZERO, ZERO, min_span=2.0, baseline=1.0) == (1, 3, 0.0)
    with pytest.raises(ConfigError, match="min_span"):
        select_window(X, Y, ZERO, ZERO, min_span=0.0)
    with pytest.raises(ConfigError, match="baseline"):
        select_window(X, Y, ZERO, ZERO, baseline=float("nan"))


def test_hull_of_a_concave_tau_is_itself() -> None:
    q = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    tau = np.array([-3.0, -1.5, 0.0, 0.5, 0.8])  # slopes 1.5, 1.5, 0.5, 0.3
    np.testing.assert_array_equal(upper_hull(q, tau), [0, 2, 3, 4])  # (-1, -1.5) is on a segment
    assert hull_width(q, tau) == pytest.approx(1.5 - 0.3, abs=1e-15)
    assert all(on_hull(q, tau, j) for j in range(5))


def test_hull_bridges_a_non_concave_part() -> None:
    q = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    tau = np.array([-2.0, -1.8, 0.0, 0.5, 0.8])  # slopes 0.2, 1.8, ...: not concave at q < 0
    np.testing.assert_array_equal(upper_hull(q, tau), [0, 2, 3, 4])
    assert hull_width(q, tau) == pytest.approx(1.0 - 0.3, abs=1e-15)
    assert on_hull(q, tau, 2) and not on_hull(q, tau, 1)
    # q = 0 below the chord from (-2, -2) to (1, 1.5): hull value at 0 is -2 + 2 * 7/6 = 1/3.
    tau2 = np.array([-2.0, -1.0, 0.0, 1.5, 2.0])
    np.testing.assert_array_equal(upper_hull(q, tau2), [0, 3, 4])
    assert not on_hull(q, tau2, 2)
    assert hull_width(q, tau2) == pytest.approx(7 / 6 - 0.5, abs=1e-15)


# Two straight regimes: slope 1 on x in [0, 4], slope 2 on [4, 8] (adjacent secants over
# baseline 1: 1, 1, 1, 1, 2, 2, 2, 2).
X9 = np.arange(9, dtype=np.float64)
TWO = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 12.0])
ZERO9 = np.zeros(9)


def test_two_equally_straight_regimes_give_an_alpha0_spread() -> None:
    cands = eligible_windows(X9, TWO[None], ZERO9, ZERO9, min_span=2.0, baseline=1.0)
    best = select_window(X9, TWO[None], ZERO9, ZERO9, min_span=2.0, baseline=1.0)
    # [0, 4] and [4, 8] both have CV 0 and span 4: the lower wins.
    assert best == (0, 4, 0.0)
    assert min(cands)[2:] == (0, 4)
    # Alternatives: CV 0 (within 10% of 0) and sharing at most half the shorter span with
    # [0, 4]: the windows inside [4, 8] (slope 2). Those inside [0, 4] share all their span.
    assert alpha0_window_spread(X9, TWO, cands, best) == pytest.approx(1.0, abs=1e-14)


def test_single_power_law_has_no_alpha0_spread() -> None:
    y = 1.5 * X9
    cands = eligible_windows(X9, y[None], ZERO9, ZERO9, min_span=2.0, baseline=1.0)
    best = select_window(X9, y[None], ZERO9, ZERO9, min_span=2.0, baseline=1.0)
    assert best is not None
    # Every window measures slope 1.5 (whichever wins a rounding tie).
    assert alpha0_window_spread(X9, y, cands, best) < 1e-12


def test_alternatives_need_the_margin_and_little_overlap() -> None:
    # Regime 2 wobbles (secants 2, 2.2, 2, 2.2: CV 0.1 / 2.1); regime 1 is exactly straight.
    y = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.2, 10.2, 12.4])
    cands = eligible_windows(X9, y[None], ZERO9, ZERO9, min_span=2.0, baseline=1.0)
    best = select_window(X9, y[None], ZERO9, ZERO9, min_span=2.0, baseline=1.0)
    assert best == (0, 4, 0.0)
    assert alpha0_window_spread(X9, y, cands, best) == 0.0  # 0.048 > 1.1 * 0: no alternative
    # Overlap, with hand-made candidates against best [0, 4]: [1, 5] shares 3 > half of 4;
    # [2, 6] shares exactly 2 (kept): OLS slope of 2, 3, 4, 6, 8 over x = 2..6 is 15 / 10.
    assert alpha0_window_spread(X9, TWO, [(0.0, -4.0, 1, 5)], (0, 4, 0.0)) == 0.0
    assert alpha0_window_spread(X9, TWO, [(0.0, -4.0, 2, 6)], (0, 4, 0.0)) == pytest.approx(0.5)
    # Instability margin: 1.1 times the best's 0.5 is the limit.
    assert alpha0_window_spread(X9, TWO, [(0.55, -4.0, 4, 8)], (0, 4, 0.5)) == pytest.approx(1.0)
    assert alpha0_window_spread(X9, TWO, [(0.56, -4.0, 4, 8)], (0, 4, 0.5)) == 0.0
