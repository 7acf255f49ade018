"""The engine's algorithms as dispatchable NetworkX-style functions, against SciPy / NetworkX."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

import mfa_engine
from mfa_engine.nx import ball_sizes, multifractal_spectrum
from mfa_engine.nx.convert import convert_from_nx
from tests.nx.nx_graphs import random_nx


@pytest.mark.parametrize("directed", [False, True])
def test_ball_sizes_match_networkx_dijkstra(directed: bool) -> None:
    rng = np.random.default_rng(directed)
    g = random_nx(rng, 60, 0.06, directed=directed, kind="int", labels="str")
    radii = [3.0, 0.0, 1.0, 2.0, 6.0]
    srcs = list(g)[:7]
    for graph in (g, convert_from_nx(g, edge_attrs={"weight": 1})):
        got = ball_sizes(graph, srcs, radii)
        assert list(got) == srcs
        for s in srcs:
            d = nx.single_source_dijkstra_path_length(g, s)
            assert got[s] == [sum(1 for x in d.values() if x <= r) for r in radii]
    hops = ball_sizes(g, srcs[:2], [1, 2], weight=None)
    for s in srcs[:2]:
        d = nx.single_source_shortest_path_length(g, s)
        assert hops[s] == [sum(1 for x in d.values() if x <= r) for r in (1, 2)]
    with pytest.raises(nx.NodeNotFound):
        ball_sizes(g, ["nope"], [1.0])


def test_spectrum_equals_analyze_graph_on_the_same_csr() -> None:
    g = nx.grid_2d_graph(12, 12)
    h = convert_from_nx(g)
    m = nx.to_scipy_sparse_array(g, nodelist=list(g), weight=None, format="csr")
    for conv in ("boxgrowing", "sandbox"):
        got = multifractal_spectrum(g, convention=conv, weight=None)
        ref = mfa_engine.analyze_graph(m, convention=conv, directed=True, fit_window="full")
        np.testing.assert_allclose(got.tau, ref.tau, rtol=1e-12)
        np.testing.assert_allclose(multifractal_spectrum(h, convention=conv, weight=None).tau, ref.tau, rtol=1e-12)
    assert multifractal_spectrum.name == "mfa_multifractal_spectrum"


def test_engine_functions_leave_the_graph_arrays_alone() -> None:
    """The ball sizes build a canonical CSR from copies: the graph keeps its adjacency order
    (NetworkX's tie order for later calls) and its weights."""
    rng = np.random.default_rng(9)
    g = random_nx(rng, 50, 0.1, directed=False, kind="int", labels="int")
    h = convert_from_nx(g, edge_attrs={"weight": 1})
    before = (h.indptr.copy(), h.indices.copy(), h.weights["weight"].copy())
    rows = np.repeat(np.arange(len(h.nodes)), np.diff(h.indptr))
    assert np.any((np.diff(h.indices) < 0) & (np.diff(rows) == 0))  # some row not sorted by target
    ball_sizes(h, list(g)[:5], [1.0, 2.0])
    for a, b in zip((h.indptr, h.indices, h.weights["weight"]), before):
        np.testing.assert_array_equal(a, b)
    got = dict(nx.all_pairs_dijkstra_path_length(h, cutoff=3, backend="mfa"))
    ref = dict(nx.all_pairs_dijkstra_path_length(g, cutoff=3))
    assert [list(got[s].items()) for s in ref] == [list(ref[s].items()) for s in ref]
