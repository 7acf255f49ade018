"""Cache-friendly renumbering of a CSR graph: breadth-first order and the permuted CSR (numba).

Used by the general-graph path (``mfa_engine.paths.cpu.csr_histogram``) before the bounded
searches of ``kernels/cpu_sssp.py``: nodes close in the graph get close ids, so each ball
touches few cache lines.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["bfs_order", "permute_csr"]


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


@njit(cache=True)
def permute_csr(indptr, indices, data, order, inv):
    """CSR of the graph renumbered by ``inv`` (new id of node u = inv[u]; order = inv^-1).

    Each row keeps its edge order.

    Returns:
        (indptr int64 [N + 1], indices int64 [nnz], data float64 [nnz]).
    """
    n = indptr.shape[0] - 1
    nptr = np.empty(n + 1, np.int64)
    nptr[0] = 0
    for i in range(n):
        u = order[i]
        nptr[i + 1] = nptr[i] + indptr[u + 1] - indptr[u]
    nidx = np.empty(indices.shape[0], np.int64)
    ndat = np.empty(indices.shape[0], np.float64)
    for i in range(n):
        u = order[i]
        o = nptr[i]
        for e in range(indptr[u], indptr[u + 1]):
            nidx[o] = inv[indices[e]]
            ndat[o] = data[e]
            o += 1
    return nptr, nidx, ndat
