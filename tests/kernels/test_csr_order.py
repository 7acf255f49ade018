"""Tests of the CSR renumbering kernels (mfa_engine.kernels.csr_order) against NumPy/SciPy oracles."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mfa_engine.kernels import csr_order


def _rows_graph(rng: np.random.Generator, degrees: list[int], ties: bool) -> sp.csr_array:
    """A directed graph whose row i has ``degrees[i]`` distinct targets; weights drawn from a few
    values when ``ties`` (equal weights within a row), else continuous."""
    n = max(len(degrees), max(degrees) + 1)
    rows, cols = [], []
    for i, d in enumerate(degrees):
        rows.append(np.full(d, i))
        cols.append(rng.choice(n, size=d, replace=False))
    r, c = np.concatenate(rows), np.concatenate(cols)
    w = rng.choice([0.5, 1.0, 1.5], r.size) if ties else rng.uniform(0.1, 3.0, r.size)
    m = sp.csr_array((w, (r, c)), shape=(n, n))
    m.sort_indices()
    return m


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize(("itype", "workers"), [(np.int32, 1), (np.int64, 2), (np.int32, 5)])
def test_permute_csr_sorts_rows_stably_short_and_long(ties: bool, itype: type, workers: int) -> None:
    """Rows on both sides of RANK_MAX_DEGREE (counted ranks / merge sort) come out sorted by
    weight with ties in their original order, and the renumbered graph is the same graph, for
    any number of workers (blocks of rows dealt round-robin; more blocks than workers here)."""
    rng = np.random.default_rng(3 + ties)
    k = csr_order.RANK_MAX_DEGREE
    degrees = [0, 1, 2, 7, k - 1, k, k + 1, 3 * k + 5, 5, 0, 11] * 150  # > 3 blocks of rows
    m = _rows_graph(rng, degrees, ties)
    n = m.shape[0]
    order = rng.permutation(n).astype(np.int64)
    inv = np.empty_like(order)
    inv[order] = np.arange(n)
    ip, ix, dt = csr_order.permute_csr(m.indptr.astype(np.int64), m.indices, m.data, order, inv,
                                       np.empty(m.nnz, itype), workers)
    assert ix.dtype == itype
    for i in range(n):
        u = order[i]
        a, b = m.indptr[u], m.indptr[u + 1]
        rank = np.argsort(m.data[a:b], kind="stable")  # oracle: NumPy's stable sort of the row
        np.testing.assert_array_equal(dt[ip[i] : ip[i + 1]], m.data[a:b][rank])
        np.testing.assert_array_equal(ix[ip[i] : ip[i + 1]], inv[m.indices[a:b][rank]])
    back = sp.csr_array((dt, ix, ip), shape=m.shape)
    np.testing.assert_array_equal(back[inv][:, inv].toarray(), m.toarray())


def test_mean_id_gap_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    m = _rows_graph(rng, list(rng.integers(0, 9, 300)), False)
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    want = np.abs(rows - m.indices).mean()
    assert csr_order.mean_id_gap(m.indptr.astype(np.int64), m.indices) == pytest.approx(want, rel=1e-12)
    empty = sp.csr_array((4, 4))
    assert csr_order.mean_id_gap(empty.indptr.astype(np.int64), empty.indices) == 0.0
