"""Radius grids for the box-growing / sandbox measures."""

from __future__ import annotations

import numpy as np

from mfa_engine.errors import ConfigError, plain

__all__ = ["radius_grid", "RADIUS_UPPER_CHOICES"]

#: Accepted values of ``upper`` in :func:`radius_grid`.
RADIUS_UPPER_CHOICES = ("p99", "max", "rounded")


def radius_grid(finite_distances: np.ndarray, n: int = 64, upper: str = "p99") -> np.ndarray:
    """Build the radius grid of the analysis from observed distances.

    Only the positive finite distances are used: ``+inf`` entries (unreachable pairs) and zeros
    (a node's distance to itself) are ignored, so a dense distance matrix can be passed as is.

    Args:
        finite_distances: Distances, any shape (flattened). Negative values or NaN are errors.
        n: Number of radii for the log-spaced grids (``upper`` = ``"p99"`` or ``"max"``);
            ignored for ``"rounded"``.
        upper: ``"p99"`` (default): ``n`` log-spaced radii from the smallest positive distance
            to the 99th percentile (linear interpolation, ``np.percentile``) of the positive
            finite distances. ``"max"``: the same up to the largest distance. ``"rounded"``:
            the sorted distinct values of ``np.round(d)`` (half to even) that are > 0, as the
            reference-mode radii.

    Returns:
        float64 ``[R]``, strictly increasing and positive; both ends are exact (the smallest
        distance and the chosen upper bound).

    Raises:
        ConfigError: If there is no positive finite distance, fewer than two distinct radii
            result, ``n < 2``, ``upper`` is unknown, or a distance is negative or NaN.
    """
    if upper not in RADIUS_UPPER_CHOICES:
        raise ConfigError(
            f"radius_grid: upper={upper!r} is not one of {', '.join(RADIUS_UPPER_CHOICES)}"
        )
    if upper != "rounded":
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
            raise ConfigError(f"radius_grid: n must be an integer >= 2, got {plain(n)}")
    d = np.asarray(finite_distances, dtype=np.float64).ravel()
    if np.isnan(d).any():
        raise ConfigError("radius_grid: distances contain NaN")
    if (d < 0).any():
        raise ConfigError(
            f"radius_grid: distances must be >= 0, found minimum {float(d.min())!r}"
        )
    d = d[np.isfinite(d) & (d > 0)]
    if d.size == 0:
        raise ConfigError(
            "radius_grid: no positive finite distances (empty input, or every entry is 0 or inf)"
        )

    if upper == "rounded":
        radii = np.unique(np.round(d))
        radii = radii[radii > 0]
        if radii.size < 2:
            raise ConfigError(
                f"radius_grid: upper='rounded' needs at least 2 distinct rounded distances > 0, "
                f"got {radii.size}"
            )
        return radii.astype(np.float64)

    lo = float(d.min())
    hi = float(np.percentile(d, 99.0)) if upper == "p99" else float(d.max())
    if not hi > lo:
        raise ConfigError(
            f"radius_grid: upper bound {hi!r} ({upper}) is not above the smallest positive "
            f"distance {lo!r}; need at least two distinct positive distances"
        )
    radii = np.geomspace(lo, hi, int(n))
    radii[0], radii[-1] = lo, hi
    if not np.all(np.diff(radii) > 0):  # only when hi/lo is within rounding of 1
        raise ConfigError(
            f"radius_grid: cannot place {n} distinct log-spaced radii between {lo!r} and {hi!r}"
        )
    return radii
