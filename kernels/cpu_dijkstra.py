"""Numba CPU kernel for the general (non-DAG) path: one bounded Dijkstra per source over a CSR
graph, float64, parallel over sources, with the neighbour counts fused (see docs/method.md,
"Kernels").

The priority queue is a binary heap with lazy deletion that grows on demand. Distances are
bucketed into the radius grid by binary search (:mod:`mfa_engine.kernels.cpu_buckets`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from mfa_engine.kernels.cpu_buckets import _bucket

__all__ = [
    "csr_dijkstra_counts",
]


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
