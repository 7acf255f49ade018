"""Cache-friendly renumbering of a CSR graph: breadth-first order and the permuted CSR with each
row sorted by weight (numba).

Used by the general-graph path (``mfa_engine.paths.cpu.csr_histogram``) before the bounded
searches of ``kernels/cpu_sssp.py``: nodes close in the graph get close ids, so each ball
touches few cache lines.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["bfs_order", "insertion_sort_by_key", "mean_id_gap", "permute_csr", "RANK_MAX_DEGREE"]

#: Rows up to this many edges are sorted by counting ranks; longer rows by a merge sort.
RANK_MAX_DEGREE = 32
#: Source rows per block of :func:`permute_csr` (blocks are dealt round-robin to the threads).
_BLOCK = 512


@njit(cache=True)
def bfs_order(indptr, indices):
    """Breadth-first numbering of every node (component by component, in id order).

    Nodes close in the graph get close ids, so a bounded search touches few cache lines.

    Args:
        indptr: int64 [N + 1]. indices: int64 [nnz].

    Returns:
        int64 [N] ``order``: the node that gets new id i is ``order[i]``.
    """
    n = indptr.shape[0] - 1
    order = np.empty(n, np.int64)
    seen = np.zeros(n, np.bool_)
    head = 0
    tail = 0
    for r in range(n):
        if seen[r]:
            continue
        seen[r] = True
        order[tail] = r
        tail += 1
        while head < tail:
            u = order[head]
            head += 1
            for e in range(indptr[u], indptr[u + 1]):
                v = indices[e]
                if not seen[v]:
                    seen[v] = True
                    order[tail] = v
                    tail += 1
    return order


@njit(parallel=True, cache=True)
def permute_csr(indptr, indices, data, order, inv, out_indices, workers):
    """CSR of the graph renumbered by ``inv`` (new id of node u = inv[u]; order = inv^-1).

    Each row's edges are sorted by weight (ascending; ties keep their order), so a bounded
    search can stop reading a row at its first edge beyond the cutoff. Source rows are read in
    their own order (sequential reads; each row written to its new place) in blocks of
    :data:`_BLOCK` rows dealt round-robin to the threads (hubs, often numbered first, are
    spread). Each edge goes straight to its sorted place: in a row of up to
    :data:`RANK_MAX_DEGREE` edges its place is the number of edges before it in sorted order
    (counted by comparisons without branches, O(d^2) for degree d); longer rows take a stable
    merge sort.

    Args:
        indptr: int [N + 1]. indices: int [nnz]. data: float64 [nnz].
        order, inv: int64 [N]. out_indices: int32 or int64 [nnz], filled with the new targets.
        workers: Threads (``numba.get_num_threads()``; passed in, which keeps the function
            cacheable).

    Returns:
        (indptr int64 [N + 1], out_indices, data float64 [nnz]).
    """
    n = indptr.shape[0] - 1
    nptr = np.empty(n + 1, np.int64)
    nptr[0] = 0
    for i in range(n):
        u = order[i]
        nptr[i + 1] = nptr[i] + indptr[u + 1] - indptr[u]
    ndat = np.empty(indices.shape[0], np.float64)
    workers = max(1, workers)
    nblock = (n + _BLOCK - 1) // _BLOCK
    for t in prange(workers):
        for blk in range(t, nblock, workers):
            for u in range(blk * _BLOCK, min(n, (blk + 1) * _BLOCK)):
                _place_row(indptr[u], indptr[u + 1], nptr[inv[u]], indices, data, inv, out_indices, ndat)
    return nptr, out_indices, ndat


@njit(cache=True, inline="always")
def _place_row(a, b, o, indices, data, inv, out_indices, ndat):
    """Write the source row ``a:b`` sorted by weight (stable) to ``o:o + b - a``."""
    if b - a <= RANK_MAX_DEGREE:
        for p in range(a, b):
            k = data[p]
            r = 0
            for q in range(a, p):  # earlier edges go first on ties: stable
                r += data[q] <= k
            for q in range(p + 1, b):
                r += data[q] < k
            out_indices[o + r] = inv[indices[p]]
            ndat[o + r] = k
    else:
        rank = np.argsort(data[a:b], kind="mergesort")
        for j in range(b - a):
            out_indices[o + j] = inv[indices[a + rank[j]]]
            ndat[o + j] = data[a + rank[j]]


@njit(parallel=True, cache=True)
def mean_id_gap(indptr, indices):
    """Mean of ``|u - v|`` over the edges u -> v (0.0 without edges): small when the numbering
    already keeps neighbours close (a grid in row-major order), about N / 3 when it is random."""
    n = indptr.shape[0] - 1
    total = 0
    for u in prange(n):
        for e in range(indptr[u], indptr[u + 1]):
            total += abs(np.int64(indices[e]) - u)
    return total / max(indices.shape[0], 1)


@njit(cache=True)
def insertion_sort_by_key(keys, vals, a, b):
    """Stable in-place insertion sort of ``keys[a:b]`` ascending, ``vals[a:b]`` moved alongside
    (near-linear on nearly sorted input)."""
    for i in range(a + 1, b):
        k = keys[i]
        v = vals[i]
        j = i - 1
        while j >= a and keys[j] > k:
            keys[j + 1] = keys[j]
            vals[j + 1] = vals[j]
            j -= 1
        keys[j + 1] = k
        vals[j + 1] = v
