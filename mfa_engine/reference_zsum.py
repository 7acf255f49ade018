"""Partition sums of reference mode: ``Z[q, r] = sum_i P[q, inv[i, r]]`` in node order.

``reference_spectrum`` raises each distinct measure value to every q once (``P [Q, U]``) and
sums the gathered values over the centres. NumPy's ``P[:, inv].sum(axis=1)`` accumulates over
the centre axis one centre after the other (it is not the contiguous axis, so no pairwise
summation), which is also the published ``np.sum(..., axis=0)`` order. :func:`gather_sum` adds
in exactly that order, so ``Z`` is bit-identical, but gathers one centre's ``[R, Q]`` rows at a
time instead of materialising the ``[Q, C, R]`` gather (about 8x faster on a 2.8B-sized sample,
and no compilation).
"""

from __future__ import annotations

import numpy as np

__all__ = ["gather_sum"]


def gather_sum(powers: np.ndarray, inv: np.ndarray) -> np.ndarray:
    """Sequential sums over centres of gathered powers.

    Args:
        powers: float64 ``[Q, U]``, each distinct measure value raised to each q.
        inv: int ``[C, R]``, index into ``U`` of centre i's measure at radius r (C >= 1).

    Returns:
        float64 ``[Q, R]``: ``out[q, r] = (((P[q, inv[0, r]] + P[q, inv[1, r]]) + ...)``.
    """
    pt = np.ascontiguousarray(powers.T)  # [U, Q]: one centre's gather is R contiguous rows
    acc = pt[inv[0]]  # [R, Q], a copy
    for i in range(1, inv.shape[0]):
        acc += pt[inv[i]]
    return np.ascontiguousarray(acc.T)
