"""Turn any accepted graph into the form a kernel runs on: DAG levels or a CSR matrix."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from mfa_engine.paths.dag import DagLevels, detect_dag, from_layered, prepare_sparse
from mfa_engine.paths.inputs import as_csr, as_layered, check_sparse_structure, is_layered

__all__ = ["Prepared", "prepare_graph", "symmetrise"]

#: ("dag", DagLevels) or ("csr", canonical float64 CSR, directed edges only)
Prepared = tuple[str, Any]


def symmetrise(m: sp.csr_array) -> sp.csr_array:
    """Undirected version of a canonical CSR graph: every edge both ways, the shorter kept.

    Args:
        m: Canonical float64 CSR [N, N].

    Returns:
        Canonical float64 CSR [N, N] with ``a[i, j] = a[j, i] = min(m[i, j], m[j, i])`` over the
        explicit entries.
    """
    n = m.shape[0]
    coo = m.tocoo()
    r = np.concatenate([coo.row, coo.col]).astype(np.int64)
    c = np.concatenate([coo.col, coo.row]).astype(np.int64)
    v = np.concatenate([coo.data, coo.data])
    key = r * n + c
    order = np.lexsort((v, key))  # by key, then by value: first of each key is the minimum
    key, v = key[order], v[order]
    first = np.ones(key.size, bool)
    first[1:] = key[1:] != key[:-1]
    key, v = key[first], v[first]
    out = sp.csr_array((v, (key // n, key % n)), shape=(n, n)) if n else sp.csr_array((0, 0))
    out.sort_indices()
    return out


def prepare_graph(graph: Any, directed: bool) -> Prepared:
    """Prepare a graph for the kernels.

    Args:
        graph: Layered graph, SciPy sparse matrix or dense 2-D array (see ``inputs``).
        directed: Directed traversal; undirected graphs always take the CSR path.

    Returns:
        ("dag", :class:`DagLevels`) when the directed graph is a DAG worth the dense path,
        else ("csr", CSR [N, N]) (symmetrised when undirected).
    """
    if is_layered(graph):
        g = as_layered(graph)
        if directed:
            return "dag", from_layered(g)
        return "csr", symmetrise(g.to_csr())
    if sp.issparse(graph):
        check_sparse_structure(graph)  # before hashing or converting it
        if directed:
            csr, levels = prepare_sparse(graph, as_csr)
            return ("dag", levels) if levels is not None else ("csr", csr)
        return "csr", symmetrise(as_csr(graph))
    csr = as_csr(graph)
    if directed:
        levels = detect_dag(csr)
        return ("dag", levels) if levels is not None else ("csr", csr)
    return "csr", symmetrise(csr)


def csr_of(prepared: Prepared) -> sp.csr_array:
    """CSR [N, N] of a prepared graph (DAG levels are expanded back, in original numbering)."""
    kind, obj = prepared
    if kind == "csr":
        return obj
    lv: DagLevels = obj
    rows, cols, vals = [], [], []
    for a, b, blk in lv.blocks:
        i, j = np.nonzero(np.isfinite(blk))
        rows.append(i + lv.lvl_off[a])
        cols.append(j + lv.lvl_off[b])
        vals.append(blk[i, j])
    n = lv.n_nodes
    if rows:
        r, c, v = (np.concatenate(x) for x in (rows, cols, vals))
    else:
        r = c = np.zeros(0, np.int64)
        v = np.zeros(0)
    if lv.perm is not None:
        r, c = lv.perm[r], lv.perm[c]
    out = sp.csr_array((v, (r, c)), shape=(n, n))
    out.sort_indices()
    return out
