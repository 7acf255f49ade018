"""Unit tests of the numba DAG level kernels (mfa_engine.kernels.cpu_levels) against a relaxation oracle."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mfa_engine.kernels import cpu_levels as kl


def _random_dag(rng: np.random.Generator, n: int, density: float, shuffle: bool, loops: bool) -> sp.csr_array:
    """Random DAG (edges i -> j, i < j), optionally relabelled and with self-loops."""
    m = sp.random_array((n, n), density=density, rng=rng, format="coo")
    keep = m.row < m.col
    r, c = m.row[keep], m.col[keep]
    if loops:
        k = rng.integers(0, n, max(1, n // 4))
        r, c = np.concatenate([r, k]), np.concatenate([c, k])
    perm = rng.permutation(n) if shuffle else np.arange(n)
    out = sp.csr_array((rng.uniform(0.5, 2.0, r.size), (perm[r], perm[c])), shape=(n, n))
    out.sum_duplicates()
    out.sort_indices()
    return out


def _levels_ref(m: sp.csr_array) -> np.ndarray:
    """Longest-path levels by repeated relaxation (test oracle)."""
    coo = m.tocoo()
    keep = coo.row != coo.col
    r, c = coo.row[keep], coo.col[keep]
    level = np.zeros(m.shape[0], np.int64)
    for _ in range(m.shape[0]):
        new = level.copy()
        np.maximum.at(new, c, level[r] + 1)
        if np.array_equal(new, level):
            break
        level = new
    return level


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("loops", [False, True])
def test_dag_levels_forward_and_kahn_agree(shuffle: bool, loops: bool) -> None:
    rng = np.random.default_rng(7 + 2 * shuffle + loops)
    for n, density in ((1, 0.5), (9, 0.3), (80, 0.05), (200, 0.2)):
        m = _random_dag(rng, n, density, shuffle, loops)
        level, ok = kl.dag_levels(m.indptr.astype(np.int64), m.indices.astype(np.int64))
        assert ok
        np.testing.assert_array_equal(level, _levels_ref(m))
    cyc = sp.csr_array((np.ones(3), (np.array([0, 1, 2]), np.array([1, 2, 0]))), shape=(3, 3))
    assert not kl.dag_levels(cyc.indptr.astype(np.int64), cyc.indices.astype(np.int64))[1]


@pytest.mark.parametrize("probes", [1, 256])
def test_two_cycle_probe_and_cycle_verdicts_match_networkx(monkeypatch: pytest.MonkeyPatch, probes: int) -> None:
    """A reverse edge among the first probed edges ends the DAG test early (an undirected graph
    stored both ways); without one, Kahn's algorithm decides. The verdict is NetworkX's."""
    import networkx as nx

    monkeypatch.setattr(kl, "_TWO_CYCLE_PROBES", probes)
    rng = np.random.default_rng(5)
    for n, density, two_way in ((40, 0.1, True), (40, 0.1, False), (120, 0.03, False), (6, 0.0, False)):
        m = _random_dag(rng, n, density, True, False)
        if two_way:
            m = (m + m.T).tocsr()
            m.sort_indices()
        ip, ix = m.indptr.astype(np.int64), m.indices.astype(np.int64)
        _, ok = kl.dag_levels(ip, ix)
        assert ok == nx.is_directed_acyclic_graph(nx.from_scipy_sparse_array(m, create_using=nx.DiGraph))
        assert kl._two_cycle(ip, ix, 10**6) == (two_way and m.nnz > 0)
    # a cycle of length 3 has no reverse edge: only Kahn's algorithm finds it
    cyc = sp.csr_array((np.ones(3), (np.array([0, 1, 2]), np.array([1, 2, 0]))), shape=(3, 3))
    assert not kl._two_cycle(cyc.indptr.astype(np.int64), cyc.indices.astype(np.int64), 10**6)


@pytest.mark.parametrize("loops", [False, True])
def test_block_pairs_level_numbered_matches_edge_scan(loops: bool) -> None:
    rng = np.random.default_rng(11 + loops)
    m = _random_dag(rng, 150, 0.08, False, loops)
    ip, ix = m.indptr.astype(np.int64), m.indices.astype(np.int64)
    level, _ = kl.dag_levels(ip, ix)
    order = np.argsort(level, kind="stable")  # renumber level by level
    inv = np.empty_like(order)
    inv[order] = np.arange(order.size)
    coo = m.tocoo()
    mr = sp.csr_array((coo.data, (inv[coo.row], inv[coo.col])), shape=m.shape)
    mr.sort_indices()
    lv = level[order]
    lvl_off = np.searchsorted(lv, np.arange(lv.max() + 2)).astype(np.int64)
    ipr, ixr = mr.indptr.astype(np.int64), mr.indices.astype(np.int64)
    fast = kl.block_pairs(ipr, ixr, lv, lvl_off, True)
    slow = kl.block_pairs(ipr, ixr, lv, lvl_off, False)
    keep = coo.row != coo.col
    expect = np.zeros((lvl_off.size - 1,) * 2, bool)
    expect[level[coo.row[keep]], level[coo.col[keep]]] = True
    for present, n_edges in (fast, slow):
        np.testing.assert_array_equal(present, expect)
        assert n_edges == int(keep.sum())
