"""The general path's kernel-ready graph: a CSR renumbered breadth-first, built once per graph.

:func:`kernel_graph` turns a canonical float64 CSR into the arrays
:func:`mfa_engine.kernels.cpu_sssp.ball_histogram` runs on (int64 offsets, int32 targets when
they fit, float64 weights, each row sorted by weight; large graphs whose numbering scatters
neighbours renumbered breadth-first so that a ball occupies few cache lines). A prepared graph
keeps the result (:meth:`mfa_engine.paths.prepare.PreparedGraph.kernel_graph`; the content
cache of ``prepare_graph`` returns the same prepared graph for an unchanged SciPy matrix), so
repeated calls on one graph skip the O(E) preparation. Rows of up to 32 edges are sorted in O(d^2) branch-free
comparisons, longer ones in O(d log d).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from mfa_engine.paths.threads import numba_threads

__all__ = ["KernelGraph", "kernel_graph", "RELABEL_MIN_NODES"]

#: Graphs with at least this many nodes are renumbered breadth-first, unless their numbering
#: already keeps neighbours close: a mean id gap ``|u - v|`` over the edges of at most sqrt(N)
#: (a 2-D grid in row-major order has about sqrt(N) / 2, a random numbering about N / 3;
#: measured on the 317 x 317 grid benchmark, breadth-first order was no faster there).
RELABEL_MIN_NODES = 1 << 14


@dataclass(frozen=True)
class KernelGraph:
    """Arrays of the bounded-Dijkstra kernel for one CSR graph.

    Attributes:
        indptr: int64 [N + 1]. indices: int32 or int64 [nnz] (renumbered ids).
        data: float64 [nnz] weights, each row sorted ascending (the kernel stops reading a row
            at its first edge beyond the cutoff).
        inv: int64 [N] new id of each original node, or None (no renumbering).
        min_weight: Smallest weight (inf without edges).
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    inv: np.ndarray | None
    min_weight: float


def kernel_graph(m: sp.csr_array) -> KernelGraph:
    """The kernel arrays of ``m``, built anew (a prepared graph keeps them:
    :meth:`mfa_engine.paths.prepare.PreparedGraph.kernel_graph`).

    Args:
        m: Canonical float64 CSR [N, N].
    """
    from mfa_engine.kernels import csr_order
    n = m.shape[0]
    indptr = m.indptr.astype(np.int64, copy=False)
    small = n < 2**31 - 1 and m.nnz < 2**31 - 1
    itype = np.int32 if small else np.int64
    data = m.data.astype(np.float64, copy=False)
    inv = None
    if n >= RELABEL_MIN_NODES and csr_order.mean_id_gap(indptr, m.indices) > np.sqrt(n):
        order = csr_order.bfs_order(indptr, m.indices)
        inv = np.empty_like(order)
        inv[order] = np.arange(n, dtype=np.int64)
    else:
        order = np.arange(n, dtype=np.int64)
    ids = order if inv is None else inv
    workers = numba_threads()
    indptr, indices, data = csr_order.permute_csr(indptr, m.indices, data, order, ids, np.empty(m.nnz, itype), workers)
    low = float(data.min()) if data.size else np.inf
    return KernelGraph(indptr, indices, data, inv, low)
