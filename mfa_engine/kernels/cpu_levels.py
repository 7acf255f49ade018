"""Numba CPU kernels that find the levels of a DAG and lay its edges out as dense level blocks
(the input of the min-plus kernel, :mod:`mfa_engine.kernels.cpu_minplus`).

* :func:`dag_levels` -- longest-path level of every node (one forward pass when the graph is
  numbered in a topological order, else Kahn's algorithm; reports cycles).
* :func:`block_pairs` -- which (source level, target level) pairs have edges.
* :func:`gather_blocks`, :func:`gather_level_block` -- scatter the CSR edges into dense blocks.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = [
    "dag_levels",
    "block_pairs",
    "gather_blocks",
    "gather_level_block",
]


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
    if _two_cycle(indptr, indices, _TWO_CYCLE_PROBES):
        return level, False  # e.g. an undirected graph stored both ways: no full Kahn pass
    return level, _kahn_levels(indptr, indices, level)


#: Edges probed for a reverse edge before Kahn's algorithm runs.
_TWO_CYCLE_PROBES = 256


@njit(cache=True, fastmath=False)
def _two_cycle(indptr, indices, probes):
    """True when one of the first ``probes`` edges u -> v (u != v) has its reverse v -> u, found
    by a binary search in the sorted row of v: a cycle of length 2, so not a DAG."""
    seen = 0
    for u in range(indptr.shape[0] - 1):
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            if v == u:
                continue
            e1 = indptr[v + 1]
            i = _lower_bound(indices, indptr[v], e1, u)
            if i < e1 and indices[i] == u:
                return True
            seen += 1
            if seen >= probes:
                return False
    return False


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
