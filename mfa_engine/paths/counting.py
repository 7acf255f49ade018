"""Turn distance rows into neighbour counts over a radius grid (inclusive cutoff)."""

from __future__ import annotations

import numpy as np

__all__ = ["sorted_radii", "counts_from_distances"]


def sorted_radii(radii: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort a radius grid.

    Args:
        radii: float64 [R].

    Returns:
        (sorted float64 [R], order int64 [R]) with ``sorted = radii[order]``.
    """
    order = np.argsort(radii, kind="stable")
    return np.ascontiguousarray(radii[order]), order


def counts_from_distances(dist: np.ndarray, radii_sorted: np.ndarray) -> np.ndarray:
    """Count, per row, the entries with ``d <= r`` for every radius r.

    Args:
        dist: float [B, N] distances (inf = unreachable).
        radii_sorted: float64 [R], ascending.

    Returns:
        int64 [B, R]; column k counts entries of the row with ``d <= radii_sorted[k]``.
    """
    b, _ = dist.shape
    r = radii_sorted.shape[0]
    if b == 0 or r == 0:
        return np.zeros((b, r), np.int64)
    # bucket = first k with radii[k] >= d (R = beyond the grid)
    bucket = np.searchsorted(radii_sorted, dist, side="left").astype(np.int64)
    bucket[~np.isfinite(dist)] = r  # unreachable nodes are never counted (even for r = inf)
    flat = bucket + (np.arange(b, dtype=np.int64) * (r + 1))[:, None]
    hist = np.bincount(flat.ravel(), minlength=b * (r + 1)).reshape(b, r + 1)
    return np.cumsum(hist[:, :r], axis=1).astype(np.int64)
