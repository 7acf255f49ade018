"""Numba CPU kernels for batched bounded shortest paths with fused neighbour counting.

All ``@njit(cache=True)`` with ``fastmath=False``, except the min/max reductions of
:func:`weight_range` and :func:`cast_range` (exact on their finite, NaN-free inputs); the heavy
ones ``parallel=True``.

* :func:`dag_minplus_counts` -- the topological path. Nodes are grouped in levels (a layered
  DAG, or any DAG after level detection); the distances of a group of sources to level ``b`` are
  ``min_a min-plus(D_a, W_{a,b})``. Workers each own one buffer set and run source groups of
  up to ``SRC_BLOCK`` rows (one start level; a few sources share mixed-level groups) scheduled
  longest-first. :func:`minplus_into` is
  cache-blocked over sources (the group), the reduction (W tiles of ``TILE_BYTES``, L2) and
  target columns (``COL_TILE``), and register-blocked 2 sources x 4 reductions per 8-lane
  vector (LLVM emits ``vaddps``/``vminps``). After each level every new distance is bucketed
  into the radius grid (table lookup on its top bits + a short scan, i.e. a binary-search
  equivalent), counted in four interleaved sub-histograms (no store-forwarding chains) and
  checked against precomputed per-bucket ambiguity bounds (fused counting); the cumulative sum
  is taken by the caller, so the S x N distance matrix is never formed unless distances are
  asked for. Workers take their row buffers from the caller (:func:`row_buffers`).
* :func:`csr_dijkstra_counts` -- the general path: one bounded Dijkstra per source (binary heap
  with lazy deletion, growing on demand), float64, parallel over sources.
* Helpers: :func:`dag_levels` (one forward pass, else Kahn), :func:`block_pairs`,
  :func:`scan_values` (input checks), :func:`weight_range`, :func:`cast_range`,
  :func:`gather_blocks`,
  :func:`gather_level_block` (dense level blocks from CSR in one pass), :func:`minplus_rows`,
  :func:`hash_words` (cache fingerprints, optionally with the input check in the same pass),
  :func:`histogram_to_counts`, :func:`radius_table`,
  :func:`row_buffers`, :func:`padded_radii`.

Precision: the DAG kernel runs in the dtype of the weights it is given (float32 for speed,
float64 for exactness). In float32 a distance to level b from a source at level a is within a
relative ``gamma = (b - a + 2) * eps`` of the float64 value (a path has at most b - a edges,
each adding at most one rounding of ``eps = 2**-24``, plus margin); every distance that lands
within ``gamma`` of a radius sets ``flags[s]`` so the caller recomputes that source in float64
(float64 min-plus adds along each path in the same order as Dijkstra, so it matches SciPy bit
for bit).

Indices and offsets are int64 (S * N may exceed 2**31).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = [
    "SRC_BLOCK",
    "COL_TILE",
    "RED_TILE",
    "TILE_BYTES",
    "dag_minplus_counts",
    "minplus_into",
    "minplus_rows",
    "csr_dijkstra_counts",
    "dag_levels",
    "block_pairs",
    "scan_values",
    "weight_range",
    "cast_range",
    "gather_blocks",
    "gather_level_block",
    "hash_words",
    "histogram_to_counts",
    "radius_table",
    "row_buffers",
    "padded_radii",
]

#: Sources processed together by one thread (rows of the distance tile kept in cache).
SRC_BLOCK = 32
#: Target columns per tile of the min-plus product.
COL_TILE = 2048
#: Bytes of W kept per reduction tile (about a quarter of a 1 MiB L2).
TILE_BYTES = 256 * 1024
#: Reduction (source-level node) tile of the min-plus product.
RED_TILE = 256


@intrinsic
def _fetch_add(typingctx, arr, idx, val):
    """Atomic ``arr[idx] += val`` on an int64 array; returns the previous value (a work-queue
    counter shared by the workers of a parallel region)."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64):
        return None
    sig = types.int64(arr, types.intp, types.int64)

    def codegen(context, builder, signature, args):
        a, i, v = args
        aty = signature.args[0]
        ary = context.make_array(aty)(context, builder, a)
        ptr = cgutils.get_item_pointer(context, builder, aty, ary, [i], wraparound=False)
        return builder.atomic_rmw("add", ptr, v, "seq_cst")

    return sig, codegen


@njit(fastmath=False, cache=True, inline="always")
def _bucket(radii, d):
    """First index k with radii[k] >= d (len(radii) if none): binary search."""
    lo = 0
    hi = radii.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if radii[mid] < d:
            lo = mid + 1
        else:
            hi = mid
    return lo


def radius_table(radii: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """Start-index table for :func:`_bucket_fast`: ``tab[h]`` = first radius >= the smallest
    non-negative ``dtype`` value whose top 16 bits are ``h`` (h < 2**15).

    The top 16 bits are the sign, the exponent and 4 (float64) or 7 (float32) mantissa bits,
    i.e. 16 or 128 table cells per octave; the finer float32 cells rarely hold a radius, so the
    scan after the lookup is almost always empty (no branch mispredictions).

    Args:
        radii: float64 [R] ascending.
        dtype: float32 or float64, the type of the distances looked up.

    Returns:
        int64 [32768].
    """
    key = np.dtype(dtype).name
    lo = _CELL_LO.get(key)
    if lo is None:
        bits = np.uint32 if key == "float32" else np.uint64
        shift = bits(8 * np.dtype(dtype).itemsize - 16)
        lo = (np.arange(1 << 15, dtype=bits) << shift).view(dtype)
        lo = np.where(np.isnan(lo), np.inf, lo).astype(np.float64)  # non-decreasing
        _CELL_LO[key] = lo
    out = np.empty(lo.shape[0], np.int64)
    _merge_starts(np.ascontiguousarray(radii, np.float64), lo, out)
    return out


#: dtype name -> float64 [32768] smallest value of each table cell (see :func:`radius_table`).
_CELL_LO: dict[str, np.ndarray] = {}


@njit(cache=True, fastmath=False)
def _merge_starts(radii, lo, out):
    """``out[h]`` = first k with ``radii[k] >= lo[h]`` for non-decreasing ``lo`` (a merge)."""
    k = 0
    r = radii.shape[0]
    for h in range(lo.shape[0]):
        x = lo[h]
        while k < r and radii[k] < x:
            k += 1
        out[h] = k


def row_buffers(nthreads: int, size: int, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """Per-worker distance-row buffers for :func:`dag_minplus_counts`, and a view of them as
    unsigned integers of the same width (the radius lookup reads a distance's top bits).

    Returns:
        (float [nthreads, size], uint [nthreads, size] view of the same memory).
    """
    bufs = np.empty((nthreads, max(size, 1)), dtype)
    return bufs, bufs.view(np.uint32 if np.dtype(dtype) == np.float32 else np.uint64)


def padded_radii(radii: np.ndarray) -> np.ndarray:
    """radii float64 [R] ascending -> [R + 1] with a +inf sentinel (ends the lookup's scan)."""
    return np.append(np.asarray(radii, np.float64), np.inf)


@njit(fastmath=False, cache=True, inline="always")
def _bucket_fast(radii_pad, tab, bits, shift, dd):
    """First index k with radii[k] >= dd for dd >= 0 (R if none): table lookup on the top 16 bits
    of the distance, then a scan that the table makes almost always empty (``radii_pad`` ends with
    +inf, so it needs no bound check)."""
    k = tab[bits >> shift]
    while radii_pad[k] < dd:
        k += 1
    return k


@njit(fastmath=False, cache=True)
def _bucket_many(radii_pad, tab, d, dbits):
    """Vector of :func:`_bucket_fast` results (int64 [n]) for d [n] >= 0 (for tests)."""
    out = np.empty(d.shape[0], dtype=np.int64)
    shift = 8 * dbits.itemsize - 16
    for i in range(d.shape[0]):
        out[i] = _bucket_fast(radii_pad, tab, dbits[i], shift, np.float64(d[i]))
    return out


@njit(fastmath=False, cache=True, inline="always")
def _ambiguity_bounds(radii, gamma, lo, hi):
    """Bounds for :func:`_bucket_row`: a distance d in bucket k is ambiguous (within a relative
    ``gamma`` of radius k or k - 1) iff ``d >= lo[k]`` or ``d <= hi[k]``."""
    r = radii.shape[0]
    for k in range(r + 1):
        lo[k] = np.inf
        hi[k] = -np.inf
        if gamma > 0.0:
            if k < r and radii[k] > 0.0:
                lo[k] = radii[k] * (1.0 - gamma)
            if k > 0 and radii[k - 1] > 0.0:
                hi[k] = radii[k - 1] * (1.0 + gamma)


@njit(fastmath=False, cache=True, inline="always")
def _bucket_row(radii_pad, tab, row, bits, shift, thr, lo, hi, sub, hist_row):
    """Bucket one row of new distances into the radius grid and add them to ``hist_row``;
    returns True if any distance is ambiguous (see :func:`_ambiguity_bounds`).

    Entries above the finite cutoff ``thr`` (+inf included) are skipped with one comparison
    (the row is left as it is: the next min-plus step reads them as +inf anyway); the others
    are counted in 4 interleaved sub-histograms ``sub`` [4, R + 1] (consecutive equal buckets
    would otherwise chain through store-to-load forwarding), folded into ``hist_row`` at the
    end (``sub`` is left zeroed).
    """
    amb = False
    n = row.shape[0]
    for j in range(n):
        d = row[j]
        if d > thr:
            continue
        dd = np.float64(d)
        k = _bucket_fast(radii_pad, tab, bits[j], shift, dd)
        sub[j & 3, k] += 1
        amb |= (dd >= lo[k]) | (dd <= hi[k])
    for k in range(sub.shape[1]):
        c = sub[0, k] + sub[1, k] + sub[2, k] + sub[3, k]
        if c:
            hist_row[k] += c
            sub[0, k] = 0
            sub[1, k] = 0
            sub[2, k] = 0
            sub[3, k] = 0
    return amb


@njit(fastmath=False, cache=True, inline="always")
def _pair_update(o0, o1, xt, s, wt, kq_n, jn, inf):
    """Register block: 2 sources x 4 reductions per vector of targets."""
    for kq in range(kq_n):
        kk = 4 * kq
        x0 = xt[s, kk]
        x1 = xt[s, kk + 1]
        x2 = xt[s, kk + 2]
        x3 = xt[s, kk + 3]
        y0 = xt[s + 1, kk]
        y1 = xt[s + 1, kk + 1]
        y2 = xt[s + 1, kk + 2]
        y3 = xt[s + 1, kk + 3]
        if x0 == inf and x1 == inf and x2 == inf and x3 == inf:
            if y0 == inf and y1 == inf and y2 == inf and y3 == inf:
                continue
        for j in range(jn):
            w0 = wt[kk, j]
            w1 = wt[kk + 1, j]
            w2 = wt[kk + 2, j]
            w3 = wt[kk + 3, j]
            t0 = x0 + w0
            t1 = x1 + w1
            t2 = x2 + w2
            t3 = x3 + w3
            c = o0[j]
            t3 = t3 if t3 < c else c
            t0 = t0 if t0 < t1 else t1
            t2 = t2 if t2 < t3 else t3
            o0[j] = t0 if t0 < t2 else t2
            u0 = y0 + w0
            u1 = y1 + w1
            u2 = y2 + w2
            u3 = y3 + w3
            c = o1[j]
            u3 = u3 if u3 < c else c
            u0 = u0 if u0 < u1 else u1
            u2 = u2 if u2 < u3 else u3
            o1[j] = u0 if u0 < u2 else u2


@njit(fastmath=False, cache=True, inline="always")
def _single_update(o0, xt, s, wt, kq_n, jn, inf):
    """Register block: 1 source x 4 reductions per vector of targets."""
    for kq in range(kq_n):
        kk = 4 * kq
        x0 = xt[s, kk]
        x1 = xt[s, kk + 1]
        x2 = xt[s, kk + 2]
        x3 = xt[s, kk + 3]
        if x0 == inf and x1 == inf and x2 == inf and x3 == inf:
            continue
        for j in range(jn):
            t0 = x0 + wt[kk, j]
            t1 = x1 + wt[kk + 1, j]
            t2 = x2 + wt[kk + 2, j]
            t3 = x3 + wt[kk + 3, j]
            c = o0[j]
            t3 = t3 if t3 < c else c
            t0 = t0 if t0 < t1 else t1
            t2 = t2 if t2 < t3 else t3
            o0[j] = t0 if t0 < t2 else t2


@njit(fastmath=False, cache=True)
def _tile_update(buf, c0j, jn, xt, tile, kq_n, inf):
    """Apply one reduction tile to every source row: 2 x 4 register blocks, then a single row."""
    nb = buf.shape[0]
    s = 0
    while s + 2 <= nb:
        o0 = buf[s, c0j : c0j + jn]
        o1 = buf[s + 1, c0j : c0j + jn]
        _pair_update(o0, o1, xt, s, tile, kq_n, jn, inf)
        s += 2
    if s < nb:
        o0 = buf[s, c0j : c0j + jn]
        _single_update(o0, xt, s, tile, kq_n, jn, inf)


@njit(fastmath=False, cache=True)
def minplus_into(buf, a0, na, w_flat, woff, c0, ncol, thr, inf, zero, wt, xt):
    """In-place min-plus update of one level from another, inside a row buffer.

    ``buf[s, c0 + j] = min(buf[s, c0 + j], min_k buf[s, a0 + k] + W[k, j])`` where
    ``W = w_flat[woff : woff + na * ncol].reshape(na, ncol)``; entries of the source level above
    ``thr`` count as +inf.

    Cache blocking: the reduction is cut into tiles of ``kt`` rows of W with ``kt * jn * itemsize
    <= TILE_BYTES`` (L2-resident) that every source of the block reuses; rows of up to
    ``COL_TILE`` columns are used in place (a contiguous view, no copy), wider ones are cut into
    column tiles packed into ``wt``. The thresholded source distances of the tile are packed into
    ``xt`` (padded with +inf to a multiple of 4). Register blocking: 2 sources x 4 reductions
    per vector of targets, so each accumulator is loaded/stored once per 4 relaxations and each W
    vector once per 2 sources. The accumulator enters the min tree as a leaf (``min(t3, c)``)
    rather than last, so LLVM neither emits a masked store nor needs an extra add to avoid one.
    The inner loops are unit-stride loops LLVM vectorises (AVX2: vaddps + vminps).

    Args:
        buf: float [B, M] C-contiguous distance rows of a source block.
        a0: First column of the source level in ``buf``.
        na: Width of the source level.
        w_flat: float [*] packed blocks.
        woff: Offset of W in ``w_flat``.
        c0: First column of the target level in ``buf``.
        ncol: Width of the target level.
        thr: Propagation cutoff.
        inf: +inf in the dtype of ``buf``.
        zero: 0 in the dtype of ``buf`` (pads partial reduction tiles).
        wt: float [RED_TILE, COL_TILE] scratch tile.
        xt: float [B, RED_TILE] scratch tile.
    """
    nb = buf.shape[0]
    if na == 0 or ncol == 0:
        return
    jt = min(ncol, COL_TILE)
    kt = (TILE_BYTES // (buf.itemsize * jt)) // 4 * 4
    kt = max(4, min(kt, RED_TILE))
    for k0 in range(0, na, kt):
        kn = min(kt, na - k0)
        kq_n = (kn + 3) // 4
        any_finite = False
        for s in range(nb):
            for kk in range(4 * kq_n):
                x = inf
                if kk < kn:
                    x = buf[s, a0 + k0 + kk]
                    if x > thr:
                        x = inf
                    else:
                        any_finite = True
                xt[s, kk] = x
        if not any_finite:
            continue
        for j0 in range(0, ncol, jt):
            jn = min(jt, ncol - j0)
            if jn == ncol and kn % 4 == 0:
                base = woff + k0 * ncol
                tile = w_flat[base : base + kn * ncol].reshape((kn, ncol))
                _tile_update(buf, c0 + j0, jn, xt, tile, kq_n, inf)
            else:
                for kk in range(4 * kq_n):
                    if kk < kn:
                        base = woff + (k0 + kk) * ncol + j0
                        wt[kk, :jn] = w_flat[base : base + jn]
                    else:
                        wt[kk, :jn] = zero
                _tile_update(buf, c0 + j0, jn, xt, wt, kq_n, inf)


@njit(parallel=True, fastmath=False, cache=True)
def dag_minplus_counts(
    w_flat,
    blk_src,
    blk_dst,
    blk_off,
    lvl_off,
    sources,
    src_level,
    grp_start,
    radii,
    radii_pad,
    rtab,
    bufs,
    bufs_bits,
    eps,
    thr,
    inf,
    zero,
    hist,
    flags,
    dist,
    write_dist,
    grp_order,
    next_group,
):
    """Fused multi-source min-plus over the levels of a DAG.

    Args:
        w_flat: float32/float64 [sum n_a * n_b], the dense blocks W_{a,b} concatenated (C order).
        blk_src: int64 [nblk] source level a of each block, blocks sorted by (b, a).
        blk_dst: int64 [nblk] target level b (> a).
        blk_off: int64 [nblk] offset of each block in ``w_flat``.
        lvl_off: int64 [L + 1] first node (in level order) of each level.
        sources: int64 [S] sources in level order, sorted by level.
        src_level: int64 [S] level of each source.
        grp_start: int64 [G + 1] boundaries of source groups (<= SRC_BLOCK each; a group's rows
            start at the level of its first source, so every group is sorted by level and
            mixing levels costs only the unused rows).
        radii: float64 [R] ascending radius grid (for distances: ``[cutoff]``).
        radii_pad: float64 [R + 1], ``radii`` and +inf (:func:`padded_radii`).
        rtab: int64 [32768] from :func:`radius_table` for the dtype of ``w_flat``.
        bufs, bufs_bits: Per-worker row buffers [T, >= max group size x N] and their unsigned
            integer view (:func:`row_buffers`).
        eps: Relative rounding bound per edge of a path (2**-24 for float32, 0 for exact
            float64); a distance d levels below its source is ambiguous within (d + 2) * eps.
        thr: Propagation cutoff, finite (>= radii[-1]; entries above are +inf; for no cutoff
            pass the dtype's largest finite value).
        inf: +inf in the dtype of ``w_flat``.
        zero: 0 in the dtype of ``w_flat``.
        hist: int64 [S, R + 1] output histogram (bucket k = first radius >= d), zero-initialised.
        flags: bool [S] output, set when a distance is within its rounding bound of a radius.
        dist: float32 [S, N] output distances (level order) if ``write_dist`` else [0, 0].
        write_dist: Write distances (entries above radii[-1] become +inf).
        grp_order: int64 [G] groups in the order they are handed out (largest work first).
        next_group: int64 [1], zero: the work queue's head. Each of the T workers (T = rows of
            ``bufs``) takes the next group with an atomic fetch-and-add until none is left
            (dynamic scheduling: a worker slowed by other jobs on the machine takes fewer
            groups), and reuses its one buffer set for all of them (fresh pages are expensive).
    """
    n = lvl_off[-1]
    nblk = blk_src.shape[0]
    nlev = lvl_off.shape[0] - 1
    r = radii.shape[0]
    rmax = radii[r - 1] if r > 0 else -np.inf
    nthr = bufs.shape[0]
    ngrp = grp_order.shape[0]
    shift = 8 * bufs_bits.itemsize - 16
    k_zero = 0  # bucket of distance 0 (a source itself)
    while k_zero < r and radii[k_zero] < 0.0:
        k_zero += 1
    for t in prange(nthr):
        wt = np.empty((RED_TILE, COL_TILE), dtype=w_flat.dtype)
        xt_all = np.empty(bufs.shape[1] // max(n, 1) * RED_TILE, dtype=w_flat.dtype)
        sub = np.zeros((4, r + 1), dtype=np.int64)
        lo = np.empty(r + 1)
        hi = np.empty(r + 1)
        while True:
            gi = _fetch_add(next_group, 0, 1)
            if gi >= ngrp:
                break
            g = grp_order[gi]
            s0 = grp_start[g]
            nb = grp_start[g + 1] - s0
            l0 = src_level[s0]
            base = lvl_off[l0]
            m = n - base
            buf = bufs[t, : nb * m].reshape((nb, m))  # C-contiguous view
            bits = bufs_bits[t, : nb * m].reshape((nb, m))
            xt = xt_all[: nb * RED_TILE].reshape((nb, RED_TILE))
            buf[:, :] = inf
            for i in range(nb):
                buf[i, sources[s0 + i] - base] = zero
            for b in range(l0, nlev):
                c0 = lvl_off[b] - base
                c1 = lvl_off[b + 1] - base
                if b > l0:
                    for q in range(nblk):
                        if blk_dst[q] != b or blk_src[q] < l0:
                            continue
                        a = blk_src[q]
                        a0 = lvl_off[a] - base
                        na = lvl_off[a + 1] - lvl_off[a]
                        minplus_into(buf, a0, na, w_flat, blk_off[q], c0, c1 - c0, thr, inf, zero, wt, xt)
                # threshold, bucket and (optionally) write the new level
                gamma_prev = -1.0
                for i in range(nb):
                    s = s0 + i
                    sl = src_level[s]
                    if b <= sl:  # nothing in a source's own level or below is reachable but itself
                        if b == sl:
                            hist[s, k_zero] += 1
                            if write_dist and rmax >= 0.0:
                                dist[s, sources[s]] = 0.0
                        continue
                    gamma = (b - sl + 2) * eps
                    if gamma != gamma_prev:
                        _ambiguity_bounds(radii, gamma, lo, hi)
                        gamma_prev = gamma
                    row = buf[i, c0:c1]
                    if _bucket_row(radii_pad, rtab, row, bits[i, c0:c1], shift, thr, lo, hi, sub, hist[s]):
                        flags[s] = True
                    if write_dist:
                        for j in range(c1 - c0):
                            d = row[j]
                            dist[s, base + c0 + j] = d if np.float64(d) <= rmax else np.inf


@njit(cache=True, fastmath=False)
def histogram_to_counts(hist):
    """Cumulative sum of a histogram [S, R + 1] -> counts int64 [S, R] (last bucket dropped)."""
    s_n = hist.shape[0]
    r = hist.shape[1] - 1
    out = np.zeros((s_n, r), dtype=np.int64)
    for s in range(s_n):
        acc = 0
        for k in range(r):
            acc += hist[s, k]
            out[s, k] = acc
    return out


@njit(cache=True, fastmath=False, inline="always")
def _heap_push(hk, hv, size, key, val):
    i = size
    hk[i] = key
    hv[i] = val
    while i > 0:
        p = (i - 1) >> 1
        if hk[p] <= hk[i]:
            break
        hk[p], hk[i] = hk[i], hk[p]
        hv[p], hv[i] = hv[i], hv[p]
        i = p
    return size + 1


@njit(cache=True, fastmath=False, inline="always")
def _heap_pop(hk, hv, size):
    size -= 1
    hk[0] = hk[size]
    hv[0] = hv[size]
    i = 0
    while True:
        l = 2 * i + 1
        if l >= size:
            break
        m = l
        if l + 1 < size and hk[l + 1] < hk[l]:
            m = l + 1
        if hk[i] <= hk[m]:
            break
        hk[m], hk[i] = hk[i], hk[m]
        hv[m], hv[i] = hv[i], hv[m]
        i = m
    return size


@njit(cache=True, fastmath=False)
def _grow(hk, hv):
    """Double the capacity of the heap arrays."""
    nk = np.empty(2 * hk.shape[0], dtype=hk.dtype)
    nv = np.empty(2 * hv.shape[0], dtype=hv.dtype)
    nk[: hk.shape[0]] = hk
    nv[: hv.shape[0]] = hv
    return nk, nv


@njit(parallel=True, cache=True, fastmath=False)
def csr_dijkstra_counts(indptr, indices, data, sources, radii, cutoff, hist, dist, write_dist):
    """Bounded Dijkstra from every source over a CSR graph (float64).

    Args:
        indptr: int64 [N + 1].
        indices: int64 [nnz] targets.
        data: float64 [nnz] non-negative edge distances.
        sources: int64 [S].
        radii: float64 [R] ascending grid (may be empty when only distances are wanted).
        cutoff: Inclusive cutoff; nodes farther away are not settled.
        hist: int64 [S, R + 1] output histogram, zero-initialised (or [S, 1]).
        dist: float32 [S, N] output, pre-filled with +inf, if ``write_dist``.
        write_dist: Write distances.
    """
    n = indptr.shape[0] - 1
    nnz = indices.shape[0]
    ns = sources.shape[0]
    nthreads = min(ns, 64)
    chunk = (ns + nthreads - 1) // max(nthreads, 1)
    for t in prange(nthreads):
        d = np.full(n, np.inf)
        done = np.zeros(n, dtype=np.bool_)
        touched = np.empty(n, dtype=np.int64)
        hk = np.empty(min(nnz + 1, 4096), dtype=np.float64)
        hv = np.empty(min(nnz + 1, 4096), dtype=np.int64)
        for s in range(t * chunk, min((t + 1) * chunk, ns)):
            src = sources[s]
            ntouch = 0
            if cutoff < 0.0:
                continue
            d[src] = 0.0
            touched[0] = src
            ntouch = 1
            size = _heap_push(hk, hv, 0, 0.0, src)
            while size > 0:
                du = hk[0]
                u = hv[0]
                size = _heap_pop(hk, hv, size)
                if done[u] or du > d[u]:
                    continue
                done[u] = True
                hist[s, _bucket(radii, du)] += 1
                if write_dist:
                    dist[s, u] = du
                for e in range(indptr[u], indptr[u + 1]):
                    v = indices[e]
                    nd = du + data[e]
                    if nd <= cutoff and nd < d[v]:
                        if d[v] == np.inf:
                            touched[ntouch] = v
                            ntouch += 1
                        d[v] = nd
                        if size == hk.shape[0]:
                            hk, hv = _grow(hk, hv)
                        size = _heap_push(hk, hv, size, nd, v)
            for i in range(ntouch):
                d[touched[i]] = np.inf
                done[touched[i]] = False


@njit(cache=True, fastmath=False)
def _forward_levels(indptr, indices, level):
    """Longest-path levels of a graph whose edges all go to higher node ids (self-loops ignored).

    One pass in node order over canonical rows (sorted, no duplicates): when row u is reached,
    all its predecessors (smaller ids) are done, so ``level[u]`` is final; a row is forward if
    its first target other than u is above u (then so are the rest). A row whose targets form
    one id range (dense layered blocks) is skipped when the previous such row had the same range
    and level (max-updates are idempotent and levels only grow). Returns False (``level`` then
    meaningless) when node order is not a topological order.
    """
    n = indptr.shape[0] - 1
    level[:] = 0
    r0, r1, rl = -1, -1, -1
    for u in range(n):
        e0 = indptr[u]
        e1 = indptr[u + 1]
        if e0 < e1 and indices[e0] == u:
            e0 += 1  # a self-loop comes first in a sorted forward row
        if e0 == e1:
            continue
        if indices[e0] < u:
            return False
        lu = level[u] + 1
        v0 = indices[e0]
        v1 = indices[e1 - 1]
        if v1 - v0 == e1 - e0 - 1:  # a canonical row spanning e1 - e0 ids is that id range
            if v0 == r0 and v1 == r1 and lu == rl:
                continue  # same range and level as the last such row: the update is a no-op
            r0, r1, rl = v0, v1, lu
            for v in range(v0, v1 + 1):
                level[v] = lu if lu > level[v] else level[v]
            continue
        for e in range(e0, e1):
            v = indices[e]
            level[v] = lu if lu > level[v] else level[v]
    return True


@njit(cache=True, fastmath=False)
def _kahn_levels(indptr, indices, level):
    """Longest-path levels by Kahn's algorithm (self-loops ignored); False if there is a cycle."""
    n = indptr.shape[0] - 1
    indeg = np.zeros(n, dtype=np.int64)
    for u in range(n):
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            if v != u:
                indeg[v] += 1
    level[:] = 0
    queue = np.empty(n, dtype=np.int64)
    tail = 0
    for u in range(n):
        if indeg[u] == 0:
            queue[tail] = u
            tail += 1
    head = 0
    while head < tail:
        u = queue[head]
        head += 1
        lu = level[u] + 1
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            if v == u:
                continue
            if lu > level[v]:
                level[v] = lu
            indeg[v] -= 1
            if indeg[v] == 0:
                queue[tail] = v
                tail += 1
    return tail == n


@njit(cache=True, fastmath=False)
def dag_levels(indptr, indices):
    """Longest-path level of every node of a directed graph (self-loops ignored).

    Graphs numbered in a topological order (every edge to a higher id, as layered graphs
    usually are) take a single pass over the edges; any other graph takes Kahn's algorithm.

    Args:
        indptr: int64 [N + 1] CSR row pointer.
        indices: int64 [nnz] CSR column indices, sorted within each row, no duplicates.

    Returns:
        (level int64 [N], is_dag bool); levels are meaningless when ``is_dag`` is False.
    """
    level = np.zeros(indptr.shape[0] - 1, dtype=np.int64)
    if _forward_levels(indptr, indices, level):
        return level, True
    return level, _kahn_levels(indptr, indices, level)


@njit(cache=True, fastmath=False)
def _mark_row_by_runs(indices, level, lvl_off, e0, e1, row):
    """Mark the target levels of one sorted row of a graph numbered level by level.

    Node ids of level b are ``lvl_off[b] .. lvl_off[b + 1] - 1``, so the row's targets form one
    run per level, found by a binary search each (O(levels x log degree), not O(degree)).
    """
    e = e0
    while e < e1:
        b = level[indices[e]]
        row[b] = True
        e = _lower_bound(indices, e, e1, lvl_off[b + 1])


@njit(cache=True, fastmath=False, inline="always")
def _lower_bound(a, lo, hi, x):
    """First index i in [lo, hi) with a[i] >= x (hi if none), for a sorted segment of ``a``."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(parallel=True, cache=True, fastmath=False)
def block_pairs(indptr, indices, level, lvl_off, numbered_by_level):
    """Which (source level, target level) pairs have edges, and the edge count.

    Self-loops are skipped (in a DAG's longest-path levels, they are the only edges within a
    level). Rows are split into chunks scanned in parallel; each marks the pairs it sees (a
    store, not a counter update). When nodes are numbered level by level (``level``
    non-decreasing in the node id, as a layered graph numbered layer by layer), every sorted
    row is covered with binary searches instead of a pass over its edges.

    Args:
        indptr, indices: Canonical CSR structure (sorted rows, no duplicates).
        level: int64 [N] level of each node. lvl_off: int64 [L + 1] first id of each level (used
            only when ``numbered_by_level``).
        numbered_by_level: ``level`` is non-decreasing in the node id.

    Returns:
        (present bool [L, L], number of edges excluding self-loops).
    """
    n = indptr.shape[0] - 1
    nlev = lvl_off.shape[0] - 1
    nchunk = 16
    part = np.zeros((nchunk, nlev, nlev), dtype=np.bool_)
    loops = np.zeros(nchunk, dtype=np.int64)
    step = (n + nchunk - 1) // nchunk
    for c in prange(nchunk):
        nloop = 0
        for u in range(c * step, min(n, (c + 1) * step)):
            lu = level[u]
            row = part[c, lu]
            e0 = indptr[u]
            e1 = indptr[u + 1]
            if numbered_by_level:
                _mark_row_by_runs(indices, level, lvl_off, e0, e1, row)
                k = _lower_bound(indices, e0, e1, u)
                if k < e1 and indices[k] == u:
                    nloop += 1
                continue
            for e in range(e0, e1):
                v = indices[e]
                if v == u:
                    nloop += 1
                else:
                    row[level[v]] = True
        loops[c] = nloop
        for b in range(nlev):  # self-loops are the only same-level edges
            part[c, b, b] = False
    present = np.zeros((nlev, nlev), dtype=np.bool_)
    for c in range(nchunk):
        present |= part[c]
    return present, indices.shape[0] - loops.sum()


@njit(parallel=True, cache=True, fastmath=True)
def weight_range(values):
    """(smallest positive, largest) entry of a finite non-negative array (inf, 0 when empty).

    Parallel; ``fastmath`` lets LLVM vectorise the min/max reductions, which is exact here
    because the values hold no NaN or inf (checked when the CSR is built).
    """
    return _range_pass(values, values[:0], False)


@njit(parallel=True, cache=True, fastmath=True, inline="always")
def _range_pass(src, out, copy):
    """(smallest positive, largest) of ``src`` in 16 parallel chunks; ``out[:] = src`` if ``copy``."""
    n = src.shape[0]
    nchunk = 16
    los = np.full(nchunk, np.inf)
    his = np.zeros(nchunk)
    step = (n + nchunk - 1) // nchunk
    for c in prange(nchunk):
        lo = np.inf
        hi = 0.0
        for i in range(c * step, min(n, (c + 1) * step)):
            x = src[i]
            if copy:
                out[i] = x
            lo = min(lo, x if x > 0.0 else np.inf)
            hi = max(hi, x)
        los[c] = lo
        his[c] = hi
    return los.min(), his.max()


@njit(parallel=True, cache=True, fastmath=False)
def scan_values(data):
    """NaN, negative and infinite entries of an array, in one parallel pass.

    Returns:
        (has_nan, has_negative, has_inf) as bools.
    """
    n = data.shape[0]
    nchunk = 16
    found = np.zeros((nchunk, 3), dtype=np.bool_)
    step = (n + nchunk - 1) // nchunk
    for c in prange(nchunk):
        _scan_range(data, c * step, min(n, (c + 1) * step), found[c])
    return found[:, 0].any(), found[:, 1].any(), found[:, 2].any()


@njit(cache=True, fastmath=False, inline="always")
def _scan_range(data, i0, i1, out):
    """out[0], out[1], out[2] = any NaN, any negative, any +inf in ``data[i0:i1]``."""
    nan = False
    neg = False
    inf = False
    for i in range(i0, i1):
        x = data[i]
        nan |= x != x
        neg |= x < 0.0
        inf |= x == np.inf
    out[0] = nan
    out[1] = neg
    out[2] = inf


@njit(parallel=True, cache=True, fastmath=True)
def cast_range(src, out):
    """``out[:] = src`` with a dtype conversion, and the range of ``src``, in one parallel pass.

    ``fastmath`` only affects the min/max reductions (vectorised; exact because ``src`` holds
    no NaN or inf); the conversion rounds as always.

    Args:
        src: float64 [n] finite non-negative values.
        out: float [n] output.

    Returns:
        (smallest positive value (inf if none), largest value (0 if empty)).
    """
    return _range_pass(src, out, True)


@njit(parallel=True, cache=True, fastmath=False)
def gather_blocks(indptr, indices, data, level, pos, blk_index, blk_off, blk_ncol, out):
    """Scatter every edge into its dense level block (one pass over the edges).

    Args:
        indptr, indices, data: Canonical CSR (int64, int64, float64).
        level: int64 [N] level of each node. pos: int64 [N] position within its level.
        blk_index: int64 [nlev, nlev] block id of a level pair (-1 if none).
        blk_off: int64 [nblk] offset of each block in ``out``. blk_ncol: int64 [nblk] width.
        out: float64 [total] blocks (C order), pre-filled with +inf.
    """
    n = indptr.shape[0] - 1
    for u in prange(n):
        lu = level[u]
        pu = pos[u]
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            if v == u:
                continue
            q = blk_index[lu, level[v]]
            out[blk_off[q] + pu * blk_ncol[q] + pos[v]] = data[e]


@njit(parallel=True, cache=True, fastmath=False)
def hash_words(words, seed, values):
    """Position-sensitive 64-bit hash of a uint64 array (for cache keys, not cryptographic),
    optionally scanning the same memory as float64 values while it is in cache.

    Chunks of 2**16 words are hashed in parallel, each by four interleaved multiply-xor lanes
    (``h = (h ^ w) * M``: a bijection of ``h`` for every word, so changing any single word
    always changes the result), which keeps the multiplier busy instead of waiting on one
    dependency chain; lanes and chunks are then combined in order with a xorshift mix.

    Args:
        words: uint64 [n].
        seed: Mixed into the result (e.g. the byte length).
        values: float64 [n], the same memory as ``words`` (scanned as :func:`scan_values`
            does), or an empty array for no scan.

    Returns:
        (hash uint64, has_nan, has_negative, has_inf); the flags are False without ``values``.
    """
    m = np.uint64(0xBF58476D1CE4E5B9)
    chunk = 1 << 16
    n = words.shape[0]
    nchunk = (n + chunk - 1) // chunk
    part = np.zeros(nchunk, dtype=np.uint64)
    found = np.zeros((nchunk, 3), dtype=np.bool_)
    scan = n > 0 and values.shape[0] == n
    for c in prange(nchunk):
        h0 = np.uint64(c + 1) * np.uint64(0x9E3779B97F4A7C15)
        h1 = h0 ^ np.uint64(1)
        h2 = h0 ^ np.uint64(2)
        h3 = h0 ^ np.uint64(3)
        i0 = c * chunk
        i1 = min(i0 + chunk, n)
        i = i0
        while i + 4 <= i1:
            h0 = (h0 ^ words[i]) * m
            h1 = (h1 ^ words[i + 1]) * m
            h2 = (h2 ^ words[i + 2]) * m
            h3 = (h3 ^ words[i + 3]) * m
            i += 4
        while i < i1:
            h0 = (h0 ^ words[i]) * m
            i += 1
        h = h0
        for x in (h1, h2, h3):
            h ^= h >> np.uint64(31)
            h = (h ^ x) * m
        part[c] = h
        if scan:
            _scan_range(values, i0, i1, found[c])
    h = np.uint64(seed) ^ np.uint64(0x9E3779B97F4A7C15)
    for c in range(nchunk):
        h = (h ^ part[c]) * m
        h ^= h >> np.uint64(31)
    return h, found[:, 0].any(), found[:, 1].any(), found[:, 2].any()


@njit(parallel=True, cache=True, fastmath=False)
def gather_level_block(indptr, indices, data, nodes_a, level, pos, b, ncol, out):
    """Gather the dense block from the nodes of one level to level ``b`` (one pass over their rows).

    Args:
        indptr, indices, data: Canonical CSR (float64 data).
        nodes_a: int64 [n_a] original ids of the source level's nodes, in level order.
        level: int64 [N] level of each node. pos: int64 [N] position within its level.
        b: Target level. ncol: Its width.
        out: float [n_a * ncol] (C order), pre-filled with +inf.
    """
    for ia in prange(nodes_a.shape[0]):
        u = nodes_a[ia]
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            if v != u and level[v] == b:
                out[ia * ncol + pos[v]] = data[e]


@njit(parallel=True, cache=True, fastmath=False)
def minplus_rows(buf_flat, nrows, rowlen, a0, na, w_flat, c0, ncol, thr, inf, zero, chunk):
    """:func:`minplus_into` over the rows of a flat [nrows, rowlen] buffer, in parallel chunks."""
    nchunk = (nrows + chunk - 1) // chunk
    for c in prange(nchunk):
        r0 = c * chunk
        r1 = min(nrows, r0 + chunk)
        view = buf_flat[r0 * rowlen : r1 * rowlen].reshape((r1 - r0, rowlen))
        wt = np.empty((RED_TILE, COL_TILE), dtype=buf_flat.dtype)
        xt = np.empty((r1 - r0, RED_TILE), dtype=buf_flat.dtype)
        minplus_into(view, a0, na, w_flat, 0, c0, ncol, thr, inf, zero, wt, xt)
