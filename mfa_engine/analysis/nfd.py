"""Node fractal dimension (NFD): a per-node mass-radius exponent (NeuroMFA, section 2.5)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mfa_engine.errors import ConfigError, plain

__all__ = ["node_fractal_dimension"]


def _node_slope(d: np.ndarray, threshold: float, min_distances: int) -> float:
    """NFD of one node from its distances to the other nodes (self excluded)."""
    rd = np.round(d)
    rd = rd[(rd > 0) & (rd <= threshold)]
    if rd.size == 0:
        return 0.0
    radii, mult = np.unique(rd, return_counts=True)
    if radii.size <= min_distances:
        return 0.0
    mass = 1.0 + np.cumsum(mult)  # the node itself + every node within each radius
    x = np.log(radii)
    y = np.log(mass)
    xc = x - x.mean()
    return float(np.dot(xc, y - y.mean()) / np.dot(xc, xc))


def node_fractal_dimension(
    distances: Any, threshold: float = 200.0, min_distances: int = 10
) -> np.ndarray:
    """Node fractal dimension of every node.

    For node i, let ``r_1 < ... < r_m`` be the distinct values of ``np.round(d(i, j))``
    (half to even) over ``j != i`` that lie in ``(0, threshold]``. The NFD is the
    least-squares slope (free intercept) of ``ln M_i(r_k)`` against ``ln r_k``, where
    ``M_i(r) = 1 + #{j != i : round(d(i, j)) <= r}`` counts the node itself. Nodes with
    ``m <= min_distances`` get 0.

    Args:
        distances: ``[N, N]`` distances from each node (row) to each node (column): a dense
            array with ``inf`` for unreachable pairs, or a SciPy sparse matrix/array whose
            explicit entries are the distances (absent entries = unreachable). Diagonal
            entries are ignored.
        threshold: Upper end T of the radius window (inclusive), > 0.
        min_distances: A node needs more than this many distinct rounded distances.

    Returns:
        float64 ``[N]``.

    Raises:
        ConfigError: Not square, negative or NaN distances, or invalid options.
    """
    if not (np.isfinite(threshold) and threshold > 0):
        raise ConfigError(
            f"node_fractal_dimension: threshold must be finite and > 0, got {plain(threshold)}"
        )
    if (
        isinstance(min_distances, bool)
        or not isinstance(min_distances, (int, np.integer))
        or min_distances < 1
    ):
        raise ConfigError(
            f"node_fractal_dimension: min_distances must be an integer >= 1, got {plain(min_distances)}"
        )
    if hasattr(distances, "tocsr") and hasattr(distances, "nnz"):  # SciPy sparse
        m = distances.tocsr()
        n_rows, n_cols = m.shape
        if n_rows != n_cols:
            raise ConfigError(
                f"node_fractal_dimension: distances must be square [N, N], got {m.shape}"
            )
        data = np.asarray(m.data, dtype=np.float64)
        _check_values(data)
        indptr, indices = m.indptr, m.indices
        out = np.zeros(n_rows, dtype=np.float64)
        for i in range(n_rows):
            lo, hi = indptr[i], indptr[i + 1]
            row = data[lo:hi][indices[lo:hi] != i]
            out[i] = _node_slope(row, float(threshold), int(min_distances))
        return out

    a = np.asarray(distances, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ConfigError(
            f"node_fractal_dimension: distances must be square [N, N], got {a.shape}"
        )
    _check_values(a)
    n = a.shape[0]
    out = np.zeros(n, dtype=np.float64)
    for i in range(n):
        row = a[i].copy()
        row[i] = np.inf  # the diagonal is ignored
        out[i] = _node_slope(row[np.isfinite(row)], float(threshold), int(min_distances))
    return out


def _check_values(v: np.ndarray) -> None:
    if np.isnan(v).any():
        raise ConfigError("node_fractal_dimension: distances contain NaN")
    if (v < 0).any():
        raise ConfigError(
            f"node_fractal_dimension: distances must be >= 0, found {float(v.min())!r}"
        )
