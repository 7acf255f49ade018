"""Numba CPU kernel: stored checkpoint weights -> NIN distances in the micro-kernel's panel layout.

The streamed float32 pass (:func:`mfa_engine.paths.stream.stream_counts`) feeds each block to
the register-blocked min-plus micro-kernel, which reads a ``[n_in, n_out]`` block as
contiguous column panels (:func:`mfa_engine.kernels.cpu_minplus.panel_layout`: ``n_out //
cols`` panels ``[n_in, cols]`` of consecutive target columns, then the remaining columns
row-major). Writing the distances straight into that layout skips the row-major block and its
copy: one pass over the stored weights, one write of the panels, into a buffer the caller may
reuse from level to level. Panel ``p`` of an ``nn.Linear`` weight (stored ``[out, in]``) is
the transpose of ``cols`` stored rows, done per 8 x 8 micro-tile.

The values are those of :func:`mfa_engine.kernels.nin_distances.distances_into` bit for bit
(the same decoding, ``1/|w|`` divided in float64, then rounded to the output dtype).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from mfa_engine.kernels.nin_distances import _DECODE, STORED_MODES, _decode, _gather_tile

__all__ = ["panels_from_stored"]

#: Square micro-tile of the transposing copy (a panel's width must be a multiple).
_MT = 8


@njit(parallel=True, fastmath=False, cache=True)
def _panels_kernel(w, mask, shift, scale, expmask, srow, out, na, eps, transposed, cols, bad, tab, use_tab):
    """``dist(W[i, srow[j]])`` for every column ``j`` with ``srow[j] >= 0``, at the panel
    position of ``(i, j)`` in ``out`` (``W = w.T`` if ``transposed`` else ``w``).

    Args:
        w: uint16 / uint32 stored bits, [n_out_stored, na] (``transposed``) or [na, n_out_stored].
        mask, shift, scale, expmask: The decoding of
            :func:`mfa_engine.kernels.nin_distances._distances_kernel`.
        srow: int64 [nb] stored output index of each target column, -1 = another tensor's.
        out: float32/float64 [>= na * nb], the block in panel layout.
        na: Rows of the block (source level size).
        eps: Weights with ``|w| <= eps`` give +inf.
        transposed: Layout of ``w``.
        cols: Panel width, a multiple of ``_MT``.
        bad: int64 [n_tasks] output: non-finite stored values met per panel.
    """
    nb = srow.shape[0]
    npan = nb // cols
    rem = nb - npan * cols
    ntask = npan + (1 if rem else 0)
    for t in prange(ntask):
        tmp = np.empty((_MT, _MT), np.uint32)
        tmpf = tmp.view(np.float32)
        nbad = 0
        jbeg = t * cols
        width = cols if t < npan else rem
        base = t * na * cols  # the remainder starts right after the last panel
        for i0 in range(0, na, _MT):
            i_n = min(na, i0 + _MT) - i0
            for g in range(0, width, _MT):
                j0 = jbeg + g
                j_n = min(width, g + _MT) - g
                full = i_n == _MT and j_n == _MT
                if full:
                    for jj in range(_MT):
                        if srow[j0 + jj] < 0:
                            full = False
                if full:
                    _gather_tile(w, tmp, srow, j0, i0, transposed, mask, shift)
                    for ii in range(_MT):
                        for jj in range(_MT):
                            nbad += (tmp[ii, jj] & expmask) == expmask
                    if use_tab:
                        for ii in range(_MT):
                            o = base + (i0 + ii) * width + g
                            for jj in range(_MT):
                                out[o + jj] = tab[tmp[ii, jj]]
                        continue
                    for ii in range(_MT):
                        o = base + (i0 + ii) * width + g
                        for jj in range(_MT):  # constant trip count: vectorised float64 division
                            a = abs(np.float64(tmpf[ii, jj]) * scale)
                            d = 1.0 / a
                            out[o + jj] = d if a > eps else np.inf
                else:
                    for jj in range(j_n):
                        s = srow[j0 + jj]
                        if s < 0:
                            continue
                        for ii in range(i_n):
                            tmp[ii, jj] = _decode(w[s, i0 + ii] if transposed else w[i0 + ii, s], mask, shift)
                            nbad += (tmp[ii, jj] & expmask) == expmask
                            if use_tab:
                                out[base + (i0 + ii) * width + g + jj] = tab[tmp[ii, jj]]
                                continue
                            a = abs(np.float64(tmpf[ii, jj]) * scale)
                            d = 1.0 / a
                            out[base + (i0 + ii) * width + g + jj] = d if a > eps else np.inf
        bad[t] = nbad


USE_TABLE = True
_TABLES: dict[tuple[str, float, str], np.ndarray] = {}


def _table(dtype_name: str, eps: float, dtype: np.dtype) -> np.ndarray:
    """Distance of every 16-bit pattern, ``dtype`` [65536]: ``1/|w|`` divided in float64 and
    rounded to ``dtype`` (+inf where ``|w| <= eps``; non-finite patterns give NaN and are
    counted by the kernel), cached per (storage, eps, dtype)."""
    key = (dtype_name, eps, np.dtype(dtype).name)
    tab = _TABLES.get(key)
    if tab is None:
        bits = np.arange(1 << 16, dtype=np.uint32)
        with np.errstate(invalid="ignore"):  # NaN patterns (counted by the kernel, never used)
            vals = bits.astype(np.uint16).view(np.float16).astype(np.float64) if dtype_name == "float16" else (bits << 16).view(np.float32).astype(np.float64)
        a = np.abs(vals)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = 1.0 / a
        d[~(a > eps)] = np.inf
        d[~np.isfinite(vals)] = np.nan
        with np.errstate(over="ignore"):  # beyond the dtype's range: +inf, as the division kernel stores it
            tab = _TABLES[key] = d.astype(dtype)
    return tab


def panels_from_stored(
    w: np.ndarray, dtype_name: str, srow: np.ndarray, out: np.ndarray, na: int, eps: float, transposed: bool, cols: int
) -> int:
    """Write the distances of stored weights into a NIN block laid out as column panels.

    Args:
        w: Stored values (float16, bfloat16 as uint16 bit patterns, or float32),
            [n_out_stored, na] when ``transposed`` (``nn.Linear`` layout), else [na, n_out_stored].
        dtype_name: ``"float16"``, ``"bfloat16"`` or ``"float32"``.
        srow: int [nb] stored output index of each target column of the block, -1 for
            columns another tensor provides (left untouched).
        out: float32 or float64 [na * nb] (1-D, contiguous): the block in the layout of
            :func:`mfa_engine.kernels.cpu_minplus.panel_layout` with ``cols``-wide panels.
        na: Rows of the block.
        eps: Weights with ``|w| <= eps`` have no edge (+inf).
        transposed: Layout of ``w``.
        cols: Panel width (:func:`mfa_engine.kernels.minplus_tile.tile_cols`), a positive
            multiple of 8.

    Returns:
        The number of non-finite (NaN/inf) stored values read (0 for valid weights).

    Raises:
        ValueError: An unsupported dtype, panel width, or a bad ``out``.
    """
    if dtype_name not in STORED_MODES:
        raise ValueError(f"panels_from_stored: stored dtype must be one of {sorted(STORED_MODES)}, got {dtype_name!r}")
    if cols <= 0 or cols % _MT:
        raise ValueError(f"panels_from_stored: panel width must be a positive multiple of {_MT}, got {cols}")
    mode = STORED_MODES[dtype_name]
    bits = np.ascontiguousarray(w).view(np.uint32 if mode == 0 else np.uint16)
    srow = np.ascontiguousarray(srow, np.int64)
    n_in = bits.shape[1] if transposed else bits.shape[0]
    if n_in != na:
        raise ValueError(f"panels_from_stored: stored weight {bits.shape} has {n_in} inputs, expected {na}")
    if out.ndim != 1 or out.size != na * srow.size or not out.flags.c_contiguous:
        raise ValueError(f"panels_from_stored: out must be contiguous 1-D of {na} x {srow.size} values, got {out.shape}")
    if out.dtype not in (np.float32, np.float64):
        raise ValueError(f"panels_from_stored: out must be float32 or float64, got {out.dtype}")
    n_out_stored = bits.shape[0] if transposed else bits.shape[1]
    if srow.size and srow.max() >= n_out_stored:
        raise ValueError(f"panels_from_stored: stored index {srow.max()} out of range [0, {n_out_stored})")
    bad = np.zeros(srow.size // cols + 1, np.int64)
    if mode and USE_TABLE:  # 16-bit storage: one table lookup per cell instead of a division
        tab = _table(dtype_name, float(eps), out.dtype)
        expmask = 0x7C00 if mode == 1 else 0x7F80
        _panels_kernel(bits, np.uint32(0xFFFF), np.uint32(0), 1.0, np.uint32(expmask), srow, out, na, float(eps), bool(transposed), int(cols), bad, tab, True)
        return int(bad.sum())
    mask, shift, scale, expmask = _DECODE[mode]
    _panels_kernel(bits, np.uint32(mask), np.uint32(shift), scale, np.uint32(expmask), srow, out, na, float(eps), bool(transposed), int(cols), bad, out[:0], False)
    return int(bad.sum())
