"""Ordinary least-squares straight-line fits, vectorised over many y series.

Every series shares the same abscissa ``x``; the fit has a free intercept. This is the fit
behind every power law of the analysis (tau(q), alpha0, node fractal dimensions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mfa_engine.errors import ConfigError

__all__ = ["LinearFit", "linear_fit"]


@dataclass(frozen=True)
class LinearFit:
    """Result of :func:`linear_fit`; every field has the batch shape of ``y`` (``y.shape[:-1]``).

    Attributes:
        slope: Least-squares slopes.
        intercept: Intercepts (value of the line at ``x = 0``).
        r2: Coefficient of determination ``1 - SSE/SST``; 1.0 where ``y`` is exactly constant
            (the horizontal line then fits exactly).
        slope_se: Standard error of each slope, ``sqrt(SSE / (R - 2) / Sxx)``; NaN when there
            are only two points (no residual degrees of freedom).
    """

    slope: np.ndarray
    intercept: np.ndarray
    r2: np.ndarray
    slope_se: np.ndarray


def linear_fit(x: np.ndarray, y: np.ndarray) -> LinearFit:
    """Fit ``y ~ a + b x`` by least squares for every series of ``y`` at once.

    Args:
        x: Abscissae, shape ``[R]``, finite, not all equal.
        y: Ordinates, shape ``[..., R]`` (one series per leading index), finite.

    Returns:
        A :class:`LinearFit` whose arrays have shape ``y.shape[:-1]`` (0-d for a single series).

    Raises:
        ConfigError: If the shapes do not match, there are fewer than two points, values are
            not finite, or ``x`` is constant.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 1:
        raise ConfigError(f"linear_fit: x must be 1-D, got shape {x.shape}")
    if y.ndim < 1 or y.shape[-1] != x.shape[0]:
        raise ConfigError(
            f"linear_fit: y must have shape [..., {x.shape[0]}] to match x, got {y.shape}"
        )
    n = x.shape[0]
    if n < 2:
        raise ConfigError(f"linear_fit: need at least 2 points, got {n}")
    if not np.all(np.isfinite(x)) or not np.all(np.isfinite(y)):
        raise ConfigError("linear_fit: x and y must be finite (found NaN or inf)")

    xc = x - x.mean()
    sxx = float(np.dot(xc, xc))
    if not sxx > 0.0:
        raise ConfigError("linear_fit: x values are all equal; the slope is undefined")
    # Shift each series by its first value: exactly constant series then give exactly zero
    # slope (so tau(0) = 0 holds bit for bit), and the sums are better conditioned.
    ys = y - y[..., :1]
    ym = ys.mean(axis=-1, keepdims=True)
    yc = ys - ym
    slope = (yc @ xc) / sxx
    intercept = (ym[..., 0] - slope * x.mean()) + y[..., 0]
    resid = yc - slope[..., None] * xc
    sse = np.einsum("...k,...k->...", resid, resid)
    sst = np.einsum("...k,...k->...", yc, yc)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(sst > 0.0, 1.0 - sse / np.where(sst > 0.0, sst, 1.0), 1.0)
    if n > 2:
        slope_se = np.sqrt(sse / (n - 2) / sxx)
    else:
        slope_se = np.full_like(slope, np.nan)
    return LinearFit(
        slope=np.asarray(slope),
        intercept=np.asarray(intercept),
        r2=np.asarray(r2),
        slope_se=np.asarray(slope_se),
    )
