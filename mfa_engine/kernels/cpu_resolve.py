"""Numba CPU kernels: exact in-place resolution of the float32 pass's ambiguous entries.

The float32 min-plus pass (:mod:`mfa_engine.kernels.cpu_minplus`) finds every (source, target)
entry whose float32 distance lies within its rounding bound of a radius. Such an entry is
resolved here, inside the pass, without re-running its source in float64: phase 1 marks,
backwards through the levels, the predecessors whose float32 candidate is within
``_PRED_MARGIN`` rounding bounds of the entry (only they can be on a float64 shortest path);
phase 2 computes their float64 distances in level order from the float64 weights (the same
additions as float64 Dijkstra) and the entry's count moves to its exact bucket. The source's
float32 row and the transposed float32 tiles (the predecessors of a target are contiguous) are
read; exact values may be kept per row for the rest of the group (``persist``).

All ``@njit(cache=True, fastmath=False)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from mfa_engine.kernels.cpu_buckets import _bucket

__all__: list[str] = []


@njit(fastmath=False, cache=True, inline="always")
def _level_of(lvl_off, col):
    """Level holding level-order position ``col`` (binary search over ``lvl_off``)."""
    lo = 0
    hi = lvl_off.shape[0] - 1
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if lvl_off[mid] <= col:
            lo = mid
        else:
            hi = mid
    return lo


@njit(fastmath=False, cache=True)
def _scan_preds(
    buf, i, v, base, l0, lvl_off, blk_src, blk_dst, blk_off, blk_r0, blk_nr, blk_c0, blk_nc, w_t, thr,
    bound, memo, marks, nmark,
):
    """Predecessors of position ``v`` (column ``v - base`` of row ``i``) that may lie on a
    shortest path to it: ``fl(d(k) + w(k, v)) <= bound`` in the pass's dtype, with ``d(k)``
    at most the cutoff. Unmarked ones are marked (``memo`` -2) and appended to ``marks``;
    returns the new length of ``marks``."""
    bv = _level_of(lvl_off, v)
    col = v - lvl_off[bv]
    for q in range(blk_src.shape[0]):
        if blk_dst[q] != bv or blk_src[q] < l0:
            continue
        cc = col - blk_c0[q]
        if cc < 0 or cc >= blk_nc[q]:
            continue
        k0 = lvl_off[blk_src[q]] + blk_r0[q]
        nrq = blk_nr[q]
        for kk in range(nrq):
            x = buf[i, k0 + kk - base]
            if x > thr or np.float64(x) > bound:  # weights are >= 0: no strided weight load
                continue
            if np.float64(x + w_t[blk_off[q] + cc * nrq + kk]) <= bound:
                u = k0 + kk
                if memo[u] == -1.0:
                    memo[u] = -2.0
                    marks[nmark] = u
                    nmark += 1
    return nmark


@njit(fastmath=False, cache=True)
def _exact_from(
    buf, i, v, base, l0, lvl_off, blk_src, blk_dst, blk_off, blk_r0, blk_nr, blk_c0, blk_nc, w_t, w64, thr,
    bound, memo,
):
    """Float64 distance of position ``v``: the minimum of ``memo[k] + w64(k, v)`` over the
    predecessors :func:`_scan_preds` selects (their exact distances are in ``memo``)."""
    bv = _level_of(lvl_off, v)
    col = v - lvl_off[bv]
    best = np.inf
    for q in range(blk_src.shape[0]):
        if blk_dst[q] != bv or blk_src[q] < l0:
            continue
        cc = col - blk_c0[q]
        if cc < 0 or cc >= blk_nc[q]:
            continue
        k0 = lvl_off[blk_src[q]] + blk_r0[q]
        ncq = blk_nc[q]
        nrq = blk_nr[q]
        for kk in range(nrq):
            x = buf[i, k0 + kk - base]
            if x > thr or np.float64(x) > bound:
                continue
            if np.float64(x + w_t[blk_off[q] + cc * nrq + kk]) <= bound:
                best = min(best, memo[k0 + kk] + w64[blk_off[q] + kk * ncq + cc])
    return best


#: Margin of the predecessor test, in units of the level's rounding bound (>= 2 is enough).
_PRED_MARGIN = 4.0


@njit(fastmath=False, cache=True)
def _resolve_entry(
    buf, i, t, src_pos, sl, base, l0, lvl_off, blk_src, blk_dst, blk_off, blk_r0, blk_nr, blk_c0, blk_nc,
    w_t, w64, thr, eps, memo, marks, nmark,
):
    """Exact float64 distance (as float64 Dijkstra computes it) from the source of row ``i``
    (level-order position ``src_pos``, level ``sl``) to position ``t``, from the row's
    float32 distances.

    Float64 Dijkstra sets ``d(v) = min_k fl64(d(k) + w(k, v))``. A predecessor ``k`` can be
    the minimiser only if its float32 candidate ``fl32(d32(k) + w32(k, v))`` is within the
    level's rounding bound ``gamma_v = (b_v - sl + 2) eps`` of ``d32(v)`` on both sides, i.e.
    ``<= d32(v) (1 + 4 gamma_v)``; on dense random blocks that is nearly always one
    predecessor. Phase 1 marks, backwards from ``t``, every node such a test reaches that has
    no exact distance yet; phase 2 computes their float64 distances in level order (ascending
    positions), each from its selected predecessors. Predecessors above the cutoff ``thr`` are
    left out as the kernel left them out: a node whose exact distance is within the largest
    radius has none on its shortest path, and any other node gets a path length above the
    largest radius, so its bucket is right.

    Args:
        memo: float64 [N] exact distances of this row (-1 unknown, -2 marked), kept across
            the entries of one row (the caller resets the positions in ``marks[:nmark]``).
        marks: int64 [N] positions marked so far for this row; ``nmark`` of them.

    Returns:
        (exact distance, new nmark).
    """
    if memo[t] >= 0.0:
        return memo[t], nmark
    start = nmark
    memo[t] = -2.0
    marks[nmark] = t
    nmark += 1
    p = start
    while p < nmark:
        v = marks[p]
        p += 1
        if v == src_pos:
            continue
        bound = np.float64(buf[i, v - base]) * (1.0 + _PRED_MARGIN * (_level_of(lvl_off, v) - sl + 2) * eps)
        nmark = _scan_preds(
            buf, i, v, base, l0, lvl_off, blk_src, blk_dst, blk_off, blk_r0, blk_nr, blk_c0, blk_nc, w_t, thr,
            bound, memo, marks, nmark,
        )
    order = np.sort(marks[start:nmark])
    for m in range(order.shape[0]):
        v = order[m]
        if v == src_pos:
            memo[v] = 0.0
            continue
        bound = np.float64(buf[i, v - base]) * (1.0 + _PRED_MARGIN * (_level_of(lvl_off, v) - sl + 2) * eps)
        memo[v] = _exact_from(
            buf, i, v, base, l0, lvl_off, blk_src, blk_dst, blk_off, blk_r0, blk_nr, blk_c0, blk_nc, w_t, w64, thr,
            bound, memo,
        )
    return memo[t], nmark


@njit(fastmath=False, cache=True)
def _resolve_row(
    buf, i, s, b, c0, c1, base, l0, sources, src_level, lvl_off, blk_src, blk_dst, blk_off,
    blk_r0, blk_nr, blk_c0, blk_nc, w_t, w64,
    radii, thr, eps, lo, hi, hist, dist, write_dist, memo, marks, nmarks, mi, persist, amb_idx, n_amb,
):
    """Re-resolve the ambiguous entries of one row (level ``b``) exactly and move their counts
    to the buckets of their float64 distances. Returns the number of entries resolved.

    ``memo`` / ``marks`` are the row's (``nmarks[mi]`` marked so far); with ``persist`` the
    exact distances stay for the row's later levels (entries share their shortest-path
    prefixes; the caller resets them when the group ends), else they are reset here."""
    r = radii.shape[0]
    rmax = radii[r - 1] if r > 0 else -np.inf
    n = 0
    nmark = nmarks[mi]
    for a in range(n_amb):  # the ambiguous columns, listed by the bucketing pass
        j = amb_idx[a]
        dd = np.float64(buf[i, c0 + j])
        k = _bucket(radii, dd)
        e, nmark = _resolve_entry(
            buf, i, base + c0 + j, sources[s], src_level[s], base, l0, lvl_off, blk_src, blk_dst, blk_off,
            blk_r0, blk_nr, blk_c0, blk_nc, w_t, w64, thr, eps, memo, marks, nmark,
        )
        k2 = _bucket(radii, e)
        if k2 != k:
            hist[s, k] -= 1
            hist[s, k2] += 1
        if write_dist:
            dist[s, base + c0 + j] = np.float32(e) if e <= rmax else np.inf
        n += 1
    if persist:
        nmarks[mi] = nmark
    else:
        for m in range(nmark):
            memo[marks[m]] = -1.0
        nmarks[mi] = 0
    return n
