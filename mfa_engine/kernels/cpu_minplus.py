"""Numba CPU min-plus kernel: batched bounded shortest paths over the levels of a DAG with fused
neighbour counting (the topological path; see docs/method.md, "Kernels").

Nodes are grouped in levels (a layered DAG, or any DAG after level detection, see
:mod:`mfa_engine.kernels.cpu_levels`); the distances of a group of sources to level ``b`` are
``min_a min-plus(D_a, W_{a,b})``. Workers each own one buffer set and run source groups of up to
``SRC_BLOCK`` rows (one start level; a few sources share mixed-level groups) handed out
longest-first from an atomic work queue. :func:`minplus_into` is cache-blocked over sources (the
group), the reduction (W tiles of ``TILE_BYTES``, L2) and target columns (``COL_TILE``), and
register-blocked 2 sources x 4 reductions per 8-lane vector (LLVM emits ``vaddps``/``vminps``).
After each level every new distance is bucketed into the radius grid
(:mod:`mfa_engine.kernels.cpu_buckets`: a small cell table decides almost every distance, the
few in a cell holding a radius or an ambiguity zone are checked against per-bucket ambiguity
bounds; fused counting); the cumulative sum is taken by the caller, so the S x N distance matrix is never
formed unless distances are asked for. Workers take their row buffers from the caller
(:func:`row_buffers`). :func:`minplus_rows` runs :func:`minplus_into` over a flat buffer in
parallel chunks (the distance-list path).

Precision: the kernel runs in the dtype of the weights it is given (float32 for speed, float64
for exactness). In float32 a distance to level b from a source at level a is within a relative
``gamma = (b - a + 2) * eps`` of the float64 value (a path has at most b - a edges, each adding
at most one rounding of ``eps = 2**-24``, plus margin); every distance that lands within
``gamma`` of a radius is resolved in place (``resolve``): its float64 distance is computed from
the float32 row and the float64 weights of the predecessors that can be on a shortest path
(:func:`mfa_engine.kernels.cpu_resolve._resolve_entry`), and its count moved to the right bucket; without ``resolve`` the entry
sets ``flags[s]`` so the caller recomputes that source in float64 (float64 min-plus adds along
each path in the same order as Dijkstra, so it matches SciPy bit for bit).

The float32 minima may be taken on the bit patterns (``intmin``: ``vpminud`` in the integer
pipes beside the float adds; exact since distances are non-negative and +inf orders last).
numba compiles for the host CPU at run time, so the widest vector ISA it has is used.

All ``@njit(cache=True, fastmath=False)``; indices and offsets are int64 (S * N may exceed
2**31).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from mfa_engine.kernels.cpu_buckets import _ambiguity_bounds, _bucket_row_cells
from mfa_engine.kernels.cpu_prefetch import prefetch_l2
from mfa_engine.kernels.cpu_resolve import _PRED_MARGIN, _resolve_row  # noqa: F401 (_PRED_MARGIN re-exported)
from mfa_engine.kernels.minplus_tile import MR as MT_MR
from mfa_engine.kernels.minplus_tile import NV as NV_VEC
from mfa_engine.kernels.minplus_tile import VEC_BYTES, tile_minplus

__all__ = [
    "SRC_BLOCK",
    "COL_TILE",
    "RED_TILE",
    "TILE_BYTES",
    "PANEL_BYTES",
    "dag_minplus_counts",
    "minplus_into",
    "minplus_rows",
    "panel_layout",
    "panels_into",
    "row_buffers",
]


#: Sources processed together by one thread: every weight micro-panel the register tile streams
#: from memory serves SRC_BLOCK / 4 row blocks (70M full network, float32 pass, AVX-512 host:
#: 32 -> 128 -> 256 sources ran 1.16x then 1.25x faster; 512 no faster).
SRC_BLOCK = 256
#: Target columns per tile of the min-plus product.
COL_TILE = 2048
#: Bytes of W kept per reduction tile (a quarter of a 512 KiB L2: the group's accumulator rows
#: stay in L2 beside it; 128 KiB ran the 70M full network 1.10x faster than 256 KiB, 64 KiB the same).
TILE_BYTES = 128 * 1024
#: Reduction (source-level node) tile of the min-plus product (at most).
RED_TILE = 256
#: Bytes of one weight micro-panel of the register tile (its reduction steps x ``tile_cols``):
#: it stays in L1 for all row blocks of a group. AVX-512 float32: 128 steps x 64 columns
#: (256 steps: 1.2x slower on a 48 KiB L1); AVX2 float32: 256 x 16.
PANEL_BYTES = 32 * 1024


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


@intrinsic
def _as_uint(typingctx, x):
    """Bit pattern of a float as an unsigned integer of the same width (a register bitcast).

    For non-negative floats (distances) and +inf the unsigned order of the bit patterns is the
    float order, so a min-plus step may take its minimum in the integer pipes (``vpminud``)."""
    if not isinstance(x, types.Float):
        return None
    ret = types.uint32 if x.bitwidth == 32 else types.uint64

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(ret))

    return ret(x), codegen


@intrinsic
def _as_float(typingctx, x, like):
    """Inverse of :func:`_as_uint`: the float (of ``like``'s type) with bit pattern ``x``."""
    if not (isinstance(x, types.Integer) and isinstance(like, types.Float)):
        return None
    if x.bitwidth != like.bitwidth:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(like))

    return like(x, like), codegen


def row_buffers(nthreads: int, size: int, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """Per-worker distance-row buffers for :func:`dag_minplus_counts`, and a view of them as
    unsigned integers of the same width (the radius lookup reads a distance's top bits).

    Returns:
        (float [nthreads, size], uint [nthreads, size] view of the same memory).
    """
    bufs = np.empty((nthreads, max(size, 1)), dtype)
    return bufs, bufs.view(np.uint32 if np.dtype(dtype) == np.float32 else np.uint64)


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


@njit(fastmath=False, cache=True, inline="always")
def _umin(a, b):
    return a if a < b else b


@njit(fastmath=False, cache=True, inline="always")
def _pair_update_int(o0, o1, xt, s, wt, kq_n, jn, inf):
    """:func:`_pair_update` with the minima taken on the bit patterns (integer pipes)."""
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
        if (x0 == inf and x1 == inf and x2 == inf and x3 == inf) and (y0 == inf and y1 == inf and y2 == inf and y3 == inf):
            continue
        for j in range(jn):
            w0 = wt[kk, j]
            w1 = wt[kk + 1, j]
            w2 = wt[kk + 2, j]
            w3 = wt[kk + 3, j]
            c = o0[j]
            t = _umin(_umin(_as_uint(x0 + w0), _as_uint(x1 + w1)), _umin(_as_uint(x2 + w2), _umin(_as_uint(x3 + w3), _as_uint(c))))
            o0[j] = _as_float(t, c)
            c = o1[j]
            u = _umin(_umin(_as_uint(y0 + w0), _as_uint(y1 + w1)), _umin(_as_uint(y2 + w2), _umin(_as_uint(y3 + w3), _as_uint(c))))
            o1[j] = _as_float(u, c)


@njit(fastmath=False, cache=True, inline="always")
def _single_update_int(o0, xt, s, wt, kq_n, jn, inf):
    """:func:`_single_update` with the minima taken on the bit patterns (integer pipes)."""
    for kq in range(kq_n):
        kk = 4 * kq
        x0 = xt[s, kk]
        x1 = xt[s, kk + 1]
        x2 = xt[s, kk + 2]
        x3 = xt[s, kk + 3]
        if x0 == inf and x1 == inf and x2 == inf and x3 == inf:
            continue
        for j in range(jn):
            c = o0[j]
            t = _umin(
                _umin(_as_uint(x0 + wt[kk, j]), _as_uint(x1 + wt[kk + 1, j])),
                _umin(_as_uint(x2 + wt[kk + 2, j]), _umin(_as_uint(x3 + wt[kk + 3, j]), _as_uint(c))),
            )
            o0[j] = _as_float(t, c)


@njit(fastmath=False, cache=True)
def _tile_update(buf, c0j, jn, xt, tile, kq_n, inf, intmin=False):
    """Apply one reduction tile to every source row: 2 x 4 register blocks, then a single row.

    ``intmin``: take the minima on the unsigned bit patterns (exact for non-negative floats and
    +inf; float32 only: there is no packed unsigned 64-bit min below AVX-512)."""
    nb = buf.shape[0]
    s = 0
    if intmin and buf.itemsize == 4:
        while s + 2 <= nb:
            o0 = buf[s, c0j : c0j + jn]
            o1 = buf[s + 1, c0j : c0j + jn]
            _pair_update_int(o0, o1, xt, s, tile, kq_n, jn, inf)
            s += 2
        if s < nb:
            o0 = buf[s, c0j : c0j + jn]
            _single_update_int(o0, xt, s, tile, kq_n, jn, inf)
        return
    while s + 2 <= nb:
        o0 = buf[s, c0j : c0j + jn]
        o1 = buf[s + 1, c0j : c0j + jn]
        _pair_update(o0, o1, xt, s, tile, kq_n, jn, inf)
        s += 2
    if s < nb:
        o0 = buf[s, c0j : c0j + jn]
        _single_update(o0, xt, s, tile, kq_n, jn, inf)


@njit(fastmath=False, cache=True)
def _minplus_tiles(buf, a0, na, w_flat, woff, c0, ncol, thr, inf, zero, wt, xt, intmin, isa, panel):
    """:func:`minplus_into` on the register-blocked micro-kernel (:mod:`.minplus_tile`).

    The weights are read as panels of ``cols = tile_cols(isa)`` target columns, each a
    contiguous ``[na, cols]`` array (:func:`panel_layout`): a tile's weight rows are then
    consecutive, so its micro-panel (``kt x cols``, ``PANEL_BYTES``) stays in L1 for all row blocks
    (the next one is prefetched into L2 meanwhile);
    row-major rows of a power-of-two width would all map to one L1 set. With ``panel`` the
    block is already in that layout (remaining ``ncol % cols`` columns row-major after the
    panels, run on the loop-vectorised code); else each reduction tile is packed into ``wt``
    (the last panel shifted back to overlap the previous one: min-plus updates are
    idempotent). The caller runs the remaining columns of a panel layout.

    For each reduction tile of ``kt`` source-level nodes, the thresholded source distances are
    packed into ``xt`` (row by row: unit-stride loops) and every block of ``MR`` source rows lists the steps
    where one of its rows is finite; then for each panel every row block runs one register
    tile over its list (a partial last row block is shifted back to overlap the previous
    one). ``ncol`` must be at least ``cols``."""
    nb = buf.shape[0]
    it = buf.itemsize
    ldc = buf.strides[0] // it
    cols = NV_VEC[isa] * VEC_BYTES[isa] // it
    mr = min(MT_MR[isa], nb)
    nsb = (nb + mr - 1) // mr
    npan = ncol // cols if panel else (ncol + cols - 1) // cols
    wtf = wt.reshape(-1)
    kt = min(RED_TILE, max(4, PANEL_BYTES // (cols * it))) if panel else max(1, min(RED_TILE, wtf.shape[0] // (npan * cols)))
    kix = np.empty(nsb * RED_TILE, np.int64)
    nks = np.empty(nsb, np.int64)
    ldx = xt.strides[0] // it
    step_lo = wt.reshape(-1)[:RED_TILE] if panel else np.empty(RED_TILE, buf.dtype)
    for k0 in range(0, na, kt):
        kn = min(kt, na - k0)
        a = a0 + k0
        any_finite = False
        for sb in range(nsb):  # pack the thresholded rows, list the steps with a finite row
            s = min(sb * mr, nb - mr)
            # row by row: unit-stride loops LLVM vectorises (unsigned indices: no wrap-around)
            for kk in range(kn):
                x = buf[np.uint64(s), np.uint64(a + kk)]
                x = inf if x > thr else x
                xt[np.uint64(s), np.uint64(kk)] = x
                step_lo[np.uint64(kk)] = x
            for r in range(1, mr):
                for kk in range(kn):
                    x = buf[np.uint64(s + r), np.uint64(a + kk)]
                    x = inf if x > thr else x
                    xt[np.uint64(s + r), np.uint64(kk)] = x
                    y = step_lo[np.uint64(kk)]
                    step_lo[np.uint64(kk)] = x if x < y else y
            cnt = 0
            for kk in range(kn):
                kix[sb * RED_TILE + cnt] = kk
                cnt += step_lo[kk] != inf
            nks[sb] = cnt
            if cnt:
                any_finite = True
        if not any_finite:
            continue
        if not panel:
            for p in range(npan):
                j = min(p * cols, ncol - cols)
                for kk in range(kn):
                    src = woff + (k0 + kk) * ncol + j
                    dst = (p * kn + kk) * cols
                    wtf[dst : dst + cols] = w_flat[src : src + cols]
        for p in range(npan):
            j = p * cols if panel else min(p * cols, ncol - cols)
            if panel:
                wsrc = w_flat
                wo = woff + (p * na + k0) * cols
            else:
                wsrc = wtf
                wo = p * kn * cols
            # the next micro-panel (next panel, or the next reduction tile's first), fetched into
            # L2 a few lines per row block while this one runs from L1
            if p + 1 < npan:
                wn, nn = woff + ((p + 1) * na + k0) * cols, kn * cols
            else:
                wn, nn = woff + (k0 + kn) * cols, min(kt, na - k0 - kn) * cols
            pf_step = 64 // it
            pf_per = (nn // pf_step + nsb - 1) // nsb if panel else 0
            for sb in range(nsb):
                for q in range(pf_per):
                    prefetch_l2(w_flat, wn + (sb * pf_per + q) * pf_step)
                if nks[sb] == 0:
                    continue
                s = min(sb * mr, nb - mr)
                tile_minplus(
                    isa, intmin, mr, buf, s * ldc + c0 + j, ldc, xt, s * ldx, ldx, wsrc, wo, cols,
                    kix, nks[sb], sb * RED_TILE,
                )


def panel_layout(flat: np.ndarray, off: np.ndarray, nr: np.ndarray, nc: np.ndarray, cols: int) -> np.ndarray:
    """Row-major blocks re-laid as the panels the micro-kernel reads (same offsets and size).

    Block q (``[nr[q], nc[q]]`` row-major at ``off[q]``) becomes ``nc[q] // cols`` contiguous
    ``[nr[q], cols]`` panels of consecutive columns, then the remaining ``nc[q] % cols``
    columns as one row-major ``[nr[q], nc[q] % cols]`` array.

    Args:
        flat: float [*] the blocks, row-major.
        off, nr, nc: int64 [nblk] offset, rows and columns of each block.
        cols: Columns per panel (:func:`~mfa_engine.kernels.minplus_tile.tile_cols`).

    Returns:
        float [*] like ``flat``.
    """
    out = np.empty_like(flat)
    for o, h, w in zip(off.tolist(), nr.tolist(), nc.tolist()):
        panels_into(flat[o : o + h * w].reshape(h, w), cols, out[o : o + h * w])
    return out


def panels_into(block: np.ndarray, cols: int, out: np.ndarray) -> np.ndarray:
    """One block (any 2-D view, e.g. a rectangle of a larger array) written into ``out``
    (float [h * w]) in the layout of :func:`panel_layout`; returns ``out``."""
    h, w = block.shape
    npan = w // cols
    cut = npan * h * cols
    if npan:
        out[:cut].reshape(npan, h, cols)[:] = block[:, : npan * cols].reshape(h, npan, cols).transpose(1, 0, 2)
    out[cut:].reshape(h, w - npan * cols)[:] = block[:, npan * cols :]
    return out


@njit(fastmath=False, cache=True)
def minplus_into(buf, a0, na, w_flat, woff, c0, ncol, thr, inf, zero, wt, xt, intmin=False, isa=0, panel=False):
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
        intmin: Take the minima on the unsigned bit patterns of the float32 distances
            (``vpminud``: integer pipes, beside the float adds); ignored for float64.
        isa: :data:`~mfa_engine.kernels.minplus_tile.ISA_AVX2` or ``ISA_AVX512``: run on the
            register-blocked micro-kernel of that vector width (:func:`_minplus_tiles`; the
            caller passes :func:`~mfa_engine.kernels.minplus_tile.isa_level`); 0 (or a
            target narrower than one tile): the loop-vectorised code below.
        panel: W is in :func:`panel_layout` for ``isa`` (only with ``isa`` != 0).
    """
    nb = buf.shape[0]
    if na == 0 or ncol == 0:
        return
    cols = NV_VEC[isa] * VEC_BYTES[isa] // buf.itemsize
    if isa != 0 and ncol >= cols:  # (narrower blocks are row-major in the panel layout too)
        _minplus_tiles(buf, a0, na, w_flat, woff, c0, ncol, thr, inf, zero, wt, xt, intmin, isa, panel)
        rem = ncol % cols if panel else 0
        if rem == 0:
            return
        woff += (ncol - rem) * na  # the remaining columns, row-major after the panels
        c0 += ncol - rem
        ncol = rem
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
                _tile_update(buf, c0 + j0, jn, xt, tile, kq_n, inf, intmin)
            else:
                for kk in range(4 * kq_n):
                    if kk < kn:
                        base = woff + (k0 + kk) * ncol + j0
                        wt[kk, :jn] = w_flat[base : base + jn]
                    else:
                        wt[kk, :jn] = zero
                _tile_update(buf, c0 + j0, jn, xt, wt, kq_n, inf, intmin)


@njit(fastmath=False, cache=True)
def _count_level(
    buf, bits, s0, nb, b, c0, c1, base, sources, src_level, radii, radii_pad, rtab,
    shift, eps, thr, k_zero, lo, hi, sub, hist, flags, dist, write_dist,
    l0, lvl_off, blk_src, blk_dst, blk_off, blk_r0, blk_nr, blk_c0, blk_nc, w_flat, w64, resolve, memo, marks,
    nmarks, persist, amb_idx, w_t, ctab, csh, cbase,
):
    """Bucket the new distances of level ``b`` (columns ``c0:c1`` of the group's rows) into
    ``hist``, resolve (or, without ``resolve``, flag) ambiguous entries and (optionally) write
    the distances; see :func:`dag_minplus_counts` for the arguments. Returns the number of
    entries resolved."""
    r = radii.shape[0]
    rmax = radii[r - 1] if r > 0 else -np.inf
    gamma_prev = -1.0
    nres = 0
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
        n_amb = _bucket_row_cells(
            radii_pad, rtab, row, bits[i, c0:c1], shift, thr, lo, hi, sub, hist[s], amb_idx, ctab, csh, cbase
        )
        amb = n_amb > 0
        if write_dist:
            for j in range(c1 - c0):
                d = row[j]
                dist[s, base + c0 + j] = d if np.float64(d) <= rmax else np.inf
        if amb:
            if resolve:
                mi = i if persist else 0
                nres += _resolve_row(
                    buf, i, s, b, c0, c1, base, l0, sources, src_level, lvl_off, blk_src, blk_dst, blk_off,
                    blk_r0, blk_nr, blk_c0, blk_nc, w_t, w64, radii, thr, eps, lo, hi, hist, dist, write_dist,
                    memo[mi], marks[mi], nmarks, mi, persist, amb_idx, n_amb,
                )
            else:
                flags[s] = True
    return nres


@njit(parallel=True, fastmath=False, cache=True)
def dag_minplus_counts(
    w_flat, blk_src, blk_dst, blk_off, blk_r0, blk_nr, blk_c0, blk_nc, lvl_off, sources, src_level, grp_start,
    radii, radii_pad, rtab, bufs, bufs_bits, eps, thr, inf,
    zero, hist, flags, dist, write_dist, grp_order, next_group,
    w64, resolve, intmin, resolved, persist, w_t, ctab, csh, cbase, isa=0, panel=False,
):
    """Fused multi-source min-plus over the levels of a DAG.

    Args:
        w_flat: float32/float64 [sum n_a * n_b], the dense blocks W_{a,b} concatenated (C order).
        blk_src: int64 [nblk] source level a of each block, blocks sorted by (b, a).
        blk_dst: int64 [nblk] target level b (> a).
        blk_off: int64 [nblk] offset of each block in ``w_flat``.
        blk_r0, blk_nr, blk_c0, blk_nc: int64 [nblk] each block is the rectangle of rows
            ``r0 .. r0 + nr - 1`` of level a and columns ``c0 .. c0 + nc - 1`` of level b,
            row-major [nr, nc] in ``w_flat`` (whole level blocks, or the non-empty tiles of a
            sparse one: :meth:`mfa_engine.paths.dag.DagLevels.tiles`).
        lvl_off: int64 [L + 1] first node (in level order) of each level.
        sources: int64 [S] sources in level order, sorted by level.
        src_level: int64 [S] level of each source.
        grp_start: int64 [G + 1] boundaries of source groups (<= SRC_BLOCK each; a group's rows
            start at the level of its first source, so every group is sorted by level and
            mixing levels costs only the unused rows).
        radii: float64 [R] ascending radius grid (for distances: ``[cutoff]``).
        radii_pad: float64 [R + 1], ``radii`` and +inf (:func:`padded_radii`).
        rtab: int64 [32768] from :func:`radius_table` for the dtype of ``w_flat``.
        ctab, csh, cbase: :func:`~mfa_engine.kernels.cpu_buckets.cell_table` for the dtype,
            the largest rounding bound of any row (``(L + 1) eps``) and ``thr``.
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
        w64: float64 [sum n_a * n_b] the same blocks in float64 (read only for the few
            predecessors of an ambiguous entry; any array when ``resolve`` is False).
        resolve: Resolve ambiguous entries exactly in place (:func:`_resolve_entry`: counts
            identical to float64 Dijkstra without re-running any source); else flag their
            sources in ``flags`` for the caller to recompute.
        intmin: Take the min-plus minima on the float32 bit patterns (integer pipes).
        resolved: int64 [T] output, entries resolved by each worker.
        w_t: float [sum n_a * n_b] each block of ``w_flat`` transposed (column-major: the
            predecessors of one target are contiguous), read by the resolution.
        persist: Keep each row's exact distances for the group's later levels (a float64
            and an int64 [max group size, N] array per worker); else per row and level.
        isa: Micro-kernel ISA level of :func:`minplus_into` (0: none).
        panel: ``w_flat`` is in :func:`panel_layout` for ``isa``.
    """
    n = lvl_off[-1]
    nblk = blk_src.shape[0]
    nlev = lvl_off.shape[0] - 1
    r = radii.shape[0]
    nthr = bufs.shape[0]
    ngrp = grp_order.shape[0]
    shift = 8 * bufs_bits.itemsize - 16
    k_zero = 0  # bucket of distance 0 (a source itself)
    while k_zero < r and radii[k_zero] < 0.0:
        k_zero += 1
    for t in prange(nthr):
        wt = np.empty((RED_TILE, COL_TILE), dtype=w_flat.dtype)
        xt_all = np.empty(bufs.shape[1] // max(n, 1) * RED_TILE, dtype=w_flat.dtype)
        sub = np.zeros((4, r + 2), dtype=np.int64)
        lo = np.empty(r + 1)
        hi = np.empty(r + 1)
        mrows = max(1, bufs.shape[1] // max(n, 1)) if persist else 1
        memo = np.full((mrows, n) if resolve else (0, 0), -1.0)
        marks = np.empty((mrows, n) if resolve else (0, 0), np.int64)
        nmarks = np.zeros(mrows, np.int64)
        amb_idx = np.empty(n, np.int64)
        nres = 0
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
                        a0 = lvl_off[blk_src[q]] - base + blk_r0[q]
                        minplus_into(buf, a0, blk_nr[q], w_flat, blk_off[q], c0 + blk_c0[q], blk_nc[q], thr, inf, zero, wt, xt, intmin, isa, panel)
                # threshold, bucket and (optionally) write the new level
                nres += _count_level(
                    buf, bits, s0, nb, b, c0, c1, base, sources, src_level, radii, radii_pad, rtab,
                    shift, eps, thr, k_zero, lo, hi, sub, hist, flags, dist, write_dist,
                    l0, lvl_off, blk_src, blk_dst, blk_off, blk_r0, blk_nr, blk_c0, blk_nc, w_flat, w64, resolve,
                    memo, marks, nmarks, persist, amb_idx, w_t, ctab, csh, cbase,
                )
            if resolve and persist:  # the group's rows are done: forget their exact distances
                for i in range(nb):
                    for m in range(nmarks[i]):
                        memo[i, marks[i, m]] = -1.0
                    nmarks[i] = 0
        resolved[t] = nres


@njit(parallel=True, cache=True, fastmath=False)
def minplus_rows(buf_flat, nrows, rowlen, a0, na, w_flat, c0, ncol, thr, inf, zero, chunk, isa=0, intmin=False, panel=False):
    """:func:`minplus_into` over the rows of a flat [nrows, rowlen] buffer, in parallel chunks
    (``isa``, ``intmin``, ``panel``: as for :func:`minplus_into`)."""
    nchunk = (nrows + chunk - 1) // chunk
    for c in prange(nchunk):
        r0 = c * chunk
        r1 = min(nrows, r0 + chunk)
        view = buf_flat[r0 * rowlen : r1 * rowlen].reshape((r1 - r0, rowlen))
        wt = np.empty((RED_TILE, COL_TILE), dtype=buf_flat.dtype)
        xt = np.empty((r1 - r0, RED_TILE), dtype=buf_flat.dtype)
        minplus_into(view, a0, na, w_flat, 0, c0, ncol, thr, inf, zero, wt, xt, intmin, isa, panel)
