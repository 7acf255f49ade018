"""Degree of emergence across a checkpoint series (NeuroMFA, Xiao et al. 2025)."""

from __future__ import annotations

import numpy as np

from mfa_engine.errors import ConfigError, plain

__all__ = ["emergence", "emergence_curve"]


def emergence_curve(alpha0: np.ndarray, width: np.ndarray) -> np.ndarray:
    """The formula of E(t) (the one place it is written), without checks.

    ``E(t) = (w(t) / w(t0)) * ln(alpha0(t0) / alpha0(t))`` along the first axis (row 0 is t0);
    further axes (samples) are computed independently. Undefined entries (alpha0 <= 0, a zero
    width at t0) come out as NaN or inf; callers check their inputs.

    Args:
        alpha0: float64 ``[T, ...]``.
        width: float64, the same shape.

    Returns:
        float64 ``[T, ...]``.
    """
    a = np.asarray(alpha0, dtype=np.float64)
    w = np.asarray(width, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (w / w[0]) * np.log(a[0] / a)


def _as_tx(name: str, a: np.ndarray) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ConfigError(
            f"emergence: {name} must have shape [T, S] (checkpoints x samples), got {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"emergence: {name} contains NaN or inf")
    return arr


def emergence(alpha0: np.ndarray, width: np.ndarray, stat: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """Degree of emergence E(t) of each checkpoint relative to the first one (t0).

    ``E(t) = (w(t) / w(t0)) * ln(alpha0(t0) / alpha0(t))`` with ``w`` and ``alpha0`` the means
    (``stat="mean"``) or the medians (``stat="median"``, the headline of the summaries) over
    samples; ``E(t0) = 0``. The spread is the standard deviation over samples (ddof=0)
    of the per-sample ``E_s(t) = (w_s(t) / w_s(t0)) * ln(alpha0_s(t0) / alpha0_s(t))``.

    Args:
        alpha0: ``[T, S]`` alpha0 per checkpoint (row 0 = t0) and sample; all > 0.
            A 1-D ``[T]`` input is taken as one sample.
        width: ``[T, S]`` spectrum widths, same shape; >= 0, and > 0 at t0 for every sample.
        stat: ``"mean"`` or ``"median"``.

    Returns:
        ``(E, E_std)``, both float64 ``[T]``; ``E[0] == 0`` and ``E_std[0] == 0``.

    Raises:
        ConfigError: Shapes differ or are not 2-D, values are not finite, alpha0 <= 0,
            width < 0, a width at t0 is 0, or an unknown statistic.
    """
    a = _as_tx("alpha0", alpha0)
    w = _as_tx("width", width)
    if a.shape != w.shape:
        raise ConfigError(
            f"emergence: alpha0 and width must have the same shape [T, S], got {a.shape} "
            f"and {w.shape}"
        )
    if np.any(a <= 0):
        t, s = (int(v) for v in np.argwhere(a <= 0)[0])
        raise ConfigError(
            f"emergence: alpha0 must be > 0 (its log is taken), got alpha0[{t}, {s}]={plain(a[t, s])}"
        )
    if np.any(w < 0):
        t, s = (int(v) for v in np.argwhere(w < 0)[0])
        raise ConfigError(f"emergence: width must be >= 0, got width[{t}, {s}]={plain(w[t, s])}")
    if np.any(w[0] <= 0):
        s = int(np.argmax(w[0] <= 0))
        raise ConfigError(
            f"emergence: width at the first checkpoint t0 must be > 0 (it is the denominator), "
            f"got width[0, {s}]={plain(w[0, s])}"
        )

    if stat not in ("mean", "median"):
        raise ConfigError(f"emergence: stat must be 'mean' or 'median', got {stat!r}")
    centre = np.mean if stat == "mean" else np.median
    e = emergence_curve(centre(a, axis=1), centre(w, axis=1))
    e_per_sample = emergence_curve(a, w)
    e[0] = 0.0
    e_std = e_per_sample.std(axis=1)
    e_std[0] = 0.0
    return e, e_std
