"""The backend's shortest-path-length functions equal NetworkX's: values, value types, key order
and errors (random graphs: directed/undirected, multigraphs, integer/float/zero weights, ties,
missing weights, isolated nodes, string labels, cutoffs)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from mfa_engine.nx import paths
from mfa_engine.nx.convert import convert_from_nx
from tests.nx.nx_graphs import random_nx


def _same(got, ref) -> None:
    """Equal dicts with the same key order and the same value types."""
    assert list(got.items()) == list(ref.items())
    assert [type(v) for v in got.values()] == [type(v) for v in ref.values()]


CASES = [
    dict(directed=d, multi=m, kind=k, labels=lab, missing=miss)
    for d in (False, True)
    for m in (False, True)
    for k, lab, miss in (("int", "int", 0.0), ("float", "str", 0.2), ("zero", "int", 0.1))
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(str(v) for v in c.values()))
@pytest.mark.parametrize("n", [1, 9, 40])
def test_dijkstra_functions_match_networkx(case: dict, n: int) -> None:
    rng = np.random.default_rng(n + 7 * len(str(case)))
    g = random_nx(rng, n, 0.12, **case)
    h = convert_from_nx(g, edge_attrs={"weight": 1})
    nodes = list(g)
    picks = [nodes[i] for i in rng.choice(len(nodes), min(4, len(nodes)), replace=False)]
    for cutoff in (None, 0, 1, 2.5, -1):
        for s in picks:
            _same(paths.single_source_dijkstra_path_length(h, s, cutoff=cutoff),
                  nx.single_source_dijkstra_path_length(g, s, cutoff=cutoff))
        srcs = set(picks[:3])
        _same(paths.multi_source_dijkstra_path_length(h, srcs, cutoff=cutoff),
              nx.multi_source_dijkstra_path_length(g, srcs, cutoff=cutoff))
        got = paths.all_pairs_dijkstra_path_length(h, cutoff=cutoff)
        ref = nx.all_pairs_dijkstra_path_length(g, cutoff=cutoff)
        assert iter(got) is got  # a generator, like NetworkX
        for (a, da), (b, db) in zip(got, ref, strict=True):
            assert a == b
            _same(da, db)
    for s in picks:
        for t in nodes[:6]:
            try:
                ref = nx.dijkstra_path_length(g, s, t)
            except nx.NetworkXNoPath as exc:
                with pytest.raises(nx.NetworkXNoPath, match=str(exc)):
                    paths.dijkstra_path_length(h, s, t)
                continue
            got = paths.dijkstra_path_length(h, s, t)
            assert got == ref and type(got) is type(ref)


@pytest.mark.parametrize("directed", [False, True])
@pytest.mark.parametrize("n", [1, 12, 50])
def test_unweighted_functions_match_networkx(directed: bool, n: int) -> None:
    rng = np.random.default_rng(n + directed)
    g = random_nx(rng, n, 0.08, directed=directed, labels="str")
    h = convert_from_nx(g)
    for cutoff in (None, 0, 1, 1.5, 3, -2):
        for s in list(g)[:5]:
            _same(paths.single_source_shortest_path_length(h, s, cutoff=cutoff),
                  nx.single_source_shortest_path_length(g, s, cutoff=cutoff))
        for (a, da), (b, db) in zip(paths.all_pairs_shortest_path_length(h, cutoff=cutoff),
                                    nx.all_pairs_shortest_path_length(g, cutoff=cutoff), strict=True):
            assert a == b
            _same(da, db)


def test_shortest_path_length_forms() -> None:
    rng = np.random.default_rng(3)
    g = random_nx(rng, 30, 0.1, directed=True, kind="int")
    hw = convert_from_nx(g, edge_attrs={"weight": 1})
    hu = convert_from_nx(g)
    s, t = list(g)[0], list(g)[5]
    _same(paths.shortest_path_length(hu, s), nx.shortest_path_length(g, s))
    _same(paths.shortest_path_length(hw, s, weight="weight"), nx.shortest_path_length(g, s, weight="weight"))
    assert dict(paths.shortest_path_length(hu)) == dict(nx.shortest_path_length(g))
    for h, w in ((hu, None), (hw, "weight")):
        try:
            ref = nx.shortest_path_length(g, s, t, weight=w)
        except nx.NetworkXNoPath:
            with pytest.raises(nx.NetworkXNoPath):
                paths.shortest_path_length(h, s, t, weight=w)
        else:
            assert paths.shortest_path_length(h, s, t, weight=w) == ref


def test_errors_match_networkx() -> None:
    g = nx.DiGraph([(0, 1), (1, 2)])
    g.add_node(9)
    h = convert_from_nx(g, edge_attrs={"weight": 1})
    with pytest.raises(nx.NodeNotFound, match="Node 5 not found in graph"):
        paths.single_source_dijkstra_path_length(h, 5)
    with pytest.raises(ValueError, match="sources must not be empty"):
        paths.multi_source_dijkstra_path_length(h, set())
    with pytest.raises(nx.NodeNotFound, match="Node 5 not found in graph"):
        paths.dijkstra_path_length(h, 5, 0)
    with pytest.raises(nx.NetworkXNoPath, match="Node 0 not reachable from 2"):
        paths.dijkstra_path_length(h, 2, 0)
    with pytest.raises(nx.NetworkXNoPath, match="Node 77 not reachable from 0"):
        paths.dijkstra_path_length(h, 0, 77)
    assert paths.dijkstra_path_length(h, 9, 9) == 0
    with pytest.raises(nx.NodeNotFound, match="Source 5 is not in G"):
        paths.single_source_shortest_path_length(h, 5)
    with pytest.raises(nx.NodeNotFound, match="Target 5 is not in G"):
        paths.shortest_path_length(h, 0, 5)
    with pytest.raises(nx.NetworkXNoPath, match="No path between 2 and 0."):
        paths.shortest_path_length(h, 2, 0)


@pytest.mark.parametrize("directed", [False, True])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("labels", ["int", "str"])
def test_all_pairs_float_weights_match_networkx(directed: bool, ties: bool, labels: str) -> None:
    """All-float weights take the sorted fast path; balls with equal distances (weights from
    {0.5, 1.0, 1.5}, zero-length edges) are rerun in NetworkX's exact tie order."""
    rng = np.random.default_rng(3 + 2 * ties + directed)
    g = random_nx(rng, 60, 0.08, directed=directed, labels=labels)
    if ties:
        for k, (_, _, dd) in enumerate(g.edges(data=True)):
            dd["weight"] = [0.0, 0.5, 1.0, 1.5][k % 4] if k % 7 else 0.5
    h = convert_from_nx(g, edge_attrs={"weight": 1})
    for cutoff in (None, 0.0, 1.0, 2.5, -1.0):
        got = list(paths.all_pairs_dijkstra_path_length(h, cutoff=cutoff))
        ref = list(nx.all_pairs_dijkstra_path_length(g, cutoff=cutoff))
        assert [a for a, _ in got] == [b for b, _ in ref]
        for (_, da), (_, db) in zip(got, ref):
            _same(da, db)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("ties", [False, True])
def test_all_pairs_batches_and_background_searches_match_networkx(
    monkeypatch: pytest.MonkeyPatch, threads: int, ties: bool
) -> None:
    """Many small batches: with two threads, later batches are searched on a background thread
    (several queued) while earlier ones become dicts; with one, batches run in turn. The result
    is NetworkX's, in order, and closing the generator early returns promptly."""
    import numba

    from mfa_engine.nx import float_results, results

    monkeypatch.setattr(results, "BATCH", 5)
    monkeypatch.setattr(float_results, "BATCH", 5)
    monkeypatch.setattr(float_results, "PIPELINE_ENTRIES", 40)
    monkeypatch.setattr(float_results, "_DICTS_AT_ONCE", 3)
    rng = np.random.default_rng(11 + ties)
    g = random_nx(rng, 90, 0.06, directed=False, labels="str")
    if ties:
        for k, (_, _, dd) in enumerate(g.edges(data=True)):
            dd["weight"] = [0.5, 1.0, 1.5][k % 3]
    h = convert_from_nx(g, edge_attrs={"weight": 1})
    prev = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        got = list(paths.all_pairs_dijkstra_path_length(h, cutoff=2.0))
        early = paths.all_pairs_dijkstra_path_length(h, cutoff=2.0)
        first = [next(early) for _ in range(7)]
        early.close()
    finally:
        numba.set_num_threads(prev)
    ref = list(nx.all_pairs_dijkstra_path_length(g, cutoff=2.0))
    assert [a for a, _ in got] == [b for b, _ in ref]
    for (_, da), (_, db) in zip(got, ref):
        _same(da, db)
    assert [a for a, _ in first] == [b for b, _ in ref[:7]]
