"""Benchmark inputs and peer runners for the path kernels (shared by bench_paths.py and paths_table.py).

Cases (all handed to the engine as SciPy CSR, so DAG detection and block gathering are timed):
  layered_8x512   8 layers of 512 nodes, dense blocks, 512 random sources, 64 radii
  layered_8x512_l0  the same graph, the 512 sources = the input layer (the most work per source)
  layered_8x2048  8 layers of 2048 nodes, dense blocks, 512 sources, 64 radii
  nin_sampled     a sampled NIN (GPT-NeoX, Pythia-70M shapes, 32 neurons/layer), every node a centre
  random_sparse   random directed graph, 20000 nodes, mean out-degree 8, 256 sources (general path)
General graphs (undirected, stored both ways; 256 sources; cutoff = the 1st percentile of the
distances from 64 of them, so a ball holds about 1% of the nodes; 64 radii up to the cutoff):
  rgg_100k        random geometric graph, 100000 points in the unit square, mean degree 10,
                  Euclidean edge lengths (road-like)
  ba_100k         Barabasi-Albert, 100000 nodes, 4 edges per new node (power-law degrees),
                  weights uniform in [0.5, 2]
  grid_100k       317 x 317 grid (100489 nodes), 4-neighbour, weights uniform in [0.5, 1.5]

Relaxations = edge relaxations a label-setting search from every source performs (each edge out of
every node reachable from the source; for dense layered DAGs this equals the min-plus work).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

__all__ = ["Case", "make_case", "CASES", "GENERAL_CASES", "run_method", "METHODS", "best_time", "check_counts"]

CASES = ("layered_8x512", "layered_8x512_l0", "layered_8x2048", "nin_sampled", "random_sparse")
#: General-graph families (>= 100k nodes) for the general CPU kernel.
GENERAL_CASES = ("rgg_100k", "ba_100k", "grid_100k")


@dataclass
class Case:
    """One benchmark input: graph (CSR), sources, radius grid, and the relaxation count."""

    name: str
    graph: sp.csr_array
    sources: np.ndarray
    radii: np.ndarray
    relaxations: int


def _layered(rng: np.random.Generator, layers: int, width: int) -> sp.csr_array:
    n = layers * width
    rows, cols, vals = [], [], []
    for l in range(layers - 1):
        i, j = np.meshgrid(np.arange(width), np.arange(width), indexing="ij")
        rows.append((i + l * width).ravel())
        cols.append((j + (l + 1) * width).ravel())
        vals.append(1.0 / np.abs(rng.normal(0, 0.02, width * width)))
    return sp.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


def _nin(rng: np.random.Generator) -> sp.csr_array:
    import tempfile

    try:
        from mfa_engine.arch import get_adapter
        from mfa_engine.checkpoints import open_checkpoint
        from mfa_engine.nin import build_nin
        from mfa_engine.synthetic import write_gpt_neox_checkpoint

        with tempfile.TemporaryDirectory() as tmp:
            path = write_gpt_neox_checkpoint(tmp, seed=0, hidden_size=512, num_hidden_layers=6,
                                             num_attention_heads=8, intermediate_size=2048, vocab_size=64)
            with open_checkpoint(path) as ckpt:
                g = build_nin(ckpt, get_adapter(ckpt.config), neurons_per_layer=32, seed=0)
        return sp.csr_array(g.to_csr())
    except Exception:  # NIN builder unavailable: a NIN-shaped layered graph of the same sizes
        sizes = [32, 96, 32, 32, 64] * 6 + [32]
        off = np.concatenate([[0], np.cumsum(sizes)])
        rows, cols, vals = [], [], []
        for l in range(len(sizes) - 1):
            i, j = np.meshgrid(np.arange(sizes[l]), np.arange(sizes[l + 1]), indexing="ij")
            rows.append((i + off[l]).ravel())
            cols.append((j + off[l + 1]).ravel())
            vals.append(1.0 / np.abs(rng.normal(0, 0.02, i.size)))
        n = int(off[-1])
        return sp.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


def _random_sparse(rng: np.random.Generator, n: int = 20000, degree: int = 8) -> sp.csr_array:
    rows = np.repeat(np.arange(n), degree)
    cols = rng.integers(0, n, n * degree)
    vals = rng.uniform(0.5, 2.0, n * degree)
    m = sp.csr_array((vals, (rows, cols)), shape=(n, n))
    m.sum_duplicates()
    return m


def _undirected(i: np.ndarray, j: np.ndarray, w: np.ndarray, n: int) -> sp.csr_array:
    """CSR holding every edge (each pair given once) both ways."""
    m = sp.coo_array((np.concatenate([w, w]), (np.concatenate([i, j]), np.concatenate([j, i]))), shape=(n, n))
    m = sp.csr_array(m.tocsr())  # sums duplicates: the generators emit each pair once
    m.sort_indices()
    return m


def _rgg(rng: np.random.Generator, n: int = 100_000, degree: float = 10.0) -> sp.csr_array:
    from scipy.spatial import cKDTree

    pts = rng.random((n, 2))
    pairs = cKDTree(pts).query_pairs(np.sqrt(degree / (np.pi * n)), output_type="ndarray")
    w = np.linalg.norm(pts[pairs[:, 0]] - pts[pairs[:, 1]], axis=1)
    return _undirected(pairs[:, 0], pairs[:, 1], w, n)


def _ba(rng: np.random.Generator, n: int = 100_000, m_new: int = 4) -> sp.csr_array:
    """Barabasi-Albert by preferential attachment (the repeated-endpoints list)."""
    i = np.empty(m_new * (n - m_new), np.int64)
    j = np.empty_like(i)
    ends = np.empty(2 * i.size + m_new, np.int64)
    ends[:m_new] = np.arange(m_new)
    ne, k = m_new, 0
    for v in range(m_new, n):
        targets: set[int] = set()
        while len(targets) < m_new:
            targets.update(ends[rng.integers(0, ne, m_new - len(targets))].tolist())
        for t in targets:
            i[k], j[k] = v, t
            k += 1
        ends[ne : ne + m_new] = list(targets)
        ends[ne + m_new : ne + 2 * m_new] = v
        ne += 2 * m_new
    return _undirected(i, j, rng.uniform(0.5, 2.0, i.size), n)


def _grid(rng: np.random.Generator, side: int = 317) -> sp.csr_array:
    idx = np.arange(side * side).reshape(side, side)
    i = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    j = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    return _undirected(i, j, rng.uniform(0.5, 1.5, i.size), side * side)


def _ball_radii(m: sp.csr_array, sources: np.ndarray, n: int = 64, share: float = 1.0) -> np.ndarray:
    """64 radii up to the ``share`` percentile of the distances from 64 of the case's sources
    (so the mean ball holds about ``share`` % of the nodes, also on power-law graphs)."""
    d = csgraph.dijkstra(m, indices=sources[np.linspace(0, sources.size - 1, 64).astype(int)])
    fin = d[np.isfinite(d) & (d > 0)]
    top = float(np.percentile(fin, share))
    return np.geomspace(top / 64, top, n)


def _radii(m: sp.csr_array, sources: np.ndarray, n: int = 64) -> np.ndarray:
    """64 log-spaced radii from the smallest edge to the 99th percentile of finite distances."""
    d = csgraph.dijkstra(m, indices=sources[:8])
    fin = d[np.isfinite(d) & (d > 0)]
    return np.geomspace(float(m.data.min()), float(np.percentile(fin, 99)), n)


def _relaxations(m: sp.csr_array, sources: np.ndarray, cutoff: float) -> int:
    """Edge relaxations of a bounded search from every source (exact, via SciPy on a sample)."""
    take = sources if sources.size <= 32 else sources[np.linspace(0, sources.size - 1, 32).astype(int)]
    d = csgraph.dijkstra(m, indices=take, limit=cutoff)
    outdeg = np.diff(m.indptr)
    per = (np.isfinite(d) * outdeg[None, :]).sum(axis=1)
    return int(round(per.mean() * sources.size))


def make_case(name: str, seed: int = 0, share: float = 1.0) -> Case:
    """Build a benchmark case by name (see module docstring); ``share``: for the general
    families, the percentile of the distances used as the cutoff (ball size in % of N)."""
    rng = np.random.default_rng(seed)
    if name in ("layered_8x512", "layered_8x512_l0"):
        m, s = _layered(rng, 8, 512), 512
    elif name == "layered_8x2048":
        m, s = _layered(rng, 8, 2048), 512
    elif name == "nin_sampled":
        m = _nin(rng)
        s = m.shape[0]
    elif name == "random_sparse":
        m, s = _random_sparse(rng), 256
    elif name in GENERAL_CASES:
        m = {"rgg_100k": _rgg, "ba_100k": _ba, "grid_100k": _grid}[name](rng)
        n = m.shape[0]
        sources = np.sort(rng.choice(n, size=256, replace=False)).astype(np.int64)
        radii = _ball_radii(m, sources, share=share)
        return Case(name, m, sources, radii, _relaxations(m, sources, float(radii[-1])))
    else:
        raise ValueError(f"unknown case {name!r}; expected one of {CASES + GENERAL_CASES}")
    n = m.shape[0]
    sources = np.sort(rng.choice(n, size=min(s, n), replace=False)).astype(np.int64)
    if name == "layered_8x512_l0":
        sources = np.arange(512, dtype=np.int64)
    radii = _radii(m, sources)
    if name == "random_sparse":
        radii = radii / 4  # bounded neighbourhoods on the general graph
    return Case(name, m, sources, radii, _relaxations(m, sources, float(radii[-1])))


def _engine(backend: str, cold: bool = True) -> Callable[[Case], Any]:
    def run(case: Case) -> Any:
        from mfa_engine.paths import dag, multi_source_counts

        if cold:  # conversion (DAG detection + block gather) is part of the timed work
            dag._CACHE.clear()
        return multi_source_counts(case.graph, case.sources, case.radii, backend=backend)

    return run


def _prepared(case: Case) -> Any:
    """The path API on the graph prepared once by ``prepare_graph`` (the documented way to make
    repeated calls on one graph: no fingerprint of the matrix, no conversion)."""
    from mfa_engine.paths import multi_source_counts
    from mfa_engine.paths.prepare import prepare_graph

    g = case.__dict__.get("_prepared")
    if g is None:
        g = case.__dict__["_prepared"] = prepare_graph(case.graph)
    return multi_source_counts(g, case.sources, case.radii, backend="cpu")


def _kernel(case: Case) -> Any:
    """The general-graph kernel on the case's CSR, as counts: its kernel-ready graph (renumbered,
    rows sorted) is built on the first call and cached on the CSR object, so this times the
    searches (plus the source mapping and the histogram)."""
    from mfa_engine.paths import cpu

    hist, _ = cpu.csr_histogram(case.graph, case.sources, case.radii, float(case.radii[-1]))
    return np.cumsum(hist[:, :-1], axis=1)


def check_counts(case: Case, counts: np.ndarray, take: int = 16) -> None:
    """Assert engine counts [S, R] equal SciPy's on the first ``take`` sources."""
    d = csgraph.dijkstra(case.graph, indices=case.sources[:take], limit=float(case.radii[-1]))
    d = np.where(np.isfinite(d), d, np.nan)
    ref = (d[:, None, :] <= case.radii[None, :, None]).sum(-1)
    if not np.array_equal(np.asarray(counts)[:take], ref):
        raise AssertionError(f"{case.name}: engine counts differ from SciPy dijkstra")


def _scipy(case: Case, sources: np.ndarray) -> Any:
    return csgraph.dijkstra(case.graph, indices=sources, limit=float(case.radii[-1]))


def _igraph(case: Case, sources: np.ndarray) -> Any:
    g = case.__dict__.get("_ig")
    if g is None:
        import igraph as ig

        coo = case.graph.tocoo()
        g = ig.Graph(n=case.graph.shape[0], edges=np.column_stack([coo.row, coo.col]).tolist(), directed=True)
        g.es["weight"] = coo.data.tolist()
        case.__dict__["_ig"] = g
    return g.distances(source=sources.tolist(), weights="weight", mode="out")  # igraph: no cutoff


def _networkit(case: Case, sources: np.ndarray) -> Any:
    g = case.__dict__.get("_nk")
    if g is None:
        import networkit as nk

        coo = case.graph.tocoo()
        g = nk.graph.GraphFromCoo(
            (coo.data, (coo.row.astype(np.uint64), coo.col.astype(np.uint64))),
            n=case.graph.shape[0], weighted=True, directed=True,
        )
        case.__dict__["_nk"] = g
    import networkit as nk

    out = []
    for s in sources.tolist():  # NetworKit Dijkstra: no cutoff
        dj = nk.distance.Dijkstra(g, s, storePaths=False)
        dj.run()
        out.append(dj.getDistances())
    return out


#: method name -> (runner(case, sources) , samples sources? (peers run on a subset and are scaled))
METHODS: dict[str, tuple[Callable[..., Any], bool]] = {
    "engine_cpu": (lambda c, s: _engine("cpu")(c), False),
    "engine_cpu_cached": (lambda c, s: _engine("cpu", cold=False)(c), False),
    "engine_kernel": (lambda c, s: _kernel(c), False),
    "engine_prepared": (lambda c, s: _prepared(c), False),
    "scipy_dijkstra": (_scipy, True),
    "igraph": (_igraph, True),
    "networkit": (_networkit, True),
}


def best_time(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Best wall time of ``repeat`` runs (seconds)."""
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return float(best)


def run_method(name: str, case: Case, *, sample: int = 32, repeat: int = 3) -> float:
    """Seconds for ``name`` on all of ``case.sources`` (peers: timed on ``sample`` sources, scaled)."""
    fn, sampled = METHODS[name]
    src = case.sources
    if sampled and src.size > sample:
        sub = src[np.linspace(0, src.size - 1, sample).astype(int)]
        fn(case, sub[:2])  # build caches / warm up
        return best_time(lambda: fn(case, sub), repeat) * src.size / sub.size
    fn(case, src[:2]) if sampled else fn(case, src)
    return best_time(lambda: fn(case, src), repeat)
