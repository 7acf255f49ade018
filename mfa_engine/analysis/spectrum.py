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
from mfa_engine.errors import AnalysisError, ConfigError, plain

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

CONVENTIONS = ("boxgrowing", "sandbox")
NORMALISATIONS = ("centre", "global")
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


# ----------------------------------------------------------------------------- validation


def _check_counts_radii(counts: Any, radii: Any) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(radii, dtype=np.float64)
    c = np.asarray(counts)
    if c.dtype == bool or not (
        np.issubdtype(c.dtype, np.integer) or np.issubdtype(c.dtype, np.floating)
    ):
        raise ConfigError(f"counts must be an integer array [C, R], got dtype {c.dtype}")
    c = c.astype(np.float64)
    if r.ndim != 1:
        raise ConfigError(f"radii must be 1-D, got shape {r.shape}")
    if r.size < 2:
        raise ConfigError(f"radii need at least 2 values, got {r.size}")
    if c.ndim != 2 or c.shape[1] != r.size:
        raise ConfigError(
            f"counts must have shape [C, {r.size}] to match {r.size} radii, got {c.shape}"
        )
    if c.shape[0] == 0:
        raise ConfigError("counts has no centres (shape [0, R])")
    if not np.all(np.isfinite(r)) or not np.all(r > 0):
        raise ConfigError(f"radii must be finite and > 0, got minimum {float(np.min(r))!r}")
    if not np.all(np.diff(r) > 0):
        j = int(np.argmin(np.diff(r) > 0))
        raise ConfigError(
            f"radii must be strictly increasing, but radii[{j}]={plain(r[j])} >= "
            f"radii[{j + 1}]={plain(r[j + 1])}"
        )
    if not np.all(np.isfinite(c)):
        raise ConfigError("counts contain NaN or inf")
    if np.any(c < 1):
        i, k = (int(v) for v in np.argwhere(c < 1)[0])
        raise ConfigError(
            f"counts must be >= 1 (the centre counts itself), but counts[{i}, {k}]={plain(c[i, k])}"
        )
    dec = np.diff(c, axis=1) < 0
    if np.any(dec):
        i, k = (int(v) for v in np.argwhere(dec)[0])
        raise ConfigError(
            f"counts must be non-decreasing along the radii, but counts[{i}, {k}]={plain(c[i, k])} "
            f"> counts[{i}, {k + 1}]={plain(c[i, k + 1])}"
        )
    return c, r


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


def _logsumexp_rows(a: np.ndarray) -> np.ndarray:
    """``ln sum_i exp(a[i, k])`` over axis 0, stable. ``a``: [C, R] -> [R]."""
    m = a.max(axis=0)
    return m + np.log(np.exp(a - m).sum(axis=0))


def _weighted_mean_log(ln_mu: np.ndarray, power: float, lw: np.ndarray | None = None) -> np.ndarray:
    """``sum_i w_i L_i / sum_i w_i`` with ``w_i = c_i mu_i^power``, per radius. [C, R] -> [R].

    ``c_i = exp(lw_i)`` are the centres' design weights (None: all 1).
    """
    if lw is not None:
        a = power * ln_mu + lw[:, None]
        w = np.exp(a - a.max(axis=0))
        return (w * ln_mu).sum(axis=0) / w.sum(axis=0)
    if power == 0.0:
        return ln_mu.mean(axis=0)
    a = power * ln_mu
    w = np.exp(a - a.max(axis=0))
    return (w * ln_mu).sum(axis=0) / w.sum(axis=0)


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
    normalisation = _check_convention(convention, normalisation)
    qa = check_q(q)
    c, r = _check_counts_radii(counts, radii)
    _check_reach_and_window(min_reach, fit_window)
    mask = _fit_mask(r, fit_range)
    if fit_range is None and fit_window == "fixed":
        mask = fixed_window_mask(u, window_u, r.size)
    lw = _log_weights(weights, c, min_reach)
    c = _reaching_centres(c, r, min_reach)
    ln_mu = _ln_measure(c, normalisation, n_nodes, convention)

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
    normalisation = _check_convention(convention, normalisation)
    qa = check_q(q)
    c, r = _check_counts_radii(counts, radii)
    lw = _log_weights(weights, c, min_reach)
    c = _reaching_centres(c, r, min_reach)
    ln_mu = _ln_measure(c, normalisation, n_nodes, convention)
    return np.log(r / r[-1]), _ln_partition(qa, ln_mu, convention, c.shape[0], lw)


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
) -> dict[str, Any]:
    """Local slopes of the alpha0 series and of ``ln Z_q`` between consecutive radii.

    The same centres and measure as :func:`spectrum_from_counts`. The slope between radii k
    and k + 1 is the finite difference ``(y[k+1] - y[k]) / (u[k+1] - u[k])`` (``ln r`` and
    ``u = ln(r / r_unit)`` differ by a constant), reported at the midpoint of ``u``.

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

    Returns:
        ``{"u": [R-1] midpoints, "ln_mu": [R-1] slopes of the alpha0 series (the centre
        average of ln mu for box-growing), "ln_z": [Q][R-1]}``, lists of floats, None where
        a slope is not finite.

    Raises:
        ConfigError: Invalid inputs. AnalysisError: Fewer than 2 centres reach ``min_reach``.
    """
    normalisation = _check_convention(convention, normalisation)
    qa = check_q(q)
    c, r = _check_counts_radii(counts, radii)
    ua = np.asarray(u, dtype=np.float64).ravel()
    if ua.size != r.size or not np.all(np.diff(ua) > 0):
        raise ConfigError(f"u must be {r.size} strictly increasing values (one per radius), got {ua.size}")
    lw = _log_weights(weights, c, min_reach)
    c = _reaching_centres(c, r, min_reach)
    ln_mu = _ln_measure(c, normalisation, n_nodes, convention)
    power0 = 0.0 if convention == "boxgrowing" else -1.0
    du = np.diff(ua)
    with np.errstate(invalid="ignore", divide="ignore"):
        s0 = np.diff(_weighted_mean_log(ln_mu, power0, lw)) / du
        sz = np.diff(_ln_partition(qa, ln_mu, convention, c.shape[0], lw), axis=1) / du
    return {"u": _floats((ua[1:] + ua[:-1]) / 2.0), "ln_mu": _floats(s0),
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
    fit = linear_fit(x, _ln_partition(qa, ln_mu, convention, n_keep, lw))
    tau = fit.slope
    alpha = np.gradient(tau, qa)
    f_alpha = qa * alpha - tau
    fit0 = linear_fit(x, _weighted_mean_log(ln_mu, power0, lw))
    alpha0 = float(fit0.slope)
    diagnostics = sample_diagnostics(
        q=qa, tau=tau, alpha=alpha, f_alpha=f_alpha, r2=fit.r2, r2_alpha0=float(fit0.r2),
        counts=c, radii=r, window=window,
        qmin_top_share=_top_share(qa[0] + power0, ln_mu[:, 0]),  # power q (box), q - 1 (sandbox)
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


def _check_convention(convention: str, normalisation: str | None) -> str:
    """Validate the convention; return the normalisation (its default if None)."""
    if convention not in CONVENTIONS:
        raise ConfigError(f"convention={convention!r} is not one of {', '.join(CONVENTIONS)}")
    if normalisation is None:
        normalisation = "centre" if convention == "boxgrowing" else "global"
    if normalisation not in NORMALISATIONS:
        raise ConfigError(
            f"normalisation={normalisation!r} is not one of {', '.join(NORMALISATIONS)}"
        )
    return normalisation


def _check_reach_and_window(min_reach: Any, fit_window: Any) -> None:
    """Validate ``min_reach`` (integer >= 0) and ``fit_window`` (one of FIT_WINDOWS)."""
    if isinstance(min_reach, bool) or not isinstance(min_reach, (int, np.integer)) or min_reach < 0:
        raise ConfigError(f"min_reach must be an integer >= 0, got {min_reach!r}")
    if fit_window not in FIT_WINDOWS:
        raise ConfigError(f"fit_window={fit_window!r} is not one of {', '.join(FIT_WINDOWS)}")


def _log_weights(weights: Any, c: np.ndarray, min_reach: int) -> np.ndarray | None:
    """``ln`` of the design weights of the centres kept by ``min_reach`` (None: unweighted).

    Raises:
        ConfigError: ``weights`` not ``[C]`` finite and > 0.
    """
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.size != c.shape[0] or not np.all(np.isfinite(w)) or not np.all(w > 0):
        raise ConfigError(f"weights must be {c.shape[0]} finite values > 0 (one per centre), got {w.size}")
    return np.log(w[c[:, -1] - 1 >= min_reach])


def _reaching_centres(c: np.ndarray, r: np.ndarray, min_reach: int) -> np.ndarray:
    """Rows of ``c`` [C, R] whose centre reaches at least ``min_reach`` nodes (>= 2 needed)."""
    n_total = c.shape[0]
    keep = c[:, -1] - 1 >= min_reach
    n_keep = int(keep.sum())
    if n_keep < 2:
        raise AnalysisError(
            f"too few centres: {n_total} centres given, {n_keep} remain with at least "
            f"min_reach={min_reach} reachable nodes within r_max={plain(r[-1])}; need at least 2"
        )
    return c[keep]


def _ln_partition(qa: np.ndarray, ln_mu: np.ndarray, convention: str, n_keep: int,
                  lw: np.ndarray | None = None) -> np.ndarray:
    """The series whose slopes are tau: ``ln Z_q`` (box-growing) or ``ln <mu^(q-1)>``. [Q, R']

    With design weights ``exp(lw)`` the sums are weighted (``Z_q = sum_i c_i mu_i^q``).
    """
    y = np.empty((qa.size, ln_mu.shape[1]), dtype=np.float64)
    add: Any = 0.0 if lw is None else lw[:, None]
    if convention == "boxgrowing":
        for j, qj in enumerate(qa):
            y[j] = _logsumexp_rows(qj * ln_mu + add)
    else:
        ln_c = math.log(n_keep) if lw is None else float(_logsumexp_rows(lw[:, None])[0])
        for j, qj in enumerate(qa):
            y[j] = _logsumexp_rows((qj - 1.0) * ln_mu + add) - ln_c
    return y


def _sandbox_dims(qa: np.ndarray, tau: np.ndarray, x: np.ndarray, ln_mu: np.ndarray,
                  lw: np.ndarray | None = None) -> np.ndarray:
    """Generalised dimensions ``D(q) = tau / (q - 1)``; ``D(1)`` = slope of ``<ln mu>``. [Q]"""
    at_one = np.abs(qa - 1.0) < 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        dims = np.where(at_one, np.nan, tau / (qa - 1.0))
    if at_one.any():
        dims[at_one] = float(linear_fit(x, _weighted_mean_log(ln_mu, 0.0, lw)).slope)
    return dims


def _top_share(power: float, ln_mu: np.ndarray) -> float:
    """Share of ``sum_i mu_i^power`` carried by its largest term (``ln_mu``: [C])."""
    a = power * ln_mu
    return float(1.0 / np.exp(a - a.max()).sum())


def _ln_measure(c: np.ndarray, normalisation: str, n_nodes: Any, convention: str) -> np.ndarray:
    """``ln mu_i(r)`` [C, R] for the kept centres' counts ``c``."""
    if normalisation == "centre":
        return np.log(c) - np.log(c[:, -1:])
    if n_nodes is None:
        raise ConfigError(f"normalisation='global' ({convention}) requires n_nodes")
    try:
        n_total_nodes = float(n_nodes)
    except (TypeError, ValueError):
        n_total_nodes = math.nan
    if isinstance(n_nodes, bool) or not n_total_nodes >= float(c.max()):
        raise ConfigError(
            f"n_nodes={n_nodes!r} must be a number >= the largest count {int(c.max())}"
        )
    return np.log(c) - math.log(n_total_nodes)


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
        [_weighted_mean_log(ln_mu, power0, lw)]
        + [_logsumexp_rows(qw * ln_mu + (0.0 if lw is None else lw[:, None])) for qw in WINDOW_Q]
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
