"""Radius grids for the box-growing / sandbox measures.

Paper mode's default grid (:func:`scaled_radius_grid`) is a data scale times a fixed unit grid:
``r_k = r_lo * u_k`` with ``u = geomspace(1, r_hi / r_lo, n)`` and the last radius set to
``r_hi``. ``r_lo`` is a low quantile of the edge (weight) distances, never below a floor (the
structural distance), and ``r_hi`` the 99th percentile of the finite path distances. Under a
rescale of every distance by a power of two, ``r_lo``, ``r_hi`` and their ratio scale exactly,
so every radius does too and no count changes. The earlier grid (log-spaced from the smallest
positive distance) stays available as :func:`radius_grid`.
"""

from __future__ import annotations

import numpy as np

from mfa_engine.errors import ConfigError, plain

__all__ = ["radius_grid", "scaled_radius_grid", "RADIUS_UPPER_CHOICES", "DEFAULT_LOW_QUANTILE", "U_GRID", "U_LO",
           "U_HI", "U_STEP", "fixed_radius_grid", "r_unit_of"]

#: Default quantile of the edge distances at the lower end of :func:`scaled_radius_grid`.
DEFAULT_LOW_QUANTILE = 0.05

#: Lower end of the fixed grid in ``u = ln(r / r_unit)`` (centre sampling; docs/method.md, Radius
#: grid in u). On MiniLM, the trained tiny GPT-NeoX and the 70M-shaped synthetic network the
#: nearest neighbour of 95% of the nodes lies above u = -2.7: at u = -3 nearly every centre
#: counts only itself.
U_LO = -3.0
#: Upper end of the fixed grid in u: the 99th percentile of a node's finite distances lies
#: below u = 2.1 on the same networks (only a tail of near-zero weights lies further out).
U_HI = 3.0
#: Spacing of the fixed grid in u.
U_STEP = 0.1
#: The fixed grid in u: float64 ``[61]``, ``-3.0, -2.9, ..., 3.0`` (rounded to 10 decimals, so
#: that every value is the same on every machine).
U_GRID = np.round(U_LO + U_STEP * np.arange(int(round((U_HI - U_LO) / U_STEP)) + 1), 10)

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


def _positive_finite(name: str, values: np.ndarray) -> np.ndarray:
    d = np.asarray(values, dtype=np.float64).ravel()
    if np.isnan(d).any() or (d < 0).any():
        raise ConfigError(f"scaled_radius_grid: {name} must be >= 0 and not NaN")
    d = d[np.isfinite(d) & (d > 0)]
    if d.size == 0:
        raise ConfigError(f"scaled_radius_grid: {name} has no positive finite value")
    return d


def scaled_radius_grid(
    edge_distances: np.ndarray,
    path_distances: np.ndarray,
    n: int = 64,
    *,
    low_quantile: float = DEFAULT_LOW_QUANTILE,
    floor: float | None = None,
    upper: str = "p99",
) -> np.ndarray:
    """Robust radius grid: a data scale times a fixed unit grid (module docstring).

    Args:
        edge_distances: float64 distances of the weighted edges, any shape; the positive
            finite ones are used.
        path_distances: Shortest-path distances from the centres, any shape; the positive
            finite ones are used.
        n: Number of radii, >= 2.
        low_quantile: Quantile of the edge distances at the lower end (linear interpolation,
            ``np.quantile``), in ``[0, 1)``.
        floor: The lower end is never below this (the structural distance), or None.
        upper: ``"p99"`` (99th percentile of the path distances) or ``"max"``.

    Returns:
        float64 ``[n]`` strictly increasing; ``r[0] = max(quantile, floor)``, ``r[-1]`` the
        upper end.

    Raises:
        ConfigError: Bad ``n``, ``low_quantile``, ``floor`` or ``upper``, no positive finite
            distances, or an upper end not above the lower end.
    """
    if upper not in ("p99", "max"):
        raise ConfigError(f"scaled_radius_grid: upper={upper!r} is not one of p99, max")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ConfigError(f"scaled_radius_grid: n must be an integer >= 2, got {n!r}")
    if not (isinstance(low_quantile, (int, float)) and 0.0 <= low_quantile < 1.0):
        raise ConfigError(f"scaled_radius_grid: low_quantile must be in [0, 1), got {low_quantile!r}")
    if floor is not None and not (np.isfinite(floor) and floor > 0):
        raise ConfigError(f"scaled_radius_grid: floor must be finite and > 0, got {floor!r}")
    e = _positive_finite("edge_distances", edge_distances)
    p = _positive_finite("path_distances", path_distances)
    lo = float(np.quantile(e, low_quantile))
    if floor is not None:
        lo = max(lo, float(floor))
    hi = float(np.percentile(p, 99.0)) if upper == "p99" else float(p.max())
    if not hi > lo:
        raise ConfigError(
            f"scaled_radius_grid: upper end {hi!r} ({upper} of the path distances) is not above "
            f"the lower end {lo!r} (edge-distance quantile {low_quantile} or the floor)"
        )
    unit = np.geomspace(1.0, hi / lo, int(n))
    unit[0] = 1.0
    radii = lo * unit
    radii[-1] = hi
    if not np.all(np.diff(radii) > 0):
        raise ConfigError(
            f"scaled_radius_grid: cannot place {n} distinct radii between {lo!r} and {hi!r}"
        )
    return radii


def r_unit_of(edge_distances: np.ndarray) -> float:
    """The data scale of the radius coordinate: the median of the positive finite edge distances.

    Args:
        edge_distances: Distances ``1/|w|`` of the weighted edges, any shape (``inf`` = no edge).

    Returns:
        The median (``np.median``, float64). Scaling every weight by c scales it by 1/c.

    Raises:
        ConfigError: No positive finite distance.
    """
    d = np.asarray(edge_distances, dtype=np.float64).ravel()
    d = d[np.isfinite(d) & (d > 0)]
    if d.size == 0:
        raise ConfigError("r_unit: the network has no weighted edge (every weight is <= eps)")
    return float(np.median(d))


def fixed_radius_grid(r_unit: float, u: np.ndarray | None = None) -> np.ndarray:
    """Radii ``r_k = r_unit * exp(u_k)`` on the fixed grid in u (default :data:`U_GRID`).

    Args:
        r_unit: The data scale (:func:`r_unit_of`), finite and > 0.
        u: float64 ``[R]`` strictly increasing grid in u (default :data:`U_GRID`).

    Returns:
        float64 ``[R]`` radii; a rescale of ``r_unit`` by a power of two rescales every radius
        exactly.

    Raises:
        ConfigError: ``r_unit`` not finite and positive.
    """
    if not (np.isfinite(r_unit) and r_unit > 0):
        raise ConfigError(f"r_unit must be finite and > 0, got {r_unit!r}")
    uu = U_GRID if u is None else np.asarray(u, dtype=np.float64)
    return float(r_unit) * np.exp(uu)
