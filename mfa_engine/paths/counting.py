"""Radius-grid helpers of the path API."""

from __future__ import annotations

import numpy as np

__all__ = ["sorted_radii"]


def sorted_radii(radii: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort a radius grid.

    Args:
        radii: float64 [R].

    Returns:
        (sorted float64 [R], order int64 [R]) with ``sorted = radii[order]``.
    """
    order = np.argsort(radii, kind="stable")
    return np.ascontiguousarray(radii[order]), order

