"""Tests of the general path's kernel-ready graph (mfa_engine/paths/csr_kernel_graph.py)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mfa_engine.paths import prepare_graph
from mfa_engine.paths.csr_kernel_graph import RELABEL_MIN_NODES, kernel_graph


def _csr(n: int, seed: int) -> sp.csr_array:
    rng = np.random.default_rng(seed)
    e = 3 * n
    m = sp.csr_array((rng.uniform(0.5, 2.0, e), (rng.integers(0, n, e), rng.integers(0, n, e))), shape=(n, n))
    m.sum_duplicates()
    m.sort_indices()
    return m


def _as_matrix(kg, n: int) -> sp.csr_array:
    """The kernel graph in the caller's numbering, as a canonical sparse matrix."""
    back = sp.csr_array((kg.data, kg.indices, kg.indptr), shape=(n, n))
    if kg.inv is not None:
        back = back[kg.inv][:, kg.inv]
    return back


def _assert_same_sparse(a: sp.csr_array, b: sp.csr_array) -> None:
    """Equal as matrices, compared sparsely (no dense n x n copy): same pattern, same values."""
    a, b = sp.csr_array(a, copy=True), sp.csr_array(b, copy=True)  # sum_duplicates sorts in place
    a.sum_duplicates()
    b.sum_duplicates()
    assert a.shape == b.shape and a.nnz == b.nnz
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.data, b.data)


def test_same_graph_sorted_rows_and_cache() -> None:
    for n in (37, RELABEL_MIN_NODES + 5):
        m = _csr(n, n)
        kg = kernel_graph(m)
        assert (kg.inv is None) == (n < RELABEL_MIN_NODES)
        assert kg.indices.dtype == np.int32 and kg.indptr.dtype == np.int64
        _assert_same_sparse(_as_matrix(kg, n), m)
        rows = np.repeat(np.arange(n), np.diff(kg.indptr))
        assert np.all((np.diff(kg.data) >= 0) | (np.diff(rows) != 0))  # each row sorted by weight
        assert kg.min_weight == m.data.min()
        assert not any(k.startswith("_mfa") for k in vars(m))  # nothing stashed on the caller's matrix
        g = prepare_graph(m)
        assert g.kind == "csr" and prepare_graph(m).kernel_graph() is g.kernel_graph()  # kept by the handle
        _assert_same_sparse(_as_matrix(g.kernel_graph(), n), m)


def test_rebuilt_when_arrays_are_replaced() -> None:
    m = _csr(50, 1)
    kg = prepare_graph(m).kernel_graph()
    m.data = m.data * 2.0
    kg2 = prepare_graph(m).kernel_graph()
    assert kg2 is not kg
    assert kg2.min_weight == 2.0 * kg.min_weight
    _assert_same_sparse(_as_matrix(kg2, 50), m)


def test_local_numbering_kept_scattered_one_renumbered() -> None:
    """A grid in row-major order (mean id gap about sqrt(N) / 2) keeps its numbering; the same
    grid under a random numbering is renumbered breadth-first. Counts equal SciPy's either way."""
    from scipy.sparse import csgraph

    from mfa_engine.paths import cpu

    side = 131  # N = 17161 >= RELABEL_MIN_NODES
    n = side * side
    assert n >= RELABEL_MIN_NODES
    rng = np.random.default_rng(4)
    idx = np.arange(n).reshape(side, side)
    i = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    j = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    w = rng.uniform(0.5, 1.5, i.size)
    perm = rng.permutation(n)
    radii = np.array([1.0, 2.5, 4.0, 6.0])
    for p, renumbered in ((np.arange(n), False), (perm, True)):
        a, b = p[i], p[j]
        m = sp.csr_array((np.concatenate([w, w]), (np.concatenate([a, b]), np.concatenate([b, a]))), shape=(n, n))
        m.sort_indices()
        kg = kernel_graph(m)
        assert (kg.inv is not None) == renumbered
        src = np.sort(rng.choice(n, 12, replace=False)).astype(np.int64)
        hist, _ = cpu.csr_histogram(m, src, radii, float(radii[-1]))
        d = csgraph.dijkstra(m, indices=src, limit=float(radii[-1]))
        ref = (d[:, None, :] <= radii[None, :, None]).sum(-1)
        np.testing.assert_array_equal(np.cumsum(hist[:, :-1], axis=1), ref)
