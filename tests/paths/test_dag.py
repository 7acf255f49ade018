"""DAG detection, dense level blocks and the per-matrix cache (mfa_engine.paths.dag)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mfa_engine.errors import ConfigError
from mfa_engine.paths import dag, multi_source_counts, multi_source_distances, prepare_graph
from mfa_engine.paths.inputs import as_csr
from tests.paths.paths_graphs import layered_to_csr, oracle_counts, oracle_distances, random_layered


def _permuted(m: sp.csr_array, perm: np.ndarray) -> sp.csr_array:
    """Relabel node i as perm[i]."""
    coo = m.tocoo()
    return sp.csr_array((coo.data, (perm[coo.row], perm[coo.col])), shape=m.shape)


def test_layered_csr_detected_with_levels() -> None:
    rng = np.random.default_rng(0)
    g = random_layered(rng, [4, 6, 3, 5], 1.0, "float")
    lv = dag.detect_dag(as_csr(layered_to_csr(g)))
    assert lv is not None and lv.perm is None
    np.testing.assert_array_equal(lv.lvl_off, [0, 4, 10, 13, 18])
    assert [(a, b) for a, b, _ in lv.blocks] == [(0, 1), (1, 2), (2, 3)]
    np.testing.assert_array_equal(lv.blocks[1][2], g.blocks[1])


def test_permuted_dag_with_skip_edges_and_self_loops() -> None:
    rng = np.random.default_rng(1)
    g = random_layered(rng, [5, 7, 4, 6], 0.5, "int")
    m = layered_to_csr(g).tolil()
    m[0, 12] = 1.5  # level 0 -> level 2 (skip edge)
    m[6, 20] = 0.5  # level 1 -> level 3
    m[3, 3] = 2.0  # self-loop: ignored by shortest paths
    m = sp.csr_array(m)
    perm = rng.permutation(m.shape[0])
    mp = _permuted(m, perm)
    lv = dag.detect_dag(as_csr(mp))
    assert lv is not None and lv.perm is not None
    assert any(b - a > 1 for a, b, _ in lv.blocks)
    src = rng.integers(0, m.shape[0], 9)
    radii = np.array([0.0, 1.0, 1.5, 2.0, 3.0, 4.5, 7.0])
    np.testing.assert_array_equal(multi_source_counts(mp, src, radii), oracle_counts(mp, src, radii))
    ref = oracle_distances(mp, src)
    got = multi_source_distances(mp, src)
    np.testing.assert_array_equal(got, ref.astype(np.float32))


def test_cycle_is_not_a_dag_and_still_correct() -> None:
    m = sp.csr_array((np.array([1.0, 2.0, 3.0]), (np.array([0, 1, 2]), np.array([1, 2, 0]))), shape=(4, 4))
    assert dag.detect_dag(as_csr(m)) is None
    np.testing.assert_array_equal(multi_source_counts(m, [0, 3], [0.0, 1.0, 3.0, 6.0]), [[1, 2, 3, 3], [1, 1, 1, 1]])


def test_cache_hit_and_invalidation_on_change() -> None:
    rng = np.random.default_rng(2)
    m = layered_to_csr(random_layered(rng, [3, 4, 2], 1.0, "int"))
    first = prepare_graph(m)
    assert first.kind == "dag" and prepare_graph(m) is first  # cached while unchanged
    m.data[:] = 1.0  # in-place change
    second = prepare_graph(m)
    assert second is not first and second.obj is not first.obj
    np.testing.assert_array_equal(second.obj.blocks[0][2], np.ones((3, 4)))
    np.testing.assert_array_equal(multi_source_counts(m, [0], [1.0, 2.0]), [[5, 7]])


def test_undirected_form_cached_separately_and_invalidated(monkeypatch: pytest.MonkeyPatch) -> None:
    """directed=False symmetrises once per unchanged matrix (cached apart from the directed
    form); an in-place change rebuilds it. Counts equal SciPy's undirected Dijkstra."""
    from scipy.sparse import csgraph

    from mfa_engine.paths import prepare

    calls = []
    real = prepare.symmetrise
    monkeypatch.setattr(prepare, "symmetrise", lambda c: calls.append(1) or real(c))
    rng = np.random.default_rng(8)
    m = sp.random_array((60, 60), density=0.06, rng=rng, format="csr", data_sampler=lambda size: rng.uniform(0.5, 2, size))
    radii = [0.5, 1.5, 3.0]

    def ref() -> np.ndarray:
        d = csgraph.dijkstra(m, directed=False, indices=[0, 7, 33])
        return (d[:, None, :] <= np.array(radii)[None, :, None]).sum(-1)

    first = multi_source_counts(m, [0, 7, 33], radii, directed=False)
    np.testing.assert_array_equal(first, ref())
    np.testing.assert_array_equal(multi_source_counts(m, [0, 7, 33], radii, directed=False), first)
    assert len(calls) == 1
    multi_source_counts(m, [0], radii, directed=True)  # the directed form: its own entry
    assert len(calls) == 1
    m.data[:] *= 0.5  # in place
    np.testing.assert_array_equal(multi_source_counts(m, [0, 7, 33], radii, directed=False), ref())
    assert len(calls) == 2


@pytest.mark.parametrize("bad", ["nan", "negative", "inf", "in-place nan"])
def test_large_data_checked_while_hashing(bad: str) -> None:
    """Data arrays of >= 64 KiB are checked for NaN / negative / inf in the hashing pass."""
    rng = np.random.default_rng(6)
    m = layered_to_csr(random_layered(rng, [50, 60, 70, 40], 1.0, "float"))  # 10000 edges, 80 KB
    assert m.data.nbytes >= dag._SMALL_HASH_BYTES and m.has_canonical_format
    src, radii = np.arange(0, 50, 7), np.array([0.5, 1.0, 2.0, 4.0])
    if bad == "inf":  # an explicit inf is no edge
        m.data[[3, 5000]] = np.inf
        ref = m.copy()
        ref.data[np.isinf(ref.data)] = 0
        ref.eliminate_zeros()
        np.testing.assert_array_equal(multi_source_counts(m, src, radii), oracle_counts(ref, src, radii))
        return
    if bad == "in-place nan":  # cached first, then broken in place: the new hash pass sees it
        multi_source_counts(m, src, radii)
    m.data[4321] = -1.0 if bad == "negative" else np.nan
    with pytest.raises(ConfigError, match="negative" if bad == "negative" else "NaN"):
        multi_source_counts(m, src, radii)


def test_deep_or_sparse_dags_take_general_path() -> None:
    n = 600  # a path 0 -> 1 -> ... -> 599: more levels than MAX_LEVELS
    path = sp.csr_array((np.ones(n - 1), (np.arange(n - 1), np.arange(1, n))), shape=(n, n))
    assert dag.detect_dag(as_csr(path)) is None
    np.testing.assert_array_equal(multi_source_counts(path, [0, 599], [0.0, 10.0, 1e9]), [[1, 11, 600], [1, 1, 1]])
    k = np.arange(1000)  # a matching: 2 levels of 1000 nodes, a 1000 x 1000 block holding 1000 edges
    matching = sp.csr_array((np.ones(1000), (k, k + 1000)), shape=(2000, 2000))
    assert dag.detect_dag(as_csr(matching)) is None
    np.testing.assert_array_equal(multi_source_counts(matching, [5, 1005], [1.0]), [[2], [1]])
    star = sp.csr_array((np.ones(n - 1), (np.zeros(n - 1, int), np.arange(1, n))), shape=(n, n))
    assert dag.detect_dag(as_csr(star)) is not None


def test_exact_on_radii_equal_to_path_lengths_many_and_few_sources() -> None:
    """float32 pass + float64 recomputation stay exact when radii hit exact path lengths, both
    for source groups of one level (many sources) and mixed-level groups (few sources)."""
    rng = np.random.default_rng(5)
    g = random_layered(rng, [40, 30, 50, 20, 40], 0.7, "float")
    m = layered_to_csr(g)
    n = m.shape[0]
    many = rng.integers(0, n, 150)
    ref = oracle_distances(m, many)
    fin = np.unique(ref[np.isfinite(ref) & (ref > 0)])
    radii = np.concatenate([rng.choice(fin, 40, replace=False), [0.0, np.inf]])
    for src in (many, many[:5], many[:1]):
        dag._CACHE.clear()
        np.testing.assert_array_equal(multi_source_counts(m, src, radii), oracle_counts(m, src, radii))
        got, ref = multi_source_distances(m, src), oracle_distances(m, src)
        np.testing.assert_array_equal(np.isinf(got), np.isinf(ref))
        np.testing.assert_allclose(got[np.isfinite(ref)], ref[np.isfinite(ref)], rtol=1e-5)


def test_group_sources_by_level_and_mixed() -> None:
    from mfa_engine.paths.cpu import group_sources

    level = np.array([2, 0, 1, 0, 2, 2, 0], np.int64)
    order, grp = group_sources(level, 2)
    assert list(level[order]) == [0, 0, 0, 1, 2, 2, 2]
    np.testing.assert_array_equal(grp, [0, 2, 3, 4, 6, 7])  # cut at level changes and every 2
    order, grp = group_sources(level, 3, by_level=False)
    assert list(level[order]) == [0, 0, 0, 1, 2, 2, 2]
    np.testing.assert_array_equal(grp, [0, 3, 6, 7])  # levels mixed, sorted within each group
