"""Benchmark inputs and peer runners for the path kernels (shared by bench_paths.py and paths_table.py).

Cases (all handed to the engine as SciPy CSR, so DAG detection and block gathering are timed):
  layered_8x512   8 layers of 512 nodes, dense blocks, 512 random sources, 64 radii
  layered_8x512_l0  the same graph, the 512 sources = the input layer (the most work per source)
  layered_8x2048  8 layers of 2048 nodes, dense blocks, 512 sources, 64 radii
  nin_sampled     a sampled NIN (GPT-NeoX, Pythia-70M shapes, 32 neurons/layer), every node a centre
  random_sparse   random directed graph, 20000 nodes, mean out-degree 8, 256 sources (general path)

Relaxations = edge relaxations a label-setting search from every source performs (each edge out of
every node reachable from the source; for dense layered DAGs this equals the min-plus work).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

__all__ = ["Case", "make_case", "CASES", "run_method", "METHODS", "best_time"]

CASES = ("layered_8x512", "layered_8x512_l0", "layered_8x2048", "nin_sampled", "random_sparse")


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
            rows.append((i + off[l]).ravel()); cols.append((j + off[l + 1]).ravel())
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


def make_case(name: str, seed: int = 0) -> Case:
    """Build a benchmark case by name (see module docstring)."""
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
    else:
        raise ValueError(f"unknown case {name!r}; expected one of {CASES}")
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
        g = nk.Graph(case.graph.shape[0], weighted=True, directed=True)
        for u, v, w in zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist()):
            g.addEdge(u, v, w)
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
