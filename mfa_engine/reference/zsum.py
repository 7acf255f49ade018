"""Partition sums of reference mode: ``Z[q, r] = sum_i P[q, inv[i, r]]`` in node order.

``reference_spectrum`` raises each distinct measure value to every q once (``P [Q, U]``) and
sums the gathered values over the centres. NumPy's ``P[:, inv].sum(axis=1)`` accumulates over
the centre axis one centre after the other (it is not the contiguous axis, so no pairwise
summation), which is also the published ``np.sum(..., axis=0)`` order. :func:`gather_sum` adds
in exactly that order (a numba loop without fast-math: LLVM never reassociates the additions),
so ``Z`` is bit-identical, without materialising the ``[Q, C, R]`` gather.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["gather_sum", "gather_sum_numpy"]

_KERNEL: Any = None


def _kernel() -> Any:
    global _KERNEL
    if _KERNEL is None:
        import numba

        @numba.njit(cache=True, nogil=True, fastmath=False)
        def _gather_sum_kernel(pt: np.ndarray, inv: np.ndarray, acc: np.ndarray) -> None:  # pragma: no cover - compiled
            n_c, n_r = inv.shape
            n_q = pt.shape[1]
            for r in range(n_r):
                u = inv[0, r]
                for q in range(n_q):
                    acc[r, q] = pt[u, q]
            for i in range(1, n_c):
                for r in range(n_r):
                    u = inv[i, r]
                    for q in range(n_q):
                        acc[r, q] += pt[u, q]

        _KERNEL = _gather_sum_kernel
    return _KERNEL


def gather_sum(powers: np.ndarray, inv: np.ndarray) -> np.ndarray:
    """Sequential sums over centres of gathered powers (compiled).

    Args:
        powers: float64 ``[Q, U]``, each distinct measure value raised to each q.
        inv: int ``[C, R]``, index into ``U`` of centre i's measure at radius r (C >= 1).

    Returns:
        float64 ``[Q, R]``: ``out[q, r] = (((P[q, inv[0, r]] + P[q, inv[1, r]]) + ...)``.
    """
    pt = np.ascontiguousarray(powers.T, dtype=np.float64)  # [U, Q]
    inv64 = np.ascontiguousarray(inv, dtype=np.int64)
    acc = np.empty((inv64.shape[1], pt.shape[1]), dtype=np.float64)
    _kernel()(pt, inv64, acc)
    return np.ascontiguousarray(acc.T)


def gather_sum_numpy(powers: np.ndarray, inv: np.ndarray) -> np.ndarray:
    """The same sums in NumPy, one centre's ``[R, Q]`` gather at a time (reference for tests)."""
    pt = np.ascontiguousarray(powers.T)
    acc = pt[inv[0]]
    for i in range(1, inv.shape[0]):
        acc += pt[inv[i]]
    return np.ascontiguousarray(acc.T)
