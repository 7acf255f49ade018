"""Property tests of the general-graph kernel (mfa_engine/kernels/cpu_sssp.py) against SciPy Dijkstra."""

from __future__ import annotations

import heapq

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse import csgraph

from mfa_engine.kernels import cpu_sssp, csr_order
from mfa_engine.paths import cpu
from mfa_engine.paths.csr_kernel_graph import RELABEL_MIN_NODES
from mfa_engine.paths.prepare import symmetrise
from tests.paths.paths_graphs import radii_with_exact_lengths, random_weights


def _graph(rng: np.random.Generator, n: int, degree: float, kind: str, isolated: int) -> sp.csr_array:
    """Random directed graph; the last ``isolated`` nodes have no edges at all."""
    live = max(n - isolated, 1)
    e = int(degree * live)
    i = rng.integers(0, live, e)
    j = rng.integers(0, live, e)
    m = sp.coo_array((random_weights(rng, (e,), kind), (i, j)), shape=(n, n)).tocsr()
    m.sum_duplicates()
    m.sort_indices()
    return sp.csr_array(m)


def _hist_counts(hist: np.ndarray) -> np.ndarray:
    return np.cumsum(hist[:, :-1], axis=1)


def _oracle_counts(m: sp.csr_array, src: np.ndarray, radii: np.ndarray) -> np.ndarray:
    d = csgraph.dijkstra(m, indices=src)
    d = np.where(np.isfinite(d), d, np.nan)
    return (d[:, None, :] <= radii[None, :, None]).sum(-1)


@pytest.mark.parametrize("directed", [True, False])
@pytest.mark.parametrize("kind", ["int", "float", "zero"])
@pytest.mark.parametrize("n", [1, 7, 50, 301])
def test_counts_and_distances_exact(directed: bool, kind: str, n: int) -> None:
    rng = np.random.default_rng(n * 31 + len(kind) * 3 + directed)
    for degree, isolated in ((0.5, 0), (2.0, 3), (5.0, 1)):
        m = _graph(rng, n, degree, kind, min(isolated, n - 1))
        if not directed:
            m = symmetrise(m)
        src = rng.integers(0, n, size=min(n, 13)).astype(np.int64)
        src = np.concatenate([src, src[:2], [n - 1]])  # duplicates and an isolated node
        ref = csgraph.dijkstra(m, indices=src)
        radii = np.sort(radii_with_exact_lengths(rng, ref))  # ties exactly at the radii
        hist, _ = cpu.csr_histogram(m, src, radii, float(radii[-1]))
        np.testing.assert_array_equal(_hist_counts(hist), _oracle_counts(m, src, radii))
        cut = float(radii[len(radii) // 2])
        _, dist = cpu.csr_histogram(m, src, np.array([cut]), cut, want_dist=True)
        lim = csgraph.dijkstra(m, indices=src, limit=cut)
        np.testing.assert_array_equal(np.isinf(dist), np.isinf(lim))
        fin = np.isfinite(lim)
        np.testing.assert_array_equal(dist[fin], lim[fin].astype(np.float32))


def test_relabelled_large_graph_matches_scipy() -> None:
    # above the renumbering threshold: a 2-D grid with random weights plus isolated nodes
    rng = np.random.default_rng(3)
    side = 130
    idx = np.arange(side * side).reshape(side, side)
    i = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    j = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    n = side * side + 5
    assert n >= RELABEL_MIN_NODES
    w = rng.integers(1, 5, i.size).astype(np.float64)
    m = symmetrise(sp.csr_array((w, (i, j)), shape=(n, n)))
    src = np.concatenate([rng.choice(side * side, 40, replace=False), [n - 1]]).astype(np.int64)
    radii = np.array([0.0, 1.0, 3.0, 7.0, 12.0, 20.0])
    hist, dist = cpu.csr_histogram(m, src, radii, 20.0, want_dist=True)
    np.testing.assert_array_equal(_hist_counts(hist), _oracle_counts(m, src, radii))
    lim = csgraph.dijkstra(m, indices=src, limit=20.0)
    np.testing.assert_array_equal(dist, lim.astype(np.float32))


def test_negative_cutoff_counts_nothing() -> None:
    m = sp.csr_array((np.array([1.0]), (np.array([0]), np.array([1]))), shape=(2, 2))
    hist, dist = cpu.csr_histogram(m, np.array([0]), np.array([-1.0]), -1.0, want_dist=True)
    np.testing.assert_array_equal(hist, [[0, 0]])
    np.testing.assert_array_equal(dist, [[np.inf, np.inf]])


_NO_TYPES = np.zeros(0, np.uint8)


def _nx_order(indptr, indices, data, seeds, cutoff):
    """Settling order of NetworkX's heap (distance, push counter), written out in Python."""
    dist, seen, heap, c = {}, {}, [], 0
    for s in seeds:
        seen[s] = 0.0
        heapq.heappush(heap, (0.0, c, s))
        c += 1
    while heap:
        dv, _, v = heapq.heappop(heap)
        if v in dist:
            continue
        dist[v] = dv
        for e in range(indptr[v], indptr[v + 1]):
            u, nd = int(indices[e]), dv + data[e]
            if nd > cutoff or u in dist:
                continue
            if u not in seen or nd < seen[u]:
                seen[u] = nd
                heapq.heappush(heap, (nd, c, u))
                c += 1
    return list(dist), list(dist.values())


@pytest.mark.parametrize("kind", ["int", "zero", "float"])
def test_ordered_balls_follow_the_push_counter(kind: str) -> None:
    rng = np.random.default_rng(len(kind))
    m = _graph(rng, 80, 3.0, kind, 2)
    ip, ix, dt = m.indptr.astype(np.int64), m.indices.astype(np.int64), m.data.astype(np.float64)
    groups = [[0], [5, 9, 5], [79], list(range(0, 80, 7))]
    seeds = np.array([s for g in groups for s in g], np.int64)
    off = np.cumsum([0] + [len(g) for g in groups]).astype(np.int64)
    for cutoff in (np.inf, 2.0, -1.0):
        for cap in (1, 4096):  # a tiny first capacity exercises the overflow report
            ov, od = np.empty(2 * cap, np.int64), np.empty(2 * cap)
            start, length = np.empty(len(groups), np.int64), np.empty(len(groups), np.int64)
            ok = cpu_sssp.ordered_balls(ip, ix, dt, _NO_TYPES, seeds, off, cutoff, -1, 2, cap, ov, od, _NO_TYPES,
                                        start, length)
            if not ok:
                assert cap == 1 and (length == -1).any()
                continue
            for g, grp in enumerate(groups):
                nodes, dists = _nx_order(ip, ix, dt, grp, cutoff)
                sl = slice(start[g], start[g] + length[g])
                assert ov[sl].tolist() == nodes
                assert od[sl].tolist() == dists


def test_ordered_balls_target_stops_early() -> None:
    # path 0 -> 1 -> 2 -> 3, unit weights
    m = sp.csr_array((np.ones(3), (np.arange(3), np.arange(1, 4))), shape=(4, 4))
    ip, ix, dt = m.indptr.astype(np.int64), m.indices.astype(np.int64), m.data
    ov, od = np.empty(8, np.int64), np.empty(8)
    start, length = np.empty(1, np.int64), np.empty(1, np.int64)
    off = np.array([0, 1], np.int64)
    eint = np.array([1, 0, 1], np.uint8)  # 0 -> 1 integer, 1 -> 2 float, 2 -> 3 integer
    oi = np.empty(8, np.uint8)
    assert cpu_sssp.ordered_balls(ip, ix, dt, eint, np.array([0], np.int64), off, np.inf, 2, 1, 8, ov, od, oi, start,
                                  length)
    assert ov[: length[0]].tolist() == [0, 1, 2]
    assert od[: length[0]].tolist() == [0.0, 1.0, 2.0]
    assert oi[: length[0]].tolist() == [1, 1, 0]


def test_bfs_order_and_permutation() -> None:
    rng = np.random.default_rng(0)
    m = _graph(rng, 60, 2.0, "float", 4)
    ip, ix = m.indptr.astype(np.int64), m.indices.astype(np.int64)
    order = csr_order.bfs_order(ip, ix)
    assert sorted(order.tolist()) == list(range(60))
    inv = np.empty_like(order)
    inv[order] = np.arange(60)
    p_ip, p_ix, p_dt = csr_order.permute_csr(ip, ix, m.data, order, inv, np.empty(m.nnz, np.int32), 2)
    back = sp.csr_array((p_dt, p_ix, p_ip), shape=m.shape)
    np.testing.assert_array_equal(back[inv][:, inv].toarray(), m.toarray())
    for i in range(60):  # each row sorted by weight
        assert np.all(np.diff(p_dt[p_ip[i] : p_ip[i + 1]]) >= 0)


@pytest.mark.parametrize("kind", ["int", "float"])
def test_bucket_queue_equals_heap_and_scipy(kind: str) -> None:
    rng = np.random.default_rng(11)
    n = 6000  # balls above the initial entry-pool size (4096): the overflow retry runs
    m = symmetrise(_graph(rng, n, 3.0, kind, 0))
    m.data[rng.integers(0, m.nnz, 20)] = 2e-3  # a few very short edges: thousands of narrow buckets
    m = symmetrise(m)
    ip, ix = m.indptr.astype(np.int64), m.indices.astype(np.int64)
    ident = np.arange(n, dtype=np.int64)
    ip, ix, dt = csr_order.permute_csr(ip, ix, m.data, ident, ident, np.empty(m.nnz, np.int64), 3)  # rows by weight
    src = rng.choice(n, 12, replace=False).astype(np.int64)
    cut = float(np.percentile(csgraph.dijkstra(m, indices=src[:2])[np.isfinite(csgraph.dijkstra(m, indices=src[:2]))], 60))
    radii = np.linspace(cut / 10, cut, 10)
    inv = cpu_sssp.dial_width(dt, cut)
    assert inv > 0
    out = []
    for inv_delta in (0.0, inv):
        hist = np.zeros((src.size, radii.size + 1), np.int64)
        dist = np.full((src.size, n), np.inf, np.float32)
        cpu_sssp.ball_histogram(ip, ix, dt, src, radii, cut, 2, hist, dist, True, inv_delta)
        out.append((hist, dist))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])
    np.testing.assert_array_equal(_hist_counts(out[1][0]), _oracle_counts(m, src, radii))
    assert (out[1][0][:, :-1].sum(1) > 4096).any()


def test_dial_width_guards() -> None:
    w = np.array([0.5, 2.0])
    assert cpu_sssp.dial_width(w, 3.0) == pytest.approx(2.0, rel=1e-5)
    assert cpu_sssp.dial_width(w, np.inf) == 0.0
    assert cpu_sssp.dial_width(w, -1.0) == 0.0
    assert cpu_sssp.dial_width(np.array([0.0, 1.0]), 3.0) == 0.0
    assert cpu_sssp.dial_width(np.array([1e-6, 1.0]), 3.0) == 0.0  # too many buckets
