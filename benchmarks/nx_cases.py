"""Inputs and runners for the NetworkX-backend benchmarks (bench_nx.py, nx_table.py).

Cases:
  all_pairs_rgg4000   ``all_pairs_dijkstra_path_length(G, cutoff=0.15)`` on a random geometric
                      graph: 4000 points in the unit square, radius 0.0345 (~30k edges),
                      Euclidean edge weights.
  single_source_grid1m  ``single_source_dijkstra_path_length(G, s)`` on a 1000 x 1000 grid
                      (1M nodes, 2M edges) with weights uniform in [0.5, 1.5], no cutoff.

The backend is timed cold: the graph's conversion cache is cleared before every call, so
conversion, the guards and building the result dicts are all inside the time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import networkx as nx
import numpy as np

__all__ = ["NX_CASES", "make_nx_case", "run_nx", "run_mfa", "best"]

NX_CASES = ("all_pairs_rgg4000", "single_source_grid1m")


def _rgg(n: int = 4000, radius: float = 0.0345, seed: int = 0) -> nx.Graph:
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    pts = rng.random((n, 2))
    pairs = cKDTree(pts).query_pairs(radius, output_type="ndarray")
    w = np.linalg.norm(pts[pairs[:, 0]] - pts[pairs[:, 1]], axis=1)
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_weighted_edges_from(zip(pairs[:, 0].tolist(), pairs[:, 1].tolist(), w.tolist()))
    return g


def _grid(side: int = 1000, seed: int = 0) -> nx.Graph:
    rng = np.random.default_rng(seed)
    idx = np.arange(side * side).reshape(side, side)
    i = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    j = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    g = nx.Graph()
    g.add_nodes_from(range(side * side))
    g.add_weighted_edges_from(zip(i.tolist(), j.tolist(), rng.uniform(0.5, 1.5, i.size).tolist()))
    return g


def make_nx_case(name: str) -> tuple[nx.Graph, Callable[..., Any]]:
    """(graph, call(G, backend) -> materialised result) for a case name."""
    if name == "all_pairs_rgg4000":
        return _rgg(), lambda g, be: dict(nx.all_pairs_dijkstra_path_length(g, cutoff=0.15, backend=be))
    if name == "single_source_grid1m":
        return _grid(), lambda g, be: nx.single_source_dijkstra_path_length(g, 0, backend=be)
    raise ValueError(f"unknown case {name!r}; expected one of {NX_CASES}")


def run_mfa(g: nx.Graph, call: Callable[..., Any]) -> Any:
    """The backend, cold (conversion included)."""
    g.__networkx_cache__.clear()
    return call(g, "mfa")


def run_nx(g: nx.Graph, call: Callable[..., Any]) -> Any:
    """NetworkX itself."""
    return call(g, "networkx")


def same(got: Any, ref: Any) -> bool:
    """Identical results: keys, key order and distances (nested for all-pairs)."""
    if list(got) != list(ref):
        return False
    vals = list(ref.values())
    if vals and isinstance(vals[0], dict):
        return all(list(got[k].items()) == list(ref[k].items()) for k in ref)
    return list(got.items()) == list(ref.items())


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """(best seconds, last result) over ``repeat`` runs."""
    t_best, out = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        t_best = min(t_best, time.perf_counter() - t)
    return float(t_best), out
