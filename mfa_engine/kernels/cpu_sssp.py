"""General-graph CPU kernel: multi-source bounded Dijkstra over a CSR graph (numba, parallel).

Each search settles only its ball ``{v : d(s, v) <= cutoff}``: per-thread distance arrays are
reset sparsely (only the touched nodes), nothing is pushed beyond the cutoff (the search ends
when the ball is exhausted; :func:`ball_histogram` takes rows sorted by weight and stops
reading a row at its first edge beyond the cutoff), and sources are spread over the threads round-robin. The queue is
a bucket queue (Dial) when every edge is positive and the cutoff spans few buckets of the
shortest edge (:func:`dial_width`), else a 4-ary heap with lazy deletion. Distances are
float64 sums along the path, added in path order, so they equal SciPy's ``dijkstra`` (and
NetworkX's) bit for bit. Renumbering for cache locality: ``kernels/csr_order.py``.

Launchers:

* :func:`ball_histogram` -- one search per source; histogram of the settled distances over a
  radius grid and optionally the float32 distance rows (the engine's general path).
* :func:`ordered_balls` -- groups of seeds (one multi-source search per group); the settled
  nodes and their distances in settling order: a heap keyed by (distance, push counter) over
  the adjacency in the caller's order, which is exactly NetworkX's ``_dijkstra_multisource``
  order.

Indices and offsets are int64.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from mfa_engine.kernels.cpu_heap import _pop, _pop_key, _push, _push_key
from mfa_engine.kernels.cpu_prefetch import prefetch

__all__ = ["ball_histogram", "ordered_balls", "dial_width", "dial_width_from", "DIAL_MAX_BUCKETS"]

#: Largest bucket array (cutoff / width) for which the bucket queue is used instead of the heap.
DIAL_MAX_BUCKETS = 1 << 14
#: Bucket width = smallest edge weight / (1 + this): a margin far above the rounding error of the
#: bucket index (below 1e-9 buckets for up to 2**20 buckets).
_DIAL_MARGIN = 1e-6


def dial_width(data: np.ndarray, cutoff: float) -> float:
    """1 / bucket width for the bucket queue, or 0.0 when the heap must be used (infinite or
    negative cutoff, a zero-weight edge, or more than :data:`DIAL_MAX_BUCKETS` buckets).

    Args:
        data: float64 [nnz] edge weights (>= 0). cutoff: Inclusive cutoff.
    """
    return dial_width_from(float(data.min()) if data.size else np.inf, cutoff)


def dial_width_from(low: float, cutoff: float) -> float:
    """:func:`dial_width` from the smallest edge weight ``low`` (inf for no edges)."""
    if not (np.isfinite(cutoff) and cutoff >= 0) or not np.isfinite(low):
        return 0.0
    if low <= 0.0:
        return 0.0
    inv = (1.0 + _DIAL_MARGIN) / low
    return inv if cutoff * inv <= DIAL_MAX_BUCKETS else 0.0


@njit(cache=True)
def _ball(indptr, indices, data, s, cutoff, d, touched, hk, hv, out_v, out_d):
    """Bounded single-source Dijkstra (any tie order): the settled nodes and distances in
    ``out_v/out_d[:m]``, in non-decreasing distance order.

    A settled node's entry in ``d`` is set to -1 (below any tentative distance), so the
    relaxation test ``nd < d[v]`` skips it and the pop test reads the same array.

    Returns:
        m, or -2 if the heap (capacity ``hk.shape[0]``) overflowed; state restored either way.
    """
    cap = hk.shape[0]
    d[s] = 0.0
    touched[0] = s
    ntouch = 1
    hk[0] = 0.0
    hv[0] = s
    size = 1
    m = 0
    while size > 0:
        du = hk[0]
        u = hv[0]
        size = _pop_key(hk, hv, size)
        if d[u] < 0.0:
            continue
        d[u] = -1.0
        out_v[m] = u
        out_d[m] = du
        m += 1
        for e in range(indptr[u], indptr[u + 1]):
            nd = du + data[e]
            if nd > cutoff:
                break  # rows are sorted by weight: the rest of the row is beyond the cutoff
            v = indices[e]
            dv = d[v]
            if nd < dv:
                if dv == np.inf:
                    touched[ntouch] = v
                    ntouch += 1
                d[v] = nd
                if size == cap:
                    m = -2
                    size = 0
                    break
                size = _push_key(hk, hv, size, nd, v)
    for i in range(ntouch):
        d[touched[i]] = np.inf
    return m


@njit(cache=True)
def _dial(indptr, indices, data, s, cutoff, inv_delta, d, bhead, enext, evert, out_v, out_d):
    """Bounded single-source Dijkstra with a bucket queue (Dial) of width delta < min weight.

    A node in bucket k = floor(d / delta) cannot improve another node of bucket k (every edge is
    longer than delta, with a relative margin far above the rounding error of the bucket index),
    so each bucket is settled in any order once the lower ones are done: exact distances with
    O(1) pushes and pops. Entries are a singly linked list per bucket in a pool (``enext``,
    ``evert``); stale entries are skipped. Settling order is by bucket, not by distance.

    The relaxation has no data-dependent branch (the tentative distance and the bucket head are
    written back whether or not they improved, and the entry is kept by advancing the pool top
    by the comparison), the empty-bucket scan stops at a sentinel bucket, and a queued node's
    CSR offset is prefetched. Every node that gets a finite distance is settled (nothing beyond
    the cutoff is queued), so ``out_v`` is the list of nodes to reset.

    Args:
        inv_delta: 1 / delta. bhead: int64 [K] all -1 (K >= cutoff * inv_delta + 3); restored.
        enext, evert: int64 [cap] entry pool.

    Returns:
        m (settled nodes in ``out_v/out_d[:m]``), or -2 if the entry pool overflowed.
    """
    cap = enext.shape[0]
    kmax = int(cutoff * inv_delta) + 1  # every queued bucket is < kmax
    d[s] = 0.0
    bhead[0] = 0
    enext[0] = -1
    evert[0] = s
    bhead[kmax] = 0  # sentinel: ends the empty-bucket scan
    top = 1
    m = 0
    k = 0
    while True:
        ent = bhead[k]
        while ent < 0:
            k += 1
            ent = bhead[k]
        if k >= kmax:
            break
        bhead[k] = enext[ent]
        u = evert[ent]
        du = d[u]
        if du < 0.0 or int(du * inv_delta) != k:
            continue  # settled already, or a stale entry (u moved to a lower bucket)
        d[u] = -1.0 - du
        out_v[m] = u
        out_d[m] = du
        m += 1
        p0 = indptr[u]
        p1 = indptr[u + 1]
        if top + (p1 - p0) > cap:
            m = -2
            break
        for e in range(p0, p1):
            nd = du + data[e]
            if nd > cutoff:
                break  # rows are sorted by weight: the rest of the row is beyond the cutoff
            v = np.uint64(indices[e])
            dv = d[v]
            better = nd < dv
            d[v] = nd if better else dv
            b = np.uint64(nd * inv_delta)
            old = bhead[b]
            enext[top] = old
            evert[top] = v
            bhead[b] = top if better else old
            top += better
            prefetch(indptr, v)
    bhead[kmax] = -1
    if m == -2:
        for i in range(bhead.shape[0]):
            bhead[i] = -1
        for i in range(top):  # every node with a finite distance was queued
            d[evert[i]] = np.inf
    else:
        for i in range(m):
            d[out_v[i]] = np.inf
    return m


@njit(cache=True)
def _search(indptr, indices, data, eint, seeds, cutoff, target, d, done, touched, fi, hk, hc, hv, out_v, out_d, out_i, o0,
            o_end):
    """One bounded multi-seed Dijkstra; the settled nodes are written to ``out_v/out_d[o0:]``.

    The heap arrays are never reallocated here (a reallocation in the hot loop costs reference
    counting on every iteration): a full heap ends the search with -2 and the caller retries
    with a larger one.

    Args:
        seeds: int64 [k] seed nodes (distance 0; always settled, whatever the cutoff).
        cutoff: Inclusive cutoff (nodes farther away are never pushed).
        target: Stop once this node is settled (-1: never).
        eint: uint8 [nnz] 1 for an integer-valued edge weight, or empty (no type tracking).
        d, done, touched: Per-thread state (all inf / False on entry; restored on exit).
        fi: uint8 [N] per-thread scratch: the tentative distance is a sum of integer weights.
        hk, hc, hv: Heap keys (float64), push counters and nodes (int64), same capacity.
        out_v, out_d: Output buffers; settled node i goes to index ``o0 + i``.
        out_i: uint8 output: the settled distance is a sum of integer weights (if tracking).
        o_end: End of this search's output region.

    Returns:
        Number of settled nodes, -1 if the output region overflowed, -2 if the heap did.
    """
    cap = hk.shape[0]
    track = eint.shape[0] > 0
    size = 0
    cnt = 0
    ntouch = 0
    status = 0
    for i in range(seeds.shape[0]):
        s = seeds[i]
        if track:
            fi[s] = 1
        if d[s] != 0.0:
            d[s] = 0.0
            touched[ntouch] = s
            ntouch += 1
        if size == cap:
            status = -2
            break
        size = _push(hk, hc, hv, size, 0.0, cnt, s)
        cnt += 1
    o = o0
    while size > 0 and status == 0:
        du = hk[0]
        u = hv[0]
        size = _pop(hk, hc, hv, size)
        if done[u]:
            continue
        done[u] = True
        if o == o_end:
            status = -1
            break
        out_v[o] = u
        out_d[o] = du
        if track:
            out_i[o] = fi[u]
        o += 1
        if u == target:
            break
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            nd = du + data[e]
            if nd <= cutoff and nd < d[v]:
                if d[v] == np.inf:
                    touched[ntouch] = v
                    ntouch += 1
                d[v] = nd
                if track:
                    fi[v] = fi[u] & eint[e]
                if size == cap:
                    status = -2
                    break
                size = _push(hk, hc, hv, size, nd, cnt, v)
                cnt += 1
    for i in range(ntouch):
        d[touched[i]] = np.inf
        done[touched[i]] = False
    return o - o0 if status == 0 else status


@njit(cache=True)
def _thread_state(n):
    """Distances (+inf), settled flags and the touched list of one worker."""
    return np.full(n, np.inf), np.zeros(n, np.bool_), np.empty(n, np.int64)


@njit(cache=True)
def _heap(cap):
    """Empty heap arrays of capacity ``cap``."""
    return np.empty(cap, np.float64), np.empty(cap, np.int64), np.empty(cap, np.int64)


@njit(cache=True)
def _queues(cutoff, inv_delta):
    """Empty priority queues of one worker: the heap ``(hk, hv)`` and, when ``inv_delta > 0``,
    the bucket queue ``(bhead, enext, evert)`` of :func:`_dial` (else empty arrays)."""
    hk, _, hv = _heap(4096)
    dial = inv_delta > 0.0
    bhead = np.full(int(cutoff * inv_delta) + 3 if dial else 0, -1, np.int64)
    enext = np.empty(4096 if dial else 0, np.int64)
    evert = np.empty(4096 if dial else 0, np.int64)
    return hk, hv, bhead, enext, evert


@njit(cache=True)
def _settle(indptr, indices, data, s, cutoff, inv_delta, d, touched, hk, hv, bhead, enext, evert, out_v, out_d):
    """Ball of source ``s`` with the bucket queue (``inv_delta > 0``) or the heap, doubling the
    entry pool or the heap until it fits.

    Returns:
        ``(m, hk, hv, enext, evert)``: settled nodes in ``out_v/out_d[:m]`` and the (possibly
        regrown) queue arrays to keep using.
    """
    if inv_delta > 0.0:
        m = _dial(indptr, indices, data, s, cutoff, inv_delta, d, bhead, enext, evert, out_v, out_d)
        while m == -2:
            enext = np.empty(2 * enext.shape[0], np.int64)
            evert = np.empty(2 * evert.shape[0], np.int64)
            m = _dial(indptr, indices, data, s, cutoff, inv_delta, d, bhead, enext, evert, out_v, out_d)
    else:
        m = _ball(indptr, indices, data, s, cutoff, d, touched, hk, hv, out_v, out_d)
        while m == -2:
            hk, _, hv = _heap(2 * hk.shape[0])
            m = _ball(indptr, indices, data, s, cutoff, d, touched, hk, hv, out_v, out_d)
    return m, hk, hv, enext, evert


@njit(parallel=True, cache=True)
def ball_histogram(indptr, indices, data, sources, radii, cutoff, nthreads, hist, dist, write_dist, inv_delta=0.0):
    """Bounded Dijkstra from every source: radius histogram (and distances) of its ball.

    Args:
        indptr: int64 [N + 1]. indices: int32 or int64 [nnz] targets. data: float64 [nnz] >= 0,
            each row sorted ascending (a search stops reading a row at its first edge beyond
            the cutoff; ``kernels/csr_order.py`` ``permute_csr`` sorts them).
        sources: int64 [S] (in ascending id order, consecutive searches share cache lines).
        radii: float64 [R] ascending (may be empty when only distances are wanted).
        cutoff: Inclusive cutoff.
        nthreads: Workers (sources are dealt round-robin).
        hist: int64 [S, R + 1], zero on entry; bucket k = first k with radii[k] >= d (R if none).
        dist: float32 [S, N] prefilled with +inf, written if ``write_dist`` (else any shape).
        write_dist: Write the distances (<= cutoff) of every settled node.
        inv_delta: > 0 selects the bucket queue (:func:`_dial`) with bucket width 1 / inv_delta,
            which must be below every edge weight (see :func:`dial_width`); 0 the heap.
    """
    n = indptr.shape[0] - 1
    ns = sources.shape[0]
    nr = radii.shape[0]
    for t in prange(nthreads):
        d, done, touched = _thread_state(n)
        hk, hv, bhead, enext, evert = _queues(cutoff, inv_delta)
        out_v = np.empty(n, np.int64)
        out_d = np.empty(n, np.float64)
        for s in range(t, ns, nthreads):
            m, hk, hv, enext, evert = _settle(indptr, indices, data, sources[s], cutoff, inv_delta, d, touched,
                                              hk, hv, bhead, enext, evert, out_v, out_d)
            k = 0  # bucket of the previous node: distances come (nearly) sorted, so walk from it
            for i in range(m):
                du = out_d[i]
                if du > cutoff:  # only a seed with a negative cutoff
                    continue
                while k < nr and radii[k] < du:
                    k += 1
                while k > 0 and radii[k - 1] >= du:
                    k -= 1
                hist[s, k] += 1
                if write_dist:
                    dist[s, out_v[i]] = du


@njit(parallel=True, cache=True)
def ordered_balls(indptr, indices, data, eint, seeds, seed_off, cutoff, target, nthreads, cap, out_v, out_d, out_i, start,
                  length):
    """Multi-seed bounded Dijkstra per group; settled nodes and distances in settling order.

    Group g's seeds are ``seeds[seed_off[g]:seed_off[g + 1]]``; groups are dealt round-robin
    to ``nthreads`` workers, worker t writing into ``out_*[t * cap:(t + 1) * cap]``.

    Args:
        indptr, indices, data: CSR (the adjacency order sets the tie order).
        eint: uint8 [nnz] 1 where the weight is an integer (then ``out_i`` says which distances
            are sums of integers only, as NetworkX's int/float result types), or empty.
        seeds: int64 [K]. seed_off: int64 [G + 1].
        cutoff: Inclusive cutoff. target: Stop once this node is settled (-1: never).
        nthreads: Workers. cap: Output entries per worker.
        out_v: int64 [nthreads * cap]. out_d: float64 [nthreads * cap].
        out_i: uint8 [nthreads * cap] if ``eint`` is not empty (else any length).
        start: int64 [G] output offset of each group. length: int64 [G] (-1 on overflow).

    Returns:
        True when every group fitted (else call again with a larger ``cap``).
    """
    n = indptr.shape[0] - 1
    ng = seed_off.shape[0] - 1
    ok = np.ones(nthreads, np.bool_)
    for t in prange(nthreads):
        d, done, touched = _thread_state(n)
        fi = np.zeros(n if eint.shape[0] > 0 else 0, np.uint8)
        hk, hc, hv = _heap(4096)
        o = t * cap
        end = (t + 1) * cap
        for g in range(t, ng, nthreads):
            sd = seeds[seed_off[g] : seed_off[g + 1]]
            m = _search(indptr, indices, data, eint, sd, cutoff, target, d, done, touched, fi, hk, hc, hv, out_v, out_d,
                        out_i, o, end)
            while m == -2:
                hk, hc, hv = _heap(2 * hk.shape[0])
                m = _search(indptr, indices, data, eint, sd, cutoff, target, d, done, touched, fi, hk, hc, hv, out_v,
                            out_d, out_i, o, end)
            start[g] = o
            length[g] = m
            if m < 0:
                ok[t] = False
                break
            o += m
    return ok.all()
