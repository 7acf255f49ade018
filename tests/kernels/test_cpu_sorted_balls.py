"""Tests of mfa_engine/kernels/cpu_sorted_balls.py against SciPy Dijkstra."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse import csgraph

from mfa_engine.kernels import cpu_sorted_balls, cpu_sssp, csr_order


def _graph(rng: np.random.Generator, n: int, weights: np.ndarray) -> tuple:
    e = weights.size
    m = sp.csr_array((weights, (rng.integers(0, n, e), rng.integers(0, n, e))), shape=(n, n))
    m.sum_duplicates()
    m.sort_indices()
    ident = np.arange(n, dtype=np.int64)
    ip, ix, dt = csr_order.permute_csr(m.indptr.astype(np.int64), m.indices, m.data, ident, ident,
                                       np.empty(m.nnz, np.int32), 2)
    return m, ip, ix, dt


@pytest.mark.parametrize("queue", ["heap", "dial"])
@pytest.mark.parametrize("n", [1, 13, 300])
def test_sorted_balls_equal_scipy(queue: str, n: int) -> None:
    rng = np.random.default_rng(n + len(queue))
    m, ip, ix, dt = _graph(rng, n, rng.uniform(0.1, 2.0, 4 * n))
    src = rng.integers(0, n, 9).astype(np.int64)
    cut = 1.5
    inv_delta = cpu_sssp.dial_width(dt, cut) if queue == "dial" else 0.0
    assert inv_delta > 0 or queue == "heap"
    cap = 64  # small: the overflow return path runs before the retry with a full-size buffer
    ref = csgraph.dijkstra(m, indices=src, limit=cut)
    for c in (cap, n * src.size):
        out_v, out_d = np.empty(2 * c, np.int64), np.empty(2 * c)
        start, length = np.empty(src.size, np.int64), np.empty(src.size, np.int64)
        tie = np.zeros(src.size, np.bool_)
        ok = cpu_sorted_balls.sorted_balls(ip, ix, dt, src, cut, inv_delta, 2, c, out_v, out_d, start, length, tie)
    assert ok
    for i in range(src.size):
        v = out_v[start[i] : start[i] + length[i]]
        d = out_d[start[i] : start[i] + length[i]]
        assert np.all(np.diff(d) >= 0)
        assert sorted(v.tolist()) == np.flatnonzero(np.isfinite(ref[i])).tolist()
        np.testing.assert_array_equal(d, ref[i, v])  # exact float64
        assert tie[i] == bool(np.any(np.diff(d) == 0))


def test_ties_are_flagged() -> None:
    rng = np.random.default_rng(1)
    m, ip, ix, dt = _graph(rng, 50, np.full(200, 0.5))
    src = np.arange(50, dtype=np.int64)
    out_v, out_d = np.empty(2 * 2500, np.int64), np.empty(2 * 2500)
    start, length = np.empty(50, np.int64), np.empty(50, np.int64)
    tie = np.zeros(50, np.bool_)
    assert cpu_sorted_balls.sorted_balls(ip, ix, dt, src, 1.0, 0.0, 2, 2500, out_v, out_d, start, length, tie)
    for i in range(50):
        d = out_d[start[i] : start[i] + length[i]]
        assert tie[i] == bool(np.any(np.diff(d) == 0))
    assert tie.sum() > 10
