"""Multifractal spectra from neighbour counts: box-growing (NeuroMFA) and sandbox conventions.

Input is the count matrix ``counts[i, k] = N_i(r_k) = 1 + #{j != i : d(i, j) <= r_k}`` of
``C`` centres over an increasing radius grid (the centre counts itself, the cutoff is
inclusive). Notation below: ``L_i(r) = ln mu_i(r)``, ``x(r) = ln(r / r_max)``.

Box-growing (default, the published NeuroMFA convention)
    ``mu_i(r) = N_i(r) / N_i(r_max)`` ("centre") or ``N_i(r) / n_nodes`` ("global");
    ``Z_q(r) = sum_i mu_i(r)^q``; ``tau(q)`` = OLS slope of ``ln Z_q`` against ``x``.
    ``tau(0) = 0`` exactly.

Sandbox (Liu, Yu & Anh 2015)
    ``mu_i(r) = N_i(r) / n_nodes`` by default; ``tau(q)`` = OLS slope of
    ``ln <mu^(q-1)>`` (mean over centres) against ``x``; generalised dimensions
    ``D(q) = tau(q) / (q - 1)`` and ``D(1)`` = slope of ``<ln mu>``. ``tau(1) = 0``.
    Under the same normalisation ``tau_boxgrowing(q) = tau_sandbox(q + 1)``.

Both: ``alpha = d tau / dq`` (``np.gradient`` on the q grid: second-order central differences,
first-order one-sided at the ends), ``f = q alpha - tau``, ``width = max alpha - min alpha``.
The headline ``alpha0`` is ``tau'(0)``, fitted directly (box-growing: the slope of the
centre-average of ``ln mu_i`` against ``x``): for a concave tau the Legendre transform peaks
there, and it does not depend on the q grid. ``alpha0_argmax = alpha[argmax f]`` is kept as an
extra value; ``width_hull`` is the width of the Legendre-Fenchel transform of tau's concave
hull. ``ln Z`` is computed by log-sum-exp, so negative q with tiny measures cannot overflow.

The fits use the whole grid (``fit_window="full"``), the radii of ``fit_range``, or a window
chosen from the data (``fit_window="auto"``, see :mod:`mfa_engine.analysis.window`). Every
spectrum carries diagnostics (:mod:`mfa_engine.analysis.diagnostics`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mfa_engine.analysis.diagnostics import sample_diagnostics
from mfa_engine.analysis.fit import linear_fit
from mfa_engine.analysis.measure import (
    CONVENTIONS,
    NORMALISATIONS,
    centre_measure,
    check_convention,
    check_counts_radii,
    ln_partition,
    logsumexp_rows,
    top_share,
    weighted_mean_log,
)
from mfa_engine.analysis.qgrid import check_q, default_q
from mfa_engine.analysis.window import (
    DEFAULT_BASELINE,
    DEFAULT_MIN_SPAN,
    WINDOW_Q,
    FitWindow,
    alpha0_window_spread,
    eligible_windows,
    hull_width,
)
from mfa_engine.errors import ConfigError, plain

__all__ = [
    "Spectrum",
    "spectrum_from_counts",
    "partition_curves",
    "local_slope_profile",
    "fixed_window_mask",
    "default_q",
    "CONVENTIONS",
    "NORMALISATIONS",
    "FIT_WINDOWS",
]

FIT_WINDOWS = ("auto", "full", "fixed")
#: Slack in u of a fixed window's ends (the grid values are rounded constants).
_U_SLACK = 1e-9


@dataclass
class Spectrum:
    """One multifractal spectrum.

    Attributes:
        q: float64 ``[Q]``, the q grid.
        tau: float64 ``[Q]``, mass exponents (box-growing tau, or sandbox tau_s).
        tau_se: float64 ``[Q]``, standard error of each tau slope (NaN with only 2 radii).
        r2: float64 ``[Q]``, R^2 of each fit.
        alpha: float64 ``[Q]``, Lipschitz-Hoelder exponents d tau / dq.
        f_alpha: float64 ``[Q]``, the spectrum ``f = q alpha - tau``.
        alpha0: ``tau'(0)`` from one direct fit (see :func:`spectrum_from_counts`).
        alpha0_analytic: The same value as ``alpha0`` (its earlier name).
        width: ``max alpha - min alpha``.
        dims: float64 ``[Q]`` generalised dimensions D(q) (sandbox), else None.
        n_centres: Number of centres kept (after the ``min_reach`` filter).
        radii: float64 ``[R']``, the radii the fits used (the fit window).
        convention: ``"boxgrowing"`` or ``"sandbox"``.
        alpha0_argmax: alpha at the (first) maximum of f.
        width_hull: Width of the Legendre-Fenchel transform of tau's concave hull.
        diagnostics: See :func:`mfa_engine.analysis.diagnostics.sample_diagnostics`.
    """

    q: np.ndarray
    tau: np.ndarray
    tau_se: np.ndarray
    r2: np.ndarray
    alpha: np.ndarray
    f_alpha: np.ndarray
    alpha0: float
    alpha0_analytic: float
    width: float
    dims: np.ndarray | None
    n_centres: int
    radii: np.ndarray
    convention: str
    alpha0_argmax: float = math.nan
    width_hull: float = math.nan
    diagnostics: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary: lists of Python floats, ``None`` for absent or non-finite.

        Returns:
            A dict with one key per field; passes ``json.dumps(..., allow_nan=False)``.
        """
        return {
            "q": _floats(self.q),
            "tau": _floats(self.tau),
            "tau_se": _floats(self.tau_se),
            "r2": _floats(self.r2),
            "alpha": _floats(self.alpha),
            "f_alpha": _floats(self.f_alpha),
            "alpha0": _float(self.alpha0),
            "alpha0_analytic": _float(self.alpha0_analytic),
            "width": _float(self.width),
            "dims": None if self.dims is None else _floats(self.dims),
            "n_centres": int(self.n_centres),
            "radii": _floats(self.radii),
            "convention": str(self.convention),
            "alpha0_argmax": _float(self.alpha0_argmax),
            "width_hull": _float(self.width_hull),
            "diagnostics": self.diagnostics,
        }


def _float(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _floats(a: np.ndarray) -> list[float | None]:
    return [_float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def _fit_mask(radii: np.ndarray, fit_range: Any) -> np.ndarray:
    if fit_range is None:
        return np.ones(radii.size, dtype=bool)
    try:
        lo, hi = (float(v) for v in fit_range)
    except (TypeError, ValueError):
        raise ConfigError(f"fit_range must be a pair (r_lo, r_hi), got {plain(fit_range)}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
        raise ConfigError(f"fit_range must satisfy 0 < r_lo <= r_hi (finite), got ({lo!r}, {hi!r})")
    # Inclusive at both ends, with a relative slack of 1e-12 for radii that went through
    # arithmetic (e.g. a log-spaced grid).
    mask = (radii >= lo * (1 - 1e-12)) & (radii <= hi * (1 + 1e-12))
    if mask.sum() < 2:
        raise ConfigError(
            f"fit_range {fit_range!r} contains {int(mask.sum())} of the radii "
            f"[{plain(radii[0])} .. {plain(radii[-1])}]; need at least 2"
        )
    return mask


# ----------------------------------------------------------------------------- computation


def spectrum_from_counts(
    counts: np.ndarray,
    radii: np.ndarray,
    *,
    q: np.ndarray | None = None,
    convention: str = "boxgrowing",
    normalisation: str | None = None,
    n_nodes: int | None = None,
    fit_range: tuple[float, float] | None = None,
    min_reach: int = 10,
    fit_window: str = "full",
    window_min_span: float = DEFAULT_MIN_SPAN,
    slope_baseline: float = DEFAULT_BASELINE,
    u: np.ndarray | None = None,
    window_u: tuple[float, float] | None = None,
    weights: np.ndarray | None = None,
) -> Spectrum:
    """Compute the multifractal spectrum of one graph (or one sample) from neighbour counts.

    Args:
        counts: ``[C, R]`` with ``counts[i, k] = N_i(r_k)`` (centre included, inclusive
            cutoff); integers >= 1, non-decreasing along the radii.
        radii: ``[R]`` strictly increasing positive radii; ``r_max = radii[-1]``.
        q: q grid ``[Q]`` (>= 3 finite, strictly increasing values); default
            :func:`default_q` (-3 to 3 step 0.1).
        convention: ``"boxgrowing"`` (NeuroMFA, default) or ``"sandbox"`` (Liu, Yu & Anh).
        normalisation: ``"centre"`` (``mu = N_i(r) / N_i(r_max)``) or ``"global"``
            (``mu = N_i(r) / n_nodes``). Default (None): ``"centre"`` for box-growing,
            ``"global"`` for sandbox, as each convention defines it.
        n_nodes: Number of nodes of the graph; required for ``"global"`` and must be at least
            the largest count.
        fit_range: Optional ``(r_lo, r_hi)``: fit only on radii in ``[r_lo, r_hi]`` (inclusive);
            overrides ``fit_window``. Normalisation and the ``min_reach`` filter always use
            the full grid.
        min_reach: Centres with ``N_i(r_max) - 1 < min_reach`` reachable nodes are dropped.
        fit_window: ``"full"`` (default here: every radius), ``"auto"`` (the most stable
            window, :func:`mfa_engine.analysis.window.select_window`) or ``"fixed"`` (the radii
            whose ``u`` lies in ``window_u``, :func:`fixed_window_mask`; paper mode's default
            with centre sampling).
        window_min_span: Smallest span in ``ln r`` of an automatic window.
        slope_baseline: Baseline in ``ln r`` of the local slopes that choose the window.
        u: float64 ``[R]`` the radii's coordinate ``u = ln(r / r_unit)`` (``"fixed"`` only; the
            grid's own constants, so that no rounding of the radii moves a point in or out).
        window_u: ``(lo, hi)`` in u (``"fixed"`` only), inclusive.
        weights: float64 ``[C]`` design weights of the centres (> 0; default all 1): every
            average and sum over centres is weighted, e.g. ``Z_q = sum_i w_i mu_i^q``. Centre
            sampling stratified by layer passes ``n_l / k_l`` (docs/method.md, Centre sampling).

    Returns:
        A :class:`Spectrum`. ``alpha0`` (= ``alpha0_analytic``) is ``tau'(0)`` fitted directly:
        for box-growing the slope of ``mean_i ln mu_i(r)`` against ``ln(r / r_max)``; for
        sandbox the slope of the ``mu^-1``-weighted mean of ``ln mu_i(r)`` (the exact
        derivative of ``ln <mu^(q-1)>`` at q = 0). ``dims`` holds D(q) for sandbox, None for
        box-growing.

    Raises:
        ConfigError: Invalid q grid, radii, counts, options or ``fit_range``.
        AnalysisError: Fewer than 2 centres reach ``min_reach`` nodes.
    """
    check_convention(convention, normalisation)
    qa = check_q(q)
    c0, r = check_counts_radii(counts, radii)
    _check_reach_and_window(min_reach, fit_window)
    mask = _fit_mask(r, fit_range)
    if fit_range is None and fit_window == "fixed":
        mask = fixed_window_mask(u, window_u, r.size)
    m = centre_measure(c0, r, convention=convention, normalisation=normalisation,
                       n_nodes=n_nodes, min_reach=min_reach, weights=weights)
    c, ln_mu, lw = m.c, m.ln_mu, m.lw

    power0 = 0.0 if convention == "boxgrowing" else -1.0
    window = _choose_window(c, r, ln_mu, fit_range, mask, fit_window, power0,
                            window_min_span, slope_baseline, lw)
    return _spectrum_on_window(qa, c, r, ln_mu, window, convention, power0, lw)


def partition_curves(
    counts: np.ndarray,
    radii: np.ndarray,
    *,
    q: np.ndarray | None = None,
    convention: str = "boxgrowing",
    normalisation: str | None = None,
    n_nodes: int | None = None,
    min_reach: int = 10,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The series whose slopes over the fit window are tau, over the whole radius grid.

    The same centres, measure and sums as :func:`spectrum_from_counts` (for a fit plot).

    Args:
        counts: ``[C, R]`` neighbour counts (see :func:`spectrum_from_counts`).
        radii: ``[R]`` radii.
        q: q grid (default :func:`default_q`).
        convention: ``"boxgrowing"`` (``ln Z_q``) or ``"sandbox"`` (``ln <mu^(q-1)>``).
        normalisation: As in :func:`spectrum_from_counts`.
        n_nodes: As in :func:`spectrum_from_counts`.
        min_reach: As in :func:`spectrum_from_counts`.
        weights: As in :func:`spectrum_from_counts`.

    Returns:
        ``(x [R], y [Q, R])``: ``x = ln(r / r_max)`` and the series per q.
    """
    check_convention(convention, normalisation)
    qa = check_q(q)
    c0, r = check_counts_radii(counts, radii)
    m = centre_measure(c0, r, convention=convention, normalisation=normalisation,
                       n_nodes=n_nodes, min_reach=min_reach, weights=weights)
    return np.log(m.r / m.r[-1]), ln_partition(qa, m.ln_mu, convention, m.c.shape[0], m.lw)


def fixed_window_mask(u: Any, window_u: Any, n_radii: int) -> np.ndarray:
    """The radii of a fixed window: those whose ``u`` lies in ``[lo, hi]`` (inclusive, slack 1e-9).

    Args:
        u: float64 ``[R]`` the grid in u (strictly increasing).
        window_u: ``(lo, hi)`` in u.
        n_radii: R, the number of radii (checked against ``u``).

    Returns:
        bool ``[R]``, with at least 2 radii selected.

    Raises:
        ConfigError: ``u`` or ``window_u`` missing or malformed, or fewer than 2 radii in the window.
    """
    if u is None or window_u is None:
        raise ConfigError("fit_window='fixed' needs the grid in u and window_u = (lo, hi)")
    ua = np.asarray(u, dtype=np.float64).ravel()
    if ua.size != n_radii or not np.all(np.diff(ua) > 0):
        raise ConfigError(f"u must be {n_radii} strictly increasing values (one per radius), got {ua.size}")
    lo, hi = (float(v) for v in window_u)
    mask = (ua >= lo - _U_SLACK) & (ua <= hi + _U_SLACK)
    if mask.sum() < 2:
        raise ConfigError(
            f"window_u ({plain(lo)}, {plain(hi)}) holds {int(mask.sum())} of the grid's u values "
            f"[{plain(ua[0])} .. {plain(ua[-1])}]; need at least 2"
        )
    return mask


def local_slope_profile(
    counts: np.ndarray,
    radii: np.ndarray,
    u: np.ndarray,
    *,
    q: np.ndarray | None = None,
    convention: str = "boxgrowing",
    normalisation: str | None = None,
    n_nodes: int | None = None,
    min_reach: int = 10,
    weights: np.ndarray | None = None,
    lag: int = 2,
) -> dict[str, Any]:
    """Local slopes of the alpha0 series and of ``ln Z_q`` between radii ``lag`` apart.

    The same centres and measure as :func:`spectrum_from_counts`. The slope between radii k
    and k + lag is the finite difference ``(y[k+lag] - y[k]) / (u[k+lag] - u[k])`` (``ln r``
    and ``u = ln(r / r_unit)`` differ by a constant), reported at the midpoint of ``u``. The
    default ``lag=2`` is the central difference at each inner radius of a uniform grid: on the
    fixed grid (step 0.1 in u) a slope over 0.2 in u, half the sampling noise of the slope
    between neighbours (docs/method.md, "Local-slope profile").

    Args:
        counts: ``[C, R]`` neighbour counts (see :func:`spectrum_from_counts`).
        radii: ``[R]`` radii.
        u: float64 ``[R]`` the radii's coordinate ``ln(r / r_unit)``.
        q: q grid (default :func:`default_q`).
        convention: As in :func:`spectrum_from_counts` (``ln Z_q`` for box-growing,
            ``ln <mu^(q-1)>`` for sandbox).
        normalisation: As in :func:`spectrum_from_counts`.
        n_nodes: As in :func:`spectrum_from_counts`.
        min_reach: As in :func:`spectrum_from_counts`.
        weights: As in :func:`spectrum_from_counts`.
        lag: Radii between the two ends of a slope (>= 1; 1 = consecutive radii).

    Returns:
        ``{"u": [R-lag] midpoints, "ln_mu": [R-lag] slopes of the alpha0 series (the centre
        average of ln mu for box-growing), "ln_z": [Q][R-lag]}``, lists of floats, None where
        a slope is not finite.

    Raises:
        ConfigError: Invalid inputs. AnalysisError: Fewer than 2 centres reach ``min_reach``.
    """
    check_convention(convention, normalisation)
    qa = check_q(q)
    c0, r = check_counts_radii(counts, radii)
    ua = np.asarray(u, dtype=np.float64).ravel()
    if ua.size != r.size or not np.all(np.diff(ua) > 0):
        raise ConfigError(f"u must be {r.size} strictly increasing values (one per radius), got {ua.size}")
    if not isinstance(lag, (int, np.integer)) or not 1 <= lag < r.size:
        raise ConfigError(f"lag must be an integer from 1 to {r.size - 1} (radii - 1), got {lag!r}")
    m = centre_measure(c0, r, convention=convention, normalisation=normalisation,
                       n_nodes=n_nodes, min_reach=min_reach, weights=weights)
    c, ln_mu, lw = m.c, m.ln_mu, m.lw
    power0 = 0.0 if convention == "boxgrowing" else -1.0
    du = ua[lag:] - ua[:-lag]
    y0 = weighted_mean_log(ln_mu, power0, lw)
    yz = ln_partition(qa, ln_mu, convention, c.shape[0], lw)
    with np.errstate(invalid="ignore", divide="ignore"):
        s0 = (y0[lag:] - y0[:-lag]) / du
        sz = (yz[:, lag:] - yz[:, :-lag]) / du
    return {"u": _floats((ua[lag:] + ua[:-lag]) / 2.0), "ln_mu": _floats(s0),
            "ln_z": [_floats(row) for row in sz]}


def _spectrum_on_window(
    qa: np.ndarray,
    c: np.ndarray,
    r: np.ndarray,
    ln_mu: np.ndarray,
    window: FitWindow,
    convention: str,
    power0: float,
    lw: np.ndarray | None = None,
) -> Spectrum:
    """Fit tau and alpha0 over the window's radii and assemble the :class:`Spectrum`.

    Args:
        qa: float64 ``[Q]`` q grid.
        c: float64 ``[C, R]`` counts of the kept centres over the whole grid.
        r: float64 ``[R]`` the whole grid.
        ln_mu: float64 ``[C, R]`` ``ln mu_i(r)`` of the kept centres.
        window: The fit window (indices into ``r``).
        convention: ``"boxgrowing"`` or ``"sandbox"``.
        power0: Weight power of the alpha0 series (0 box-growing, -1 sandbox).
        lw: ``[C]`` log design weights of the kept centres, or None.

    Returns:
        The spectrum (see :func:`spectrum_from_counts`).
    """
    n_keep = c.shape[0]
    sel = slice(window.lo, window.hi + 1)
    ln_mu = ln_mu[:, sel]
    x = np.log(r[sel] / r[-1])
    fit = linear_fit(x, ln_partition(qa, ln_mu, convention, n_keep, lw))
    tau = fit.slope
    alpha = np.gradient(tau, qa)
    f_alpha = qa * alpha - tau
    fit0 = linear_fit(x, weighted_mean_log(ln_mu, power0, lw))
    alpha0 = float(fit0.slope)
    diagnostics = sample_diagnostics(
        q=qa, tau=tau, alpha=alpha, f_alpha=f_alpha, r2=fit.r2, r2_alpha0=float(fit0.r2),
        counts=c, radii=r, window=window,
        qmin_top_share=top_share(qa[0] + power0, ln_mu[:, 0]),  # power q (box), q - 1 (sandbox)
    )
    return Spectrum(
        q=qa,
        tau=tau,
        tau_se=fit.slope_se,
        r2=fit.r2,
        alpha=alpha,
        f_alpha=f_alpha,
        alpha0=alpha0,
        alpha0_analytic=alpha0,
        width=float(alpha.max() - alpha.min()),
        dims=_sandbox_dims(qa, tau, x, ln_mu, lw) if convention == "sandbox" else None,
        n_centres=n_keep,
        radii=r[sel].copy(),
        convention=convention,
        alpha0_argmax=float(alpha[int(np.argmax(f_alpha))]),
        width_hull=hull_width(qa, tau),
        diagnostics=diagnostics,
    )


def _check_reach_and_window(min_reach: Any, fit_window: Any) -> None:
    """Validate ``min_reach`` (integer >= 0) and ``fit_window`` (one of FIT_WINDOWS)."""
    if isinstance(min_reach, bool) or not isinstance(min_reach, (int, np.integer)) or min_reach < 0:
        raise ConfigError(f"min_reach must be an integer >= 0, got {min_reach!r}")
    if fit_window not in FIT_WINDOWS:
        raise ConfigError(f"fit_window={fit_window!r} is not one of {', '.join(FIT_WINDOWS)}")


def _sandbox_dims(qa: np.ndarray, tau: np.ndarray, x: np.ndarray, ln_mu: np.ndarray,
                  lw: np.ndarray | None = None) -> np.ndarray:
    """Generalised dimensions ``D(q) = tau / (q - 1)``; ``D(1)`` = slope of ``<ln mu>``. [Q]"""
    at_one = np.abs(qa - 1.0) < 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        dims = np.where(at_one, np.nan, tau / (qa - 1.0))
    if at_one.any():
        dims[at_one] = float(linear_fit(x, weighted_mean_log(ln_mu, 0.0, lw)).slope)
    return dims


def _choose_window(
    counts: np.ndarray,
    radii: np.ndarray,
    ln_mu: np.ndarray,
    fit_range: Any,
    mask: np.ndarray,
    fit_window: str,
    power0: float,
    min_span: float,
    baseline: float,
    lw: np.ndarray | None = None,
) -> FitWindow:
    """The fit window: ``fit_range`` if given, else the automatic or the full one."""
    idx = np.nonzero(mask)[0]
    if fit_range is not None:
        return FitWindow(int(idx[0]), int(idx[-1]), "fit_range")
    if fit_window == "fixed":
        return FitWindow(int(idx[0]), int(idx[-1]), "fixed")
    last = radii.size - 1
    if fit_window == "full":
        return FitWindow(0, last, "full")
    x = np.log(radii / radii[-1])
    series = np.stack(
        [weighted_mean_log(ln_mu, power0, lw)]
        + [logsumexp_rows(qw * ln_mu + (0.0 if lw is None else lw[:, None])) for qw in WINDOW_Q]
    )
    self_share = np.mean(counts == 1.0, axis=0)
    saturated = np.mean(counts == counts[:, -1:], axis=0)
    cands = eligible_windows(x, series, self_share, saturated, min_span=min_span,
                             baseline=baseline)
    best = min(cands) if cands else None
    if best is None or not np.isfinite(best[0]):
        return FitWindow(0, last, "auto", fallback=True)
    got = (best[2], best[3], best[0])
    spread = alpha0_window_spread(x, series[0], cands, got)
    return FitWindow(got[0], got[1], "auto", instability=got[2], alpha0_spread=spread)
