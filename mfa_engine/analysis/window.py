"""Data-driven fit window of the scaling fits, and the concave hull of tau(q).

Fit window (paper mode, ``fit_window="auto"``)
    The fits of tau(q) use the radii ``r_a .. r_b`` of a contiguous window of the grid. With
    ``x = ln(r / r_max)``, the *local slope* of a series ``y`` at radius ``k`` is the secant
    ``(y[j] - y[k]) / (x[j] - x[k])`` where ``j`` is the first radius with
    ``x[j] - x[k] >= baseline`` (default 0.25: a factor e^0.25 in r, which averages over the
    steps that discrete path lengths put into the counts). A window holds the secants that
    start and end inside it. Its *instability* is the largest, over the series, coefficient of
    variation (population std / |mean|) of those secants: the series are the centre-average
    of ``ln mu_i`` (whose slope is alpha0 = tau'(0)) and ``ln Z_q`` at ``q = -1`` and ``q = +1``
    (:data:`WINDOW_Q`; fixed, so the window and alpha0 do not depend on the q grid). A
    plateau or saturation region has a mean slope near 0 and so a large instability.

    Eligible windows span at least ``min_span`` in ``x`` (default 1.0: a factor e in r), hold
    at least two secants, have at most :data:`MAX_SELF_SHARE` of the centres counting only
    themselves at their lowest radius, and at most :data:`MAX_SATURATED_SHARE` of the centres
    saturated (``N_i(r) = N_i(r_max)``) at their highest radius. The window with the smallest
    instability wins (ties: the wider, then the lower one). With no eligible window the fits
    use the whole grid and the sample is flagged (``"no_window"``).

Window ambiguity
    Two windows can be almost equally stable and still measure different regimes. The
    *alternatives* of the chosen window are the other eligible windows whose instability is at
    most ``(1 + AMBIGUITY_MARGIN)`` times the best one (:data:`AMBIGUITY_MARGIN` = 0.1) and
    that share at most :data:`MAX_WINDOW_OVERLAP` (0.5) of the shorter window's span in ``x``
    with the chosen window. ``alpha0_window_spread`` is the largest ``|alpha0(best) -
    alpha0(alternative)|``, each alpha0 the OLS slope of the first series (the centre-average
    of ``ln mu``) over that window's radii; 0 with no alternative. A spread above
    :data:`MAX_ALPHA0_SPREAD` (0.1) flags the sample (``"window_ambiguous"``).

Concave hull of tau
    The least concave majorant of the points ``(q_j, tau_j)`` (upper hull, monotone chain).
    Its Legendre-Fenchel transform is supported on the slopes of the hull's segments, so its
    width is ``first segment slope - last segment slope``; for a concave tau this equals
    ``alpha[0] - alpha[-1]`` with one-sided differences at the ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mfa_engine.errors import ConfigError

__all__ = [
    "FitWindow",
    "WINDOW_Q",
    "DEFAULT_MIN_SPAN",
    "DEFAULT_BASELINE",
    "MAX_SELF_SHARE",
    "MAX_SATURATED_SHARE",
    "AMBIGUITY_MARGIN",
    "MAX_WINDOW_OVERLAP",
    "MAX_ALPHA0_SPREAD",
    "local_slopes",
    "eligible_windows",
    "select_window",
    "alpha0_window_spread",
    "upper_hull",
    "on_hull",
    "hull_width",
]

#: q values of the ln Z_q series that choose the window (with the centre-average of ln mu).
WINDOW_Q: tuple[float, ...] = (-1.0, 1.0)
#: Default minimum span of the fit window in ln r.
DEFAULT_MIN_SPAN = 1.0
#: Default baseline of the local slopes in ln r.
DEFAULT_BASELINE = 0.25
#: Largest share of centres counting only themselves at the window's lowest radius.
MAX_SELF_SHARE = 0.5
#: Largest share of centres saturated at the window's highest radius.
MAX_SATURATED_SHARE = 0.5
#: Relative instability margin within which another window is an alternative to the best.
AMBIGUITY_MARGIN = 0.1
#: Largest share of the shorter window's span an alternative may share with the best window.
MAX_WINDOW_OVERLAP = 0.5
#: Largest alpha0 spread over the alternative windows that does not flag the sample.
MAX_ALPHA0_SPREAD = 0.1


@dataclass(frozen=True)
class FitWindow:
    """The radii a fit used.

    Attributes:
        lo: Index of the lowest fitted radius in the grid.
        hi: Index of the highest fitted radius (inclusive).
        source: ``"auto"`` (chosen from the data), ``"fit_range"`` (given) or ``"full"``.
        instability: The window's instability (``"auto"`` only; else None).
        fallback: True when ``"auto"`` found no eligible window and used the whole grid.
        alpha0_spread: ``alpha0_window_spread`` (``"auto"`` with a window only; else None).
    """

    lo: int
    hi: int
    source: str
    instability: float | None = None
    fallback: bool = False
    alpha0_spread: float | None = None


def local_slopes(x: np.ndarray, y: np.ndarray, baseline: float) -> tuple[np.ndarray, np.ndarray]:
    """Secant slopes over a baseline in x.

    Args:
        x: float64 ``[R]`` strictly increasing.
        y: float64 ``[K, R]`` series.
        baseline: Smallest x distance of a secant, > 0.

    Returns:
        ``(ends, slopes)``: int64 ``[R]`` with ``ends[k]`` the first ``j`` with
        ``x[j] - x[k] >= baseline`` (``R`` when there is none), and float64 ``[K, R]`` slopes
        (NaN where ``ends[k] == R``).
    """
    r = x.size
    ends = np.searchsorted(x, x + baseline * (1 - 1e-12), side="left").astype(np.int64)
    slopes = np.full(y.shape, np.nan)
    ok = ends < r
    k = np.nonzero(ok)[0]
    j = ends[ok]
    slopes[:, k] = (y[:, j] - y[:, k]) / (x[j] - x[k])
    return ends, slopes


def _check_positive(min_span: float, baseline: float) -> None:
    for name, v in (("window min_span", min_span), ("slope baseline", baseline)):
        if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
            raise ConfigError(f"{name} must be a finite number > 0, got {v!r}")


def eligible_windows(
    x: np.ndarray,
    series: np.ndarray,
    self_share: np.ndarray,
    saturated_share: np.ndarray,
    *,
    min_span: float = DEFAULT_MIN_SPAN,
    baseline: float = DEFAULT_BASELINE,
) -> list[tuple[float, float, int, int]]:
    """Every eligible window with its instability (rule in the module docstring).

    Args:
        x: float64 ``[R]``, ``ln(r / r_max)``, strictly increasing.
        series: float64 ``[K, R]`` the series whose local slopes must be stable.
        self_share: float64 ``[R]``, share of centres counting only themselves per radius.
        saturated_share: float64 ``[R]``, share of centres saturated per radius.
        min_span: Smallest window span in x, > 0.
        baseline: Secant baseline in x, > 0.

    Returns:
        ``(instability, -span, lo, hi)`` per eligible window (inclusive indices), in scan
        order; the instability may be inf (a mean slope of 0).

    Raises:
        ConfigError: ``min_span`` or ``baseline`` is not a positive finite number.
    """
    _check_positive(min_span, baseline)
    ends, slopes = local_slopes(x, series, baseline)
    r = x.size
    out: list[tuple[float, float, int, int]] = []
    for a in range(r):
        if self_share[a] > MAX_SELF_SHARE:
            continue
        for b in range(a + 1, r):
            span = float(x[b] - x[a])
            if span < min_span * (1 - 1e-12) or saturated_share[b] > MAX_SATURATED_SHARE:
                continue
            ks = np.arange(a, b + 1)
            ks = ks[ends[ks] <= b]
            if ks.size < 2:
                continue
            s = slopes[:, ks]
            mean = np.abs(s.mean(axis=1))
            std = s.std(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                cv = np.where(mean > 0, std / np.where(mean > 0, mean, 1.0), np.inf)
            out.append((float(cv.max()), -span, a, b))
    return out


def select_window(
    x: np.ndarray,
    series: np.ndarray,
    self_share: np.ndarray,
    saturated_share: np.ndarray,
    *,
    min_span: float = DEFAULT_MIN_SPAN,
    baseline: float = DEFAULT_BASELINE,
) -> tuple[int, int, float] | None:
    """The most stable eligible window (rule in the module docstring).

    Args:
        x: float64 ``[R]``, ``ln(r / r_max)``, strictly increasing.
        series: float64 ``[K, R]`` the series whose local slopes must be stable.
        self_share: float64 ``[R]``, share of centres counting only themselves per radius.
        saturated_share: float64 ``[R]``, share of centres saturated per radius.
        min_span: Smallest window span in x, > 0.
        baseline: Secant baseline in x, > 0.

    Returns:
        ``(lo, hi, instability)`` (inclusive indices), or None if no window is eligible.

    Raises:
        ConfigError: ``min_span`` or ``baseline`` is not a positive finite number.
    """
    cands = eligible_windows(x, series, self_share, saturated_share,
                             min_span=min_span, baseline=baseline)
    if not cands:
        return None
    best = min(cands)
    if not np.isfinite(best[0]):
        return None
    return best[2], best[3], best[0]


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    xc = x - x.mean()
    return float(np.dot(xc, y - y[0]) / np.dot(xc, xc))


def alpha0_window_spread(
    x: np.ndarray,
    y0: np.ndarray,
    candidates: list[tuple[float, float, int, int]],
    best: tuple[int, int, float],
    *,
    margin: float = AMBIGUITY_MARGIN,
    max_overlap: float = MAX_WINDOW_OVERLAP,
) -> float:
    """Largest alpha0 difference between the best window and its alternatives.

    Args:
        x: float64 ``[R]``, ``ln(r / r_max)``, strictly increasing.
        y0: float64 ``[R]``, the series whose slope is alpha0 (centre-average of ``ln mu``).
        candidates: :func:`eligible_windows` output.
        best: ``(lo, hi, instability)`` from :func:`select_window`.
        margin: Relative instability margin of an alternative.
        max_overlap: Largest shared share of the shorter span of an alternative.

    Returns:
        ``max |alpha0(best) - alpha0(alt)|`` over the alternatives (module docstring), or 0.0.
    """
    lo, hi, inst = best
    a0 = _slope(x[lo:hi + 1], y0[lo:hi + 1])
    spread = 0.0
    for cv, _, a, b in candidates:
        if not cv <= inst * (1.0 + margin) or (a, b) == (lo, hi):
            continue
        shared = min(x[b], x[hi]) - max(x[a], x[lo])
        if shared > max_overlap * min(x[b] - x[a], x[hi] - x[lo]):
            continue
        spread = max(spread, abs(a0 - _slope(x[a:b + 1], y0[a:b + 1])))
    return spread


def upper_hull(q: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Indices of the vertices of the least concave majorant of ``(q_j, tau_j)``.

    Args:
        q: float64 ``[Q]`` strictly increasing.
        tau: float64 ``[Q]``.

    Returns:
        int64 ``[H]`` increasing indices; the first is 0 and the last ``Q - 1``. Points on a
        straight hull segment are not vertices.
    """
    hull: list[int] = []
    for j in range(q.size):
        while len(hull) >= 2:
            i0, i1 = hull[-2], hull[-1]
            # Drop i1 when it lies on or below the chord i0 -> j (cross product >= 0).
            cross = (q[i1] - q[i0]) * (tau[j] - tau[i0]) - (tau[i1] - tau[i0]) * (q[j] - q[i0])
            if cross >= 0:
                hull.pop()
            else:
                break
        hull.append(j)
    return np.asarray(hull, dtype=np.int64)


def on_hull(q: np.ndarray, tau: np.ndarray, j: int, rtol: float = 1e-9) -> bool:
    """Whether point ``j`` lies on the concave hull of ``(q, tau)`` (within a tolerance).

    Args:
        q: float64 ``[Q]`` strictly increasing.
        tau: float64 ``[Q]``.
        j: Index of the point.
        rtol: Tolerance relative to the largest ``|tau|`` (rounding of the fits).

    Returns:
        True if ``tau[j]`` is at least the hull's value at ``q[j]`` minus the tolerance.
    """
    h = upper_hull(q, tau)
    hull_at = float(np.interp(q[j], q[h], tau[h]))
    tol = rtol * max(1.0, float(np.max(np.abs(tau))))
    return bool(tau[j] >= hull_at - tol)


def hull_width(q: np.ndarray, tau: np.ndarray) -> float:
    """Width of the Legendre-Fenchel transform of tau's concave hull.

    Args:
        q: float64 ``[Q]`` strictly increasing, ``Q >= 2``.
        tau: float64 ``[Q]``.

    Returns:
        Slope of the first hull segment minus slope of the last one (>= 0).
    """
    h = upper_hull(q, tau)
    first = (tau[h[1]] - tau[h[0]]) / (q[h[1]] - q[h[0]])
    last = (tau[h[-1]] - tau[h[-2]]) / (q[h[-1]] - q[h[-2]])
    return float(first - last)
