"""Unit tests of the numba CPU kernels (mfa_engine.kernels.cpu_paths) against NumPy/SciPy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse import csgraph

from mfa_engine.kernels import cpu_paths as cp


def _minplus_ref(d: np.ndarray, w: np.ndarray, thr: float) -> np.ndarray:
    d = np.where(d > thr, np.inf, d)
    return (d[:, :, None] + w[None, :, :]).min(axis=1) if d.shape[1] else np.full((d.shape[0], w.shape[1]), np.inf)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nb,na,ncol", [(1, 1, 1), (3, 5, 7), (5, 131, 37), (2, 4, 600), (33, 9, 513)])
def test_minplus_into_matches_numpy(dtype, nb: int, na: int, ncol: int) -> None:
    rng = np.random.default_rng(nb * 1000 + na + ncol)
    d = rng.uniform(0, 3, (nb, na)).astype(dtype)
    d[rng.random((nb, na)) < 0.3] = np.inf
    w = rng.uniform(0, 3, (na, ncol)).astype(dtype)
    w[rng.random((na, ncol)) < 0.4] = np.inf
    prev = rng.uniform(1, 6, (nb, ncol)).astype(dtype)
    buf = np.concatenate([d, prev], axis=1)
    thr = 2.0
    wt = np.empty((cp.RED_TILE, cp.COL_TILE), dtype)
    xt = np.empty((nb, cp.RED_TILE), dtype)
    cp.minplus_into(buf, 0, na, w.ravel(), 0, na, ncol, dtype(thr), dtype(np.inf), dtype(0), wt, xt)
    expect = np.minimum(prev, _minplus_ref(d, w, thr))
    np.testing.assert_array_equal(buf[:, na:], expect)
    np.testing.assert_array_equal(buf[:, :na], d)  # source level untouched


def test_radius_table_bucket_matches_searchsorted() -> None:
    rng = np.random.default_rng(0)
    for radii in (np.geomspace(1e-3, 1e4, 64), np.array([0.0, 0.5, 0.5, 2.0, np.inf]), np.array([3.0])):
        for dtype, big in ((np.float64, 1e300), (np.float32, 3e38)):
            tab = cp.radius_table(radii, dtype)
            d = np.concatenate([rng.uniform(0, 1e4, 500), radii[np.isfinite(radii)], [0.0, big]]).astype(dtype)
            near = radii[np.isfinite(radii)].astype(dtype)  # float32 neighbours of every radius
            d = np.concatenate([d, np.nextafter(near, dtype(0)), np.nextafter(near, dtype(np.inf))])
            bits = d.view(np.uint32 if dtype == np.float32 else np.uint64)
            got = cp._bucket_many(cp.padded_radii(radii), tab, d, bits)
            np.testing.assert_array_equal(got, np.searchsorted(radii, d.astype(np.float64), side="left"))


def test_histogram_to_counts() -> None:
    hist = np.array([[1, 0, 2, 5], [0, 0, 0, 1]], np.int64)
    np.testing.assert_array_equal(cp.histogram_to_counts(hist), [[1, 1, 3], [0, 0, 0]])


@pytest.mark.parametrize("n", [1, 7, 64])
def test_csr_dijkstra_counts_matches_scipy(n: int) -> None:
    rng = np.random.default_rng(n)
    m = sp.random_array((n, n), density=0.15, rng=rng, format="csr")
    m.data = rng.integers(1, 4, m.nnz).astype(np.float64)
    src = rng.integers(0, n, 9).astype(np.int64)
    cutoff = 4.0
    radii = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    hist = np.zeros((src.size, radii.size + 1), np.int64)
    dist = np.full((src.size, n), np.inf, np.float32)
    cp.csr_dijkstra_counts(m.indptr.astype(np.int64), m.indices.astype(np.int64), m.data, src, radii, cutoff, hist, dist, True)
    ref = csgraph.dijkstra(m, indices=src, limit=cutoff)
    np.testing.assert_array_equal(dist, ref.astype(np.float32))
    counts = cp.histogram_to_counts(hist)
    expect = (np.where(np.isfinite(ref), ref, np.nan)[:, None, :] <= radii[None, :, None]).sum(-1)
    np.testing.assert_array_equal(counts, expect)


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
        level, ok = cp.dag_levels(m.indptr.astype(np.int64), m.indices.astype(np.int64))
        assert ok
        np.testing.assert_array_equal(level, _levels_ref(m))
    cyc = sp.csr_array((np.ones(3), (np.array([0, 1, 2]), np.array([1, 2, 0]))), shape=(3, 3))
    assert not cp.dag_levels(cyc.indptr.astype(np.int64), cyc.indices.astype(np.int64))[1]


@pytest.mark.parametrize("loops", [False, True])
def test_block_pairs_level_numbered_matches_edge_scan(loops: bool) -> None:
    rng = np.random.default_rng(11 + loops)
    m = _random_dag(rng, 150, 0.08, False, loops)
    ip, ix = m.indptr.astype(np.int64), m.indices.astype(np.int64)
    level, _ = cp.dag_levels(ip, ix)
    order = np.argsort(level, kind="stable")  # renumber level by level
    inv = np.empty_like(order)
    inv[order] = np.arange(order.size)
    coo = m.tocoo()
    mr = sp.csr_array((coo.data, (inv[coo.row], inv[coo.col])), shape=m.shape)
    mr.sort_indices()
    lv = level[order]
    lvl_off = np.searchsorted(lv, np.arange(lv.max() + 2)).astype(np.int64)
    ipr, ixr = mr.indptr.astype(np.int64), mr.indices.astype(np.int64)
    fast = cp.block_pairs(ipr, ixr, lv, lvl_off, True)
    slow = cp.block_pairs(ipr, ixr, lv, lvl_off, False)
    keep = coo.row != coo.col
    expect = np.zeros((lvl_off.size - 1,) * 2, bool)
    expect[level[coo.row[keep]], level[coo.col[keep]]] = True
    for present, n_edges in (fast, slow):
        np.testing.assert_array_equal(present, expect)
        assert n_edges == int(keep.sum())


def test_scan_values_weight_range_and_cast_range() -> None:
    x = np.array([0.0, 2.5, 1e-3, 7.0])
    assert cp.scan_values(x) == (False, False, False)
    assert cp.scan_values(np.array([1.0, np.nan])) == (True, False, False)
    assert cp.scan_values(np.array([1.0, -0.5])) == (False, True, False)
    assert cp.scan_values(np.array([np.inf, 1.0])) == (False, False, True)
    assert cp.weight_range(x) == (1e-3, 7.0)
    assert cp.weight_range(np.zeros(0)) == (np.inf, 0.0)
    big = np.random.default_rng(0).uniform(0, 5, 100_003)
    out = np.empty(big.size, np.float32)
    assert cp.cast_range(big, out) == cp.weight_range(big)
    np.testing.assert_array_equal(out, big.astype(np.float32))


def test_hash_words_sees_every_word() -> None:
    words = np.random.default_rng(3).integers(0, 2**63, 3 * (1 << 16) + 5, dtype=np.uint64)
    none = np.zeros(0)

    def hw(w: np.ndarray) -> int:
        h, *flags = cp.hash_words(w, 8 * w.size, none)
        assert flags == [False, False, False]  # no values given: no scan
        return int(h)

    h = hw(words)
    assert hw(words) == h
    for i in (0, 1, 2, 3, 1 << 16, words.size - 1):
        changed = words.copy()
        changed[i] ^= np.uint64(1) << np.uint64(i % 64)
        assert hw(changed) != h
    swapped = words.copy()
    swapped[[0, 1]] = swapped[[1, 0]]
    assert hw(swapped) != h


@pytest.mark.parametrize("bad", [None, "nan", "neg", "inf", "nan+inf"])
def test_hash_words_scan_matches_scan_values(bad: str | None) -> None:
    values = np.random.default_rng(4).uniform(0, 5, 2 * (1 << 16) + 3)
    if bad:
        for kind, pos in zip(bad.split("+"), (1 << 16, values.size - 1)):
            values[pos] = {"nan": np.nan, "neg": -1.0, "inf": np.inf}[kind]
    words = values.view(np.uint64)
    h, *flags = cp.hash_words(words, 8 * words.size, values)
    assert tuple(flags) == cp.scan_values(values)
    assert tuple(flags) == (bad is not None and "nan" in bad, bad == "neg", bad is not None and "inf" in bad)
    assert h == cp.hash_words(words, 8 * words.size, np.zeros(0))[0]  # the scan does not change the hash




def test_fetch_add_hands_out_every_item_once() -> None:
    """The work-queue counter of the DAG kernel: workers claim items with an atomic
    fetch-and-add; each item must be claimed exactly once, whatever the interleaving."""
    import numba

    @numba.njit(parallel=True)
    def count(n: int, workers: int, counter: np.ndarray, hits: np.ndarray) -> None:
        for _ in numba.prange(workers):
            while True:
                i = cp._fetch_add(counter, 0, 1)
                if i >= n:
                    break
                hits[i] += 1

    @numba.njit
    def add(counter: np.ndarray, v: int) -> int:
        return cp._fetch_add(counter, 0, v)

    n, workers = 100_003, 4 * numba.get_num_threads()
    counter = np.zeros(1, np.int64)
    hits = np.zeros(n, np.int64)
    count(n, workers, counter, hits)
    np.testing.assert_array_equal(hits, 1)
    assert counter[0] == n + workers  # one failed claim per worker
    assert add(counter, 5) == n + workers  # returns the previous value ...
    assert counter[0] == n + workers + 5  # ... and adds
