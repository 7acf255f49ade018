"""Malformed sparse graphs are refused before SciPy or a kernel reads them; dense 0 = no edge."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path

from mfa_engine.api import analyze_graph
from mfa_engine.errors import ConfigError
from mfa_engine.paths import multi_source_counts, multi_source_distances

BACKENDS = ["cpu", "torch"]


def _csr(data, indices, indptr, n):
    return sp.csr_array((np.asarray(data, np.float64), np.asarray(indices), np.asarray(indptr)), shape=(n, n))


def _bad_graphs():
    n = 5
    ok_ptr = [0, 1, 2, 3, 4, 4]
    yield "column index >= N", _csr([1.0] * 4, [1, 2, 3, 7], ok_ptr, n), r"index 7 out of range; expected 0 <= index < 5"
    yield "negative index", _csr([1.0] * 4, [1, -2, 3, 4], ok_ptr, n), r"index -2 out of range"
    g = _csr([1.0] * 4, [1, 2, 3, 4], ok_ptr, n)
    g.indptr = np.array([0, 3, 1, 3, 4, 4], dtype=g.indptr.dtype)
    yield "decreasing indptr", g, r"indptr decreases at row 1 \(3 -> 1\)"
    g = _csr([1.0] * 4, [1, 2, 3, 4], ok_ptr, n)
    g.indptr = np.array([0, 1, 2, 3, 4, 9], dtype=g.indptr.dtype)
    yield "indptr past the end", g, r"indptr\[-1\] is 9, but there are 4 indices"
    g = _csr([1.0] * 4, [1, 2, 3, 4], ok_ptr, n)
    g.indptr = np.array([1, 1, 2, 3, 4, 4], dtype=g.indptr.dtype)
    yield "indptr not starting at 0", g, r"indptr\[0\] is 1"
    c = sp.csc_array((np.ones(2), np.array([0, 9]), np.array([0, 1, 2, 2, 2, 2])), shape=(n, n))
    yield "CSC row index", c, r"\(CSC\): index 9 out of range"
    co = sp.coo_array((np.ones(2), (np.array([0, 1]), np.array([1, 2]))), shape=(n, n))
    co.col[1] = 11
    yield "COO mutated column", co, r"column index out of range"


BAD = list(_bad_graphs())


@pytest.mark.parametrize("name, graph, msg", BAD, ids=[b[0] for b in BAD])
@pytest.mark.parametrize("backend", BACKENDS)
def test_malformed_sparse_is_a_config_error(name, graph, msg, backend):
    with pytest.raises(ConfigError, match=msg):
        multi_source_counts(graph, [0, 1], [1.0, 2.0], backend=backend)
    with pytest.raises(ConfigError, match=msg):
        multi_source_distances(graph, [0], backend=backend)
    with pytest.raises(ConfigError, match=msg):
        multi_source_counts(graph, [0], [1.0], directed=False, backend=backend)


@pytest.mark.parametrize("name, graph, msg", BAD[:2], ids=[b[0] for b in BAD[:2]])
def test_analyze_graph_refuses_what_the_kernels_refuse(name, graph, msg):
    with pytest.raises(ConfigError, match=msg):
        analyze_graph(graph)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [1, 7, 13])
def test_dense_zero_is_no_edge_like_scipy(n, backend):
    rng = np.random.default_rng(n)
    dense = rng.uniform(0.5, 3.0, size=(n, n))
    dense[rng.random((n, n)) < 0.6] = 0.0  # no edge
    dense[rng.random((n, n)) < 0.1] = np.inf  # no edge too
    radii = np.array([0.0, 0.7, 1.5, 3.0, 6.0, np.inf])
    oracle_d = shortest_path(np.where(np.isinf(dense), 0.0, dense), directed=True)
    reach = np.isfinite(oracle_d)[:, :, None]  # an unreachable node is never counted
    oracle = (reach & (oracle_d[:, :, None] <= radii[None, None, :])).sum(axis=1)
    got = multi_source_counts(dense, np.arange(n), radii, backend=backend)
    np.testing.assert_array_equal(got, oracle)
    dist = multi_source_distances(dense, np.arange(n), backend=backend)
    np.testing.assert_allclose(dist, oracle_d, rtol=1e-6)  # the kernels sum in float32
