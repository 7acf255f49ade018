"""Numba CPU kernels of the fused TM loss: one parallel pass over rows, no full-size temporary.

Inputs are NumPy views of the torch tensors: ``h`` float32 ``[n, H]`` (rows ``row0 .. row0+n``
of the whole problem), ``states`` uint8 (packed bytes, or int8 codes viewed as uint8), ``mask``
int8 ``[N]`` (all ones when there is no mask), thresholds float32 ``[H]``. Arithmetic is float32
per element exactly as the naive formula of :mod:`mfa_engine.tm.naive` (so signs and counts agree bit for bit), row sums
accumulate in float64.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["tm_fwd_rows", "tm_bwd_rows"]


@njit(inline="always")
def _margins(states, packed, idx, x, p, q):
    """(over, under) of one element: loss = relu(over) + relu(under); selects, no branches."""
    if packed:
        code = (states[idx >> 2] >> ((idx & 3) * 2)) & 3
    else:
        code = states[idx]
    zero = np.float32(0.0)
    over = x - (q if code == 0 else p)  # h - neg (state 0) | h - pos (state 1)
    over = over if code <= 1 else zero
    under = (q if code == 1 else p) - x  # neg - h (state 1) | pos - h (state 2)
    under = under if (code == 1 or code == 2) else zero
    return over, under, code != 3


@njit(parallel=True, cache=True)
def tm_fwd_rows(h, states, packed, pos, neg, mask, row0, row_sum, row_nnz, row_valid):
    """Per-row loss sum (float64), nonzero count and valid count for rows ``row0 .. row0 + n``."""
    n, H = h.shape
    zero = np.float32(0.0)
    for r in prange(n):
        g = row0 + r
        acc = 0.0
        nnz = 0
        nval = 0
        if mask[g] != 0:
            base = np.int64(g) * H
            for c in range(H):
                over, under, valid = _margins(states, packed, base + c, h[r, c], pos[c], neg[c])
                loss = max(over, zero) + max(under, zero)
                acc += loss
                nval += valid
                nnz += loss > zero
        row_sum[r] = acc
        row_nnz[r] = nnz
        row_valid[r] = nval


@njit(parallel=True, cache=True)
def tm_bwd_rows(h, states, packed, pos, neg, mask, row0, scale, grad):
    """``grad[r, c] = sign * scale`` (float32) for rows ``row0 .. row0 + n``; 0 on padding and ties."""
    n, H = h.shape
    zero = np.float32(0.0)
    one = np.float32(1.0)
    for r in prange(n):
        g = row0 + r
        if mask[g] == 0:
            for c in range(H):
                grad[r, c] = zero
            continue
        base = np.int64(g) * H
        for c in range(H):
            over, under, valid = _margins(states, packed, base + c, h[r, c], pos[c], neg[c])
            sign = (one if over > zero else zero) - (one if under > zero else zero)
            grad[r, c] = sign * scale
