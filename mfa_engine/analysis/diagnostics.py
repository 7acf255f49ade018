"""Per-sample diagnostics of a multifractal spectrum, and the rule that flags a sample.

Every paper-mode sample carries (``samples[].diagnostics`` in the JSON)::

    n_alpha_increasing     number of q steps where alpha(q) increases (tau not concave there)
    q0_on_hull             whether (0, tau(0)) lies on tau's concave hull (None: 0 not in q)
    max_f_above_f0         whether max f > f(0) (None: 0 not in q)
    r2_min, r2_median      R^2 of the tau(q) fits over the q grid
    r2_alpha0              R^2 of the alpha0 = tau'(0) fit (independent of the q grid)
    fit_window             [r_lo, r_hi], the radii of the fits (inclusive)
    fit_window_x           the same as ln(r / r_max)
    fit_window_source      "auto" | "fit_range" | "full"
    window_instability     instability of the chosen window (auto only; see analysis.window)
    alpha0_window_spread   largest |alpha0| difference between the chosen window and the
                           nearly-as-stable, mostly disjoint alternatives (auto only; else
                           None; see analysis.window, "Window ambiguity")
    n_fit_radii            number of radii in the window
    self_share_lowest      share of centres counting only themselves at r_lo
    saturated_share_highest share of centres with N_i(r_hi) = N_i(r_max)
    qmin_top_share         share of Z_q at the smallest q of the grid and r_lo carried by the
                           single largest centre term
    flags                  reasons (below); flagged = bool(flags)

Flag rule (the headline alpha0 of a flagged sample is not sound on its own):

* ``q0_off_hull``: q = 0 is not on tau's concave hull, so tau'(0) is not a point of the
  Legendre transform of the hull;
* ``self_plateau``: more than half of the centres count only themselves at r_lo;
* ``saturated``: more than half of the centres are saturated at r_hi;
* ``low_r2``: the alpha0 fit has R^2 < 0.9;
* ``no_window``: the automatic window found no eligible window and the whole grid was used;
* ``qmin_dominated``: one centre carries more than half of Z_q at the smallest q and r_lo, so
  alpha at the low-q end, and with it the width, follows that one centre (alpha0 does not);
* ``window_ambiguous``: another eligible window, within 10% of the chosen one's instability
  and sharing at most half of the shorter span with it, gives an alpha0 more than 0.1 away
  (``alpha0_window_spread > MAX_ALPHA0_SPREAD``): the window, and with it alpha0, could as
  well have landed in another regime.

A non-concave tau at negative q alone (``n_alpha_increasing > 0``, ``max_f_above_f0``) does
not flag: it is common on real networks (one centre with tiny weights dominates Z_q at q < 0)
and does not move tau'(0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mfa_engine.analysis.window import (
    MAX_ALPHA0_SPREAD,
    MAX_SATURATED_SHARE,
    MAX_SELF_SHARE,
    FitWindow,
    on_hull,
)

__all__ = ["sample_diagnostics", "FLAG_REASONS", "MIN_R2_ALPHA0", "MAX_TOP_SHARE"]

#: Every reason that flags a sample, in the order they are listed.
FLAG_REASONS = (
    "q0_off_hull", "self_plateau", "saturated", "low_r2", "no_window", "qmin_dominated",
    "window_ambiguous",
)
#: Largest share of Z_q (smallest q, lowest fitted radius) one centre may carry unflagged.
MAX_TOP_SHARE = 0.5
#: Smallest R^2 of the alpha0 fit that does not flag.
MIN_R2_ALPHA0 = 0.9


def _q0_index(q: np.ndarray) -> int | None:
    hit = np.nonzero(q == 0.0)[0]
    return int(hit[0]) if hit.size else None


def sample_diagnostics(
    *,
    q: np.ndarray,
    tau: np.ndarray,
    alpha: np.ndarray,
    f_alpha: np.ndarray,
    r2: np.ndarray,
    r2_alpha0: float,
    counts: np.ndarray,
    radii: np.ndarray,
    window: FitWindow,
    qmin_top_share: float,
) -> dict[str, Any]:
    """The diagnostics dictionary of one spectrum (JSON-ready).

    Args:
        q, tau, alpha, f_alpha, r2: float64 ``[Q]`` from the spectrum.
        r2_alpha0: R^2 of the alpha0 fit.
        counts: float64 ``[C, R]`` counts of the kept centres over the whole grid.
        radii: float64 ``[R]`` the whole grid.
        window: The fit window (indices into ``radii``).
        qmin_top_share: Share of Z_q (smallest q, lowest fitted radius) of the largest term.

    Returns:
        The dictionary described in the module docstring.
    """
    lo, hi = window.lo, window.hi
    self_share = float(np.mean(counts[:, lo] == 1.0))
    saturated = float(np.mean(counts[:, hi] == counts[:, -1]))
    j0 = _q0_index(q)
    q0_hull = None if j0 is None else on_hull(q, tau, j0)
    f_above = None
    if j0 is not None:
        tol = 1e-9 * max(1.0, float(np.max(np.abs(f_alpha))))
        f_above = bool(float(np.max(f_alpha)) > float(f_alpha[j0]) + tol)
    flags = []
    if q0_hull is False:
        flags.append("q0_off_hull")
    if self_share > MAX_SELF_SHARE:
        flags.append("self_plateau")
    if saturated > MAX_SATURATED_SHARE:
        flags.append("saturated")
    if not r2_alpha0 >= MIN_R2_ALPHA0:
        flags.append("low_r2")
    if window.fallback:
        flags.append("no_window")
    if qmin_top_share > MAX_TOP_SHARE:
        flags.append("qmin_dominated")
    if window.alpha0_spread is not None and window.alpha0_spread > MAX_ALPHA0_SPREAD:
        flags.append("window_ambiguous")
    r_max = radii[-1]
    return {
        "n_alpha_increasing": int(np.sum(np.diff(alpha) > 0)),
        "q0_on_hull": q0_hull,
        "max_f_above_f0": f_above,
        "r2_min": float(np.min(r2)),
        "r2_median": float(np.median(r2)),
        "r2_alpha0": float(r2_alpha0),
        "fit_window": [float(radii[lo]), float(radii[hi])],
        "fit_window_x": [float(np.log(radii[lo] / r_max)), float(np.log(radii[hi] / r_max))],
        "fit_window_source": window.source,
        "window_instability": None if window.instability is None else float(window.instability),
        "alpha0_window_spread": (
            None if window.alpha0_spread is None else float(window.alpha0_spread)
        ),
        "n_fit_radii": int(hi - lo + 1),
        "self_share_lowest": self_share,
        "saturated_share_highest": saturated,
        "qmin_top_share": float(qmin_top_share),
        "flags": flags,
        "flagged": bool(flags),
    }
