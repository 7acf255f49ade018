"""Numba CPU kernel: checkpoint weights -> NIN edge distances in one pass.

A NIN edge of weight ``w`` has distance ``1/|w|`` computed in float64 (``inf`` where
``|w| <= eps``); a float32 block holds the float32 rounding of that float64 value (exactly what
the in-memory float32 path gets by casting the float64 blocks). The kernel reads a stored
weight matrix (float32, as the checkpoint reader returns it) and writes the distance block of
the requested dtype directly, transposing and permuting the output columns on the way (a fused
``nn.Linear`` weight is stored ``[out, in]``, the NIN block is ``[in, out]``), so there is no
float64 full-block temporary on the float32 path.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["distances_into"]

#: Square tile of the transposing copy (both sides stay in L1).
_TILE = 32


@njit(fastmath=False, cache=True, inline="always")
def _dist(x, eps):
    """float64 ``1/|x|``, or +inf where ``|x| <= eps``."""
    a = np.float64(abs(x))
    return 1.0 / a if a > eps else np.inf


@njit(parallel=True, fastmath=False, cache=True)
def _distances_kernel(w, src, dst, out, eps, transposed):
    """``out[i, dst[j]] = dist(W[i, src[j]])`` with ``W = w.T`` if ``transposed`` else ``w``.

    Args:
        w: float32 [n_out_stored, n_in] (``transposed``) or [n_in, n_out_stored].
        src: int64 [m] stored output index of each written column.
        dst: int64 [m] output column of each.
        out: float32/float64 [n_in, n_out] written in place (other columns untouched).
        eps: Weights with ``|w| <= eps`` give +inf.
        transposed: Layout of ``w`` (see above).
    """
    n_in = out.shape[0]
    m = src.shape[0]
    nti = (n_in + _TILE - 1) // _TILE
    for ti in prange(nti):
        i0 = ti * _TILE
        i1 = min(n_in, i0 + _TILE)
        for j0 in range(0, m, _TILE):
            j1 = min(m, j0 + _TILE)
            if transposed:
                for j in range(j0, j1):
                    s = src[j]
                    d = dst[j]
                    for i in range(i0, i1):
                        out[i, d] = _dist(w[s, i], eps)
            else:
                for i in range(i0, i1):
                    for j in range(j0, j1):
                        out[i, dst[j]] = _dist(w[i, src[j]], eps)


def distances_into(w: np.ndarray, src: np.ndarray, dst: np.ndarray, out: np.ndarray, eps: float, transposed: bool) -> np.ndarray:
    """Write the distances of stored weights into columns of a NIN block.

    Args:
        w: float32 [n_out_stored, n_in] when ``transposed`` (``nn.Linear`` layout), else
            [n_in, n_out_stored].
        src: int [m] stored output index of each column written.
        dst: int [m] column of ``out`` it goes to.
        out: float32 or float64 [n_in, n_out], C-contiguous; the ``dst`` columns are written.
        eps: Weights with ``|w| <= eps`` have no edge (+inf).
        transposed: Layout of ``w``.

    Returns:
        ``out``.
    """
    w = np.asarray(w, np.float32)
    n_in = w.shape[1] if transposed else w.shape[0]
    if out.ndim != 2 or out.shape[0] != n_in or not out.flags.c_contiguous:
        raise ValueError(f"distances_into: out must be C-contiguous [{n_in}, n_out], got {out.shape}")
    if out.dtype not in (np.float32, np.float64):
        raise ValueError(f"distances_into: out must be float32 or float64, got {out.dtype}")
    src = np.ascontiguousarray(src, np.int64)
    dst = np.ascontiguousarray(dst, np.int64)
    _distances_kernel(w, src, dst, out, float(eps), bool(transposed))
    return out
