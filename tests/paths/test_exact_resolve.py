"""Exact counts from the float32 DAG pass without re-running sources (issue 20, item 1).

The float32 min-plus pass resolves each (source, target) entry that lands within its rounding
bound of a radius in place, from the row's float32 distances and the float64 weights
(``cpu_resolve._resolve_entry``). Oracle: SciPy's float64 Dijkstra.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse import csgraph

from mfa_engine.paths import cpu, multi_source_counts, multi_source_distances


def _tie_rich(rng: np.random.Generator, sizes: list[int], density: float, skip: bool) -> sp.csr_array:
    """Layered DAG whose distances often sit exactly on (or within float32 rounding of) the
    radii: weights on a coarse decimal grid that float32 cannot hold exactly."""
    off = np.concatenate([[0], np.cumsum(sizes)])
    rows, cols, vals = [], [], []
    for lv in range(len(sizes) - 1):
        targets = [lv + 1] + ([lv + 2] if skip and lv + 2 < len(sizes) else [])
        for t in targets:
            i, j = np.meshgrid(np.arange(sizes[lv]), np.arange(sizes[t]), indexing="ij")
            keep = rng.random(i.size) < (density if t == lv + 1 else density / 8)
            rows.append((i + off[lv]).ravel()[keep])
            cols.append((j + off[t]).ravel()[keep])
            vals.append(np.round(rng.uniform(0.1, 2.0, int(keep.sum())), 1))
    n = int(off[-1])
    return sp.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


def _oracle(m: sp.csr_array, src: np.ndarray, radii: np.ndarray) -> np.ndarray:
    d = csgraph.dijkstra(m, indices=src)
    return np.stack([(d <= r).sum(axis=1) for r in radii], axis=1)


@pytest.mark.parametrize("sizes,density,skip", [
    ([5, 7, 3, 9, 4], 0.8, False),
    ([37, 129, 64, 33, 200, 41], 0.7, False),
    ([31, 17, 53, 29, 61], 0.5, True),
])
@pytest.mark.parametrize("n_src", [1, 7, 70, None])
def test_counts_exact_without_rerun(sizes: list[int], density: float, skip: bool, n_src: int | None) -> None:
    rng = np.random.default_rng(len(sizes) * 100 + (n_src or 0))
    m = _tie_rich(rng, sizes, density, skip)
    n = m.shape[0]
    src = np.arange(n) if n_src is None else rng.integers(0, n, n_src)
    d = csgraph.dijkstra(m, indices=np.arange(n))
    fin = np.unique(d[np.isfinite(d) & (d > 0)])
    radii = np.concatenate([[0.0], rng.choice(fin, min(40, fin.size), replace=False)])  # radii ON distances
    got = multi_source_counts(m, src, radii)
    assert cpu.LAST_STATS["flagged"] == 0
    np.testing.assert_array_equal(got, _oracle(m, src, radii))


def test_resolution_does_work_and_matches_the_rerun_scheme() -> None:
    from mfa_engine.paths import dag
    from mfa_engine.paths.inputs import as_csr

    rng = np.random.default_rng(7)
    m = _tie_rich(rng, [37, 129, 64, 33, 200, 41], 0.7, False)
    lv = dag.detect_dag(as_csr(m))
    src = np.arange(m.shape[0])
    d = csgraph.dijkstra(m, indices=src)
    radii = np.unique(np.quantile(d[np.isfinite(d)], np.linspace(0.01, 0.99, 64)))
    h_res, _ = cpu.dag_histogram(lv, src, radii)
    assert cpu.LAST_STATS["resolved"] > 0 and cpu.LAST_STATS["flagged"] == 0
    h_old, _ = cpu.dag_histogram(lv, src, radii, resolve=False)
    assert cpu.LAST_STATS["flagged"] > 0  # the earlier scheme re-runs whole sources
    np.testing.assert_array_equal(h_res[:, :-1], h_old[:, :-1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_distances_at_the_cutoff_are_exact(dtype) -> None:
    """Distances: an entry whose float32 value is within rounding of the cutoff is resolved
    in float64, so inclusion at the cutoff is SciPy's (``limit`` inclusive)."""
    rng = np.random.default_rng(3)
    m = _tie_rich(rng, [23, 41, 19, 37], 0.8, True)
    m = sp.csr_array((m.data.astype(dtype), m.indices, m.indptr), shape=m.shape)
    src = np.arange(0, m.shape[0], 3)
    ref = csgraph.dijkstra(m.astype(np.float64), indices=src)
    cutoff = float(np.median(np.unique(ref[np.isfinite(ref)])))
    got = multi_source_distances(m, src, cutoff=cutoff)
    ref[ref > cutoff] = np.inf
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(ref))
    np.testing.assert_allclose(got[np.isfinite(got)], ref[np.isfinite(ref)], rtol=1e-5)


@pytest.mark.parametrize("heads,hd", [(3, 64), (5, 70), (2, 33)])
def test_block_diagonal_block_runs_on_its_heads(heads: int, hd: int) -> None:
    """A structural-like block (block-diagonal per head, a diagonal part as the v -> ctx edges)
    is cut into tiles with the all-+inf ones dropped; counts stay those of float64 Dijkstra."""
    from mfa_engine.layered import LayeredGraph
    from mfa_engine.paths import dag

    rng = np.random.default_rng(heads * hd)
    n_in, n_qkv, n_ctx, n_out = 50, 3 * heads * hd, heads * hd, 41
    mask = np.zeros((n_qkv, n_ctx), bool)
    for h in range(heads):
        cols = slice(h * hd, (h + 1) * hd)
        mask[h * hd : (h + 1) * hd, cols] = True  # q of head h
        mask[(heads + h) * hd : (heads + h + 1) * hd, cols] = True  # k
        mask[(2 * heads + h) * hd + np.arange(hd), h * hd + np.arange(hd)] = True  # v (h, d) -> ctx (h, d)
    struct = np.where(mask, 1.3, np.inf)
    blocks = [np.round(rng.uniform(0.2, 2, (n_in, n_qkv)), 1), struct, np.round(rng.uniform(0.2, 2, (n_ctx, n_out)), 1)]
    g = LayeredGraph([n_in, n_qkv, n_ctx, n_out], blocks)
    lv = dag.from_layered(g)
    t = lv.tiles(np.float32)
    struct_area = int((t.nr * t.nc).sum()) - n_in * n_qkv - n_ctx * n_out
    assert struct_area <= n_qkv * n_ctx
    if hd % dag.SPARSE_TILE == 0:  # heads aligned with the tiles: exactly the heads' blocks
        assert t.nr.size > 3 and struct_area == 3 * heads * hd * hd
    m = sp.csr_array(g.to_csr())
    src = np.arange(0, g.n_nodes - n_out, 5)
    d = csgraph.dijkstra(m, indices=src)
    radii = np.unique(np.quantile(d[np.isfinite(d)], np.linspace(0.0, 1.0, 33)))
    np.testing.assert_array_equal(multi_source_counts(g, src, radii), _oracle(m, src, radii))


def test_an_empty_block_is_dropped_from_the_tiles() -> None:
    """A level pair whose block holds no edge at all (possible in a layered graph) has no
    rectangle; the other blocks keep theirs, aligned with their own offsets."""
    from mfa_engine.layered import LayeredGraph
    from mfa_engine.paths import dag

    blocks = [np.full((3, 4), 1.5), np.full((4, 2), np.inf), np.array([[0.5, 2.0, np.inf]] * 2)]
    g = LayeredGraph([3, 4, 2, 3], blocks)
    t = dag.from_layered(g).tiles(np.float32)
    assert t.src.tolist() == [0, 2] and t.off.size == 2 and t.nr.tolist() == [3, 2]
    m = sp.csr_array(g.to_csr())
    src = np.arange(g.n_nodes)
    radii = np.array([0.0, 0.5, 1.5, 2.0, 9.0])
    np.testing.assert_array_equal(multi_source_counts(g, src, radii), _oracle(m, src, radii))


@pytest.mark.parametrize("tile", ["0", "avx2", "avx512"])
@pytest.mark.parametrize("intmin", ["0", "1"])
def test_counts_exact_on_every_minplus_kernel(monkeypatch: pytest.MonkeyPatch, tile: str, intmin: str) -> None:
    """The loop-vectorised kernel and both register tiles (AVX2; AVX-512, split in two where
    the host lacks it), float and integer minima: counts equal float64 Dijkstra's exactly,
    with every radius on a distance (no tolerance anywhere)."""
    monkeypatch.setenv("MFA_MINPLUS_TILE", tile)
    monkeypatch.setenv("MFA_MINPLUS_INTMIN", intmin)
    rng = np.random.default_rng(11)
    m = _tie_rich(rng, [37, 129, 64, 33, 200, 41], 0.7, True)
    src = np.arange(m.shape[0])
    d = csgraph.dijkstra(m, indices=src)
    fin = np.unique(d[np.isfinite(d) & (d > 0)])
    radii = np.concatenate([[0.0], rng.choice(fin, min(40, fin.size), replace=False)])
    got = multi_source_counts(m, src, radii)
    assert cpu.LAST_STATS["flagged"] == 0
    np.testing.assert_array_equal(got, _oracle(m, src, radii))


@pytest.mark.parametrize("buf_bytes", [None, 1])
def test_counts_exact_with_full_and_capped_source_groups(monkeypatch: pytest.MonkeyPatch, buf_bytes) -> None:
    """Levels wider than a source group (SRC_BLOCK = 256: a level of 300 sources runs as 256 +
    44) and, with the row-buffer budget at nothing, groups cut to 32: counts equal float64
    Dijkstra's either way."""
    if buf_bytes is not None:
        monkeypatch.setattr(cpu, "_BUF_BYTES", buf_bytes)
    rng = np.random.default_rng(12)
    m = _tie_rich(rng, [300, 257, 41, 270, 9], 0.6, True)
    src = np.arange(m.shape[0])
    d = csgraph.dijkstra(m, indices=src)
    fin = np.unique(d[np.isfinite(d) & (d > 0)])
    radii = np.concatenate([[0.0], rng.choice(fin, min(40, fin.size), replace=False)])
    got = multi_source_counts(m, src, radii)
    assert cpu.LAST_STATS["flagged"] == 0
    np.testing.assert_array_equal(got, _oracle(m, src, radii))
