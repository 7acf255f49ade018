"""Numba CPU kernel: stored checkpoint weights -> NIN edge distances in one pass.

A NIN edge of weight ``w`` has distance ``1/|w|`` computed in float64 (``inf`` where
``|w| <= eps``); a float32 block holds the float32 rounding of that float64 value (exactly what
the in-memory float32 path gets by casting the float64 blocks). The kernel reads the stored
weights as they are in the file (float16 and bfloat16 bit patterns widened by integer shifts,
float16 then scaled by a power of two; float32 as is; all exact) and writes the distance block of the requested
dtype directly, transposing and permuting the output columns on the way (an ``nn.Linear``
weight is stored ``[out, in]``, the NIN block is ``[in, out]``) and checking that every value
is finite: no float32 copy of the weights and no float64 full-block temporary.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["distances_into", "magnitude_counts", "STORED_MODES"]

#: Square micro-tile of the transposing copy.
_MT = 8
#: Output rows per parallel task (a stored row's span of ``_IT`` values is read at once: 8x
#: fewer page visits than one micro-tile, which mattered with 4 KiB pages).
_IT = 64
#: Storage kinds the kernel decodes: dtype name -> mode.
STORED_MODES = {"float32": 0, "float16": 1, "bfloat16": 2}
#: mode -> (mask, shift, scale, exponent field of +inf after decoding); see :func:`_distances_kernel`.
_DECODE = {0: (0xFFFFFFFF, 0, 1.0, 0x7F800000), 1: (0x7FFF, 13, 2.0**112, 0x0F800000), 2: (0xFFFF, 16, 1.0, 0x7F800000)}


@njit(fastmath=False, cache=True, inline="always")
def _decode(x, mask, shift):
    """Bits of ``|value| / scale`` as a float32 (see :func:`_distances_kernel`): integer
    operations only, so the transposing copy stays vectorised."""
    return (np.uint32(x) & mask) << shift


@njit(fastmath=False, cache=True, inline="always")
def _gather_tile(w, tmp, idx, j0, i0, transposed, mask, shift):
    """One full ``_MT x _MT`` micro-tile: ``tmp[ii, jj]`` = the decoded stored value of input
    ``i0 + ii`` and stored output ``idx[j0 + jj]`` (constant trip counts: LLVM unrolls the
    transpose)."""
    if transposed:
        for jj in range(_MT):
            s = idx[j0 + jj]
            for ii in range(_MT):
                tmp[ii, jj] = _decode(w[s, i0 + ii], mask, shift)
    else:
        for ii in range(_MT):
            for jj in range(_MT):
                tmp[ii, jj] = _decode(w[i0 + ii, idx[j0 + jj]], mask, shift)


@njit(fastmath=False, cache=True, inline="always")
def _dist_segment(tmpf, ii, j_n, out, r, c0, dst, j0, eps, dst_range, scale):
    """Distances of ``tmpf[ii, :j_n]`` into row ``r`` of ``out`` (columns ``c0 + jj`` or
    ``dst[j0 + jj]``)."""
    if dst_range and j_n == _MT:
        for jj in range(_MT):  # constant trip count: vectorised float64 division
            a = abs(np.float64(tmpf[ii, jj]) * scale)
            d = 1.0 / a
            out[r, c0 + jj] = d if a > eps else np.inf
    else:
        for jj in range(j_n):
            a = abs(np.float64(tmpf[ii, jj]) * scale)
            d = 1.0 / a
            out[r, dst[j0 + jj]] = d if a > eps else np.inf


@njit(parallel=True, fastmath=False, cache=True)
def _distances_kernel(w, mask, shift, scale, expmask, src, dst, out, eps, transposed, dst_range, bad):
    """``out[i, dst[j]] = dist(W[i, src[j]])`` with ``W = w.T`` if ``transposed`` else ``w``.

    Micro-tiles of ``_MT x _MT``: the stored values are decoded and gathered (transposed) into
    a small buffer with constant trip counts (LLVM unrolls the transpose; 32- and 64-wide tiles
    with power-of-two strides were 3-8x slower), then each output row segment is computed in
    one unit-stride loop (vectorised float64 division) and stored contiguously when ``dst`` is
    a range.

    Args:
        w: uint16 (float16 / bfloat16 bits) or uint32 (float32 bits) [n_out_stored, n_in]
            (``transposed``) or [n_in, n_out_stored].
        mask, shift, scale, expmask: The decoding (:func:`_decode`): float32 bits as they
            are; bfloat16 bits shifted by 16; float16 bits without the sign shifted by 13 give
            a float32 equal to ``|w| / 2**112`` for normal and subnormal halves alike (``scale``
            2**112 restores it exactly); ``expmask`` is the exponent field of +inf after
            decoding (NaN/inf check).
        src: int64 [m] stored output index of each written column.
        dst: int64 [m] output column of each.
        out: float32/float64 [n_in, n_out] written in place (other columns untouched).
        eps: Weights with ``|w| <= eps`` give +inf.
        transposed: Layout of ``w`` (see above).
        dst_range: ``dst`` is ``dst[0] + arange(m)``.
        bad: int64 [ceil(n_in / _IT)] output: non-finite values met per row tile.
    """
    n_in = out.shape[0]
    m = src.shape[0]
    nti = (n_in + _IT - 1) // _IT
    for ti in prange(nti):
        tmp = np.empty((_MT, _MT), np.uint32)
        tmpf = tmp.view(np.float32)
        nbad = 0
        for j0 in range(0, m, _MT):
            j_n = min(m, j0 + _MT) - j0
            c0 = dst[0] + j0
            for q in range(_IT // _MT):  # consecutive micro-tiles read each stored row's span once
                i0 = ti * _IT + q * _MT
                if i0 >= n_in:
                    break
                i_n = min(n_in, i0 + _MT) - i0
                if i_n == _MT and j_n == _MT:
                    _gather_tile(w, tmp, src, j0, i0, transposed, mask, shift)
                else:
                    for jj in range(j_n):
                        s = src[j0 + jj]
                        for ii in range(i_n):
                            tmp[ii, jj] = _decode(w[s, i0 + ii] if transposed else w[i0 + ii, s], mask, shift)
                for ii in range(i_n):
                    for jj in range(j_n):
                        nbad += (tmp[ii, jj] & expmask) == expmask
                    _dist_segment(tmpf, ii, j_n, out, i0 + ii, c0, dst, j0, eps, dst_range, scale)
        bad[ti] = nbad


def distances_into(
    w: np.ndarray, dtype_name: str, src: np.ndarray, dst: np.ndarray, out: np.ndarray, eps: float, transposed: bool
) -> int:
    """Write the distances of stored weights into columns of a NIN block.

    Args:
        w: Stored values (:data:`STORED_MODES`: float16, bfloat16 as uint16 bit patterns, or
            float32), [n_out_stored, n_in] when ``transposed`` (``nn.Linear`` layout), else
            [n_in, n_out_stored].
        dtype_name: ``"float16"``, ``"bfloat16"`` or ``"float32"``.
        src: int [m] stored output index of each column written.
        dst: int [m] column of ``out`` it goes to.
        out: float32 or float64 [n_in, n_out], C-contiguous; the ``dst`` columns are written.
        eps: Weights with ``|w| <= eps`` have no edge (+inf).
        transposed: Layout of ``w``.

    Returns:
        The number of non-finite (NaN/inf) stored values read (0 for valid weights).

    Raises:
        ValueError: An unsupported dtype or a bad ``out``.
    """
    if dtype_name not in STORED_MODES:
        raise ValueError(f"distances_into: stored dtype must be one of {sorted(STORED_MODES)}, got {dtype_name!r}")
    mode = STORED_MODES[dtype_name]
    bits = np.ascontiguousarray(w).view(np.uint32 if mode == 0 else np.uint16)
    n_in = bits.shape[1] if transposed else bits.shape[0]
    if out.ndim != 2 or out.shape[0] != n_in or not out.flags.c_contiguous:
        raise ValueError(f"distances_into: out must be C-contiguous [{n_in}, n_out], got {out.shape}")
    if out.dtype not in (np.float32, np.float64):
        raise ValueError(f"distances_into: out must be float32 or float64, got {out.dtype}")
    src = np.ascontiguousarray(src, np.int64)
    dst = np.ascontiguousarray(dst, np.int64)
    rng = bool(dst.size) and bool(np.array_equal(dst, dst[0] + np.arange(dst.size)))
    bad = np.zeros((n_in + _IT - 1) // _IT, np.int64)
    mask, shift, scale, expmask = _DECODE[mode]
    _distances_kernel(bits, np.uint32(mask), np.uint32(shift), scale, np.uint32(expmask), src, dst, out, float(eps), bool(transposed), rng, bad)
    return int(bad.sum())


@njit(fastmath=False, cache=True)
def _magnitude_counts_kernel(bits, idx, transposed, hist):
    """Count the 15-bit magnitude patterns (sign cleared) of the used elements of a 16-bit
    weight matrix into ``hist`` [4, 32768] (four interleaved copies: no store-to-load chains)."""
    if transposed:  # [out, in]: the used outputs are rows
        for t in range(idx.shape[0]):
            r = idx[t]
            for j in range(bits.shape[1]):
                hist[j & 3, np.int64(bits[r, j]) & 0x7FFF] += 1
    else:  # [in, out]: the used outputs are columns
        for i in range(bits.shape[0]):
            for t in range(idx.shape[0]):
                hist[t & 3, np.int64(bits[i, idx[t]]) & 0x7FFF] += 1


def magnitude_counts(w: np.ndarray, kind: str, idx: np.ndarray, transposed: bool) -> tuple[np.ndarray, np.ndarray]:
    """How often each distance occurs among the used elements of a float16/bfloat16 matrix.

    The distance of a stored value is ``1/|w|`` computed exactly as :func:`distances_into`
    does (the magnitude decoded to float64, then one float64 division), so the multiset is that
    of the float64 block's entries; a 16-bit format has at most 32,768 magnitudes.

    Args:
        w: float16 [a, b], or uint16 bit patterns of bfloat16 (:data:`STORED_MODES`).
        kind: ``"float16"`` or ``"bfloat16"``.
        idx: int64 [k] the used outputs: rows of ``w`` if ``transposed`` (``[out, in]``
            storage), else its columns.
        transposed: The storage layout (as :func:`distances_into`).

    Returns:
        (magnitudes float64 [32768]: ``|w|`` of each 15-bit pattern (NaN/inf patterns give
        NaN/inf), counts int64 [32768]).
    """
    mode = STORED_MODES[kind]
    if mode == 0:
        raise ValueError("magnitude_counts: 16-bit storage only (float16, bfloat16)")
    bits = np.ascontiguousarray(w).view(np.uint16)
    hist = np.zeros((4, 1 << 15), np.int64)
    _magnitude_counts_kernel(bits, np.ascontiguousarray(idx, np.int64), bool(transposed), hist)
    mask, shift, scale, _ = _DECODE[mode]
    pat = (np.arange(1 << 15, dtype=np.uint32) & np.uint32(mask)) << np.uint32(shift)
    with np.errstate(invalid="ignore"):  # bfloat16 NaN patterns
        mag = np.abs(pat.view(np.float32).astype(np.float64) * scale)
    if mode == 1:  # float16: the exponent field all ones is inf/NaN (decoded above 2**16 here)
        mag[0x7C00:] = np.where(np.arange(0x7C00, 1 << 15) == 0x7C00, np.inf, np.nan)
    return mag, hist.sum(axis=0)

