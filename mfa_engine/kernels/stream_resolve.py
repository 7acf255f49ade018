"""Numba CPU kernels of the exact float32 streamed pass (:mod:`mfa_engine.paths.stream_resolve`).

* :func:`bucket_panel` -- threshold one level's float32 distance panel, bucket it into the
  radius grid and list the ambiguous entries: those within their rounding bound
  ``gamma = (b - a + 2) * 2**-24`` of a radius (target level b, source level a), the same test
  as the in-memory float32 pass (:func:`mfa_engine.kernels.cpu_buckets._ambiguity_bounds`).
* :func:`scan_preds` -- for marked (source, node) entries of level ``l + 1``, the predecessors
  ``p`` at level ``l`` whose float32 candidate ``fl32(d32(s, p) + w32(p, v))`` is within the
  margin ``d32(s, v) (1 + margin * gamma)`` (the in-memory resolution's test).
* :func:`exact_level` -- float64 distances of one level's marked entries from their kept
  predecessors (``min_p d64(s, p) + w64(p, v)``, the additions of float64 Dijkstra).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from mfa_engine.kernels.cpu_buckets import _ambiguity_bounds, _bucket_fast, _bucket_row_idx

__all__ = ["bucket_panel", "exact_level", "scan_preds"]


@njit(parallel=True, fastmath=False, cache=True)
def _bucket_panel_kernel(panel, bits, src_level, b, radii, radii_pad, rtab, thr, eps, hist, cnt, nchunk):
    """Pass 1: entries above ``thr`` set to +inf, the rest counted into ``hist[i]``; ``cnt[i]``
    = ambiguous entries of row i."""
    a_n, n = panel.shape
    r = radii.shape[0]
    chunk = (a_n + nchunk - 1) // nchunk
    inf = np.float32(np.inf)
    for c in prange(nchunk):
        sub = np.zeros((4, r + 1), np.int64)
        lo = np.empty(r + 1)
        hi = np.empty(r + 1)
        amb = np.empty(n, np.int64)
        g_prev = -1.0
        for i in range(c * chunk, min(a_n, (c + 1) * chunk)):
            row = panel[i]
            for j in range(n):
                row[j] = inf if row[j] > thr else row[j]
            gamma = (b - src_level[i] + 2) * eps
            if gamma != g_prev:
                _ambiguity_bounds(radii, gamma, lo, hi)
                g_prev = gamma
            cnt[i] = _bucket_row_idx(radii_pad, rtab, row, bits[i], 16, thr, lo, hi, sub, hist[i], amb)


@njit(parallel=True, fastmath=False, cache=True)
def _ambiguous_kernel(panel, bits, src_level, b, radii, radii_pad, thr, eps, rows, off, out_col, out_k, rtab):
    """Pass 2: the ambiguous entries of the listed rows (their column and float32 bucket)."""
    r = radii.shape[0]
    for q in prange(rows.shape[0]):
        i = rows[q]
        lo = np.empty(r + 1)
        hi = np.empty(r + 1)
        _ambiguity_bounds(radii, (b - src_level[i] + 2) * eps, lo, hi)
        o = off[q]
        row = panel[i]
        for j in range(row.shape[0]):
            d = row[j]
            if d > thr:
                continue
            dd = np.float64(d)
            k = _bucket_fast(radii_pad, rtab, bits[i, j], 16, dd)
            if dd >= lo[k] or dd <= hi[k]:
                out_col[o] = j
                out_k[o] = k
                o += 1


def bucket_panel(
    panel: np.ndarray, src_level: np.ndarray, level: int, radii: np.ndarray, radii_pad: np.ndarray,
    rtab: np.ndarray, thr: np.float32, eps: float, hist: np.ndarray, nchunk: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Threshold, count and list the ambiguous entries of one level's float32 panel.

    Args:
        panel: float32 [A, n_b] C-contiguous distances of rows 0..A-1 to level ``level``
            (entries above ``thr`` are set to +inf in place).
        src_level: int64 [A] source level of each row (< ``level``).
        level: The target level b.
        radii: float64 [R] ascending. radii_pad: :func:`~mfa_engine.kernels.cpu_buckets.padded_radii`.
        rtab: :func:`~mfa_engine.kernels.cpu_buckets.radius_table` for float32.
        thr: float32 propagation cutoff.
        eps: 2**-24 (float32 unit roundoff).
        hist: int64 [>= A, R + 1]; row i gets the bucket counts of row i (bucket k: first
            radius >= d).
        nchunk: Parallel row chunks.

    Returns:
        (row int64 [E], column int64 [E], float32 bucket int64 [E], float32 distance [E]) of the
        ambiguous entries, sorted by (row, column).
    """
    a_n = panel.shape[0]
    bits = panel.view(np.uint32)
    cnt = np.zeros(a_n, np.int64)
    if a_n:
        _bucket_panel_kernel(panel, bits, src_level, level, radii, radii_pad, rtab, thr, eps, hist, cnt, max(1, min(nchunk, a_n)))
    rows = np.flatnonzero(cnt).astype(np.int64)
    off = np.concatenate([[0], np.cumsum(cnt[rows])]).astype(np.int64)
    col = np.empty(int(off[-1]), np.int64)
    k = np.empty(int(off[-1]), np.int64)
    if rows.size:
        _ambiguous_kernel(panel, bits, src_level, level, radii, radii_pad, thr, eps, rows, off, col, k, rtab)
    row = np.repeat(rows, cnt[rows])
    return row, col, k, panel[row, col]


@njit(parallel=True, fastmath=False, cache=True)
def _scan_preds_kernel(m_d32, m_sl, m_rk, m_vk, rows32, w_t, b, thr, eps, margin, off, out_m, out_p, out_w, fill):
    """Count (``fill`` False: into ``off``) or write the selected predecessors of each mark."""
    n = rows32.shape[1]
    for m in prange(m_d32.shape[0]):
        bound = np.float64(m_d32[m]) * (1.0 + margin * (b - m_sl[m] + 2) * eps)
        xr = rows32[m_rk[m]]
        wr = w_t[m_vk[m]]
        c = 0
        o = off[m] if fill else 0
        for p in range(n):
            x = xr[p]
            if x > thr or np.float64(x) > bound:  # weights are >= 0: no weight load
                continue
            if np.float64(x + np.float32(wr[p])) <= bound:
                if fill:
                    out_m[o + c] = m
                    out_p[o + c] = p
                    out_w[o + c] = wr[p]
                c += 1
        if not fill:
            off[m] = c


def scan_preds(
    m_d32: np.ndarray, m_sl: np.ndarray, m_rk: np.ndarray, m_vk: np.ndarray, rows32: np.ndarray,
    w_t: np.ndarray, level: int, thr: np.float32, eps: float, margin: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predecessors at level ``level - 1`` that may lie on a shortest path to each mark.

    Args:
        m_d32: float32 [M] float32 distance of each marked (source, v), v at level ``level``.
        m_sl: int64 [M] the source's level (< ``level - 1``).
        m_rk: int64 [M] row of ``rows32`` holding the source's float32 distances to level
            ``level - 1``.
        m_vk: int64 [M] row of ``w_t`` holding v's float64 in-weights.
        rows32: float32 [K, n_{level-1}] thresholded distances (+inf above ``thr``).
        w_t: float64 [U, n_{level-1}] in-weights of the marked nodes (transposed columns of
            the block).
        level: Level of the marks. thr: float32 cutoff. eps: 2**-24.
        margin: The test's margin in units of the rounding bound.

    Returns:
        (mark index int64 [E], predecessor int64 [E], float64 weight [E]), by mark.
    """
    mn = m_d32.shape[0]
    off = np.zeros(mn, np.int64)
    z_i, z_w = np.zeros(0, np.int64), np.zeros(0)
    if mn == 0:
        return z_i, z_i, z_w
    _scan_preds_kernel(m_d32, m_sl, m_rk, m_vk, rows32, w_t, level, thr, eps, margin, off, z_i, z_i, z_w, False)
    start = np.concatenate([[0], np.cumsum(off)[:-1]]).astype(np.int64)
    e = int(off.sum())
    out_m, out_p, out_w = np.empty(e, np.int64), np.empty(e, np.int64), np.empty(e)
    _scan_preds_kernel(m_d32, m_sl, m_rk, m_vk, rows32, w_t, level, thr, eps, margin, start, out_m, out_p, out_w, True)
    return out_m, out_p, out_w


@njit(fastmath=False, cache=True)
def _exact_level_kernel(child, parent, w, parent_exact, out):
    for e in range(child.shape[0]):
        p = parent[e]
        v = (0.0 if p < 0 else parent_exact[p]) + w[e]
        if v < out[child[e]]:
            out[child[e]] = v


def exact_level(n_child: int, child: np.ndarray, parent: np.ndarray, w: np.ndarray, parent_exact: np.ndarray) -> np.ndarray:
    """float64 distances of ``n_child`` marked entries: ``min`` over their kept edges of
    ``parent_exact[parent] + w`` (``parent`` -1: the source itself, distance 0).

    Args:
        n_child: Marks of the level. child, parent: int64 [E] edge ends (mark indices).
        w: float64 [E] edge weights. parent_exact: float64 [P] exact distances of the parents.

    Returns:
        float64 [n_child] (+inf for a mark without a kept edge).
    """
    out = np.full(n_child, np.inf)
    _exact_level_kernel(
        np.ascontiguousarray(child, np.int64), np.ascontiguousarray(parent, np.int64), np.ascontiguousarray(w, np.float64),
        np.ascontiguousarray(parent_exact, np.float64), out,
    )
    return out
