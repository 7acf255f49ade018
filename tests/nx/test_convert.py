"""Conversion NetworkX <-> MfaGraph, the dispatcher round trip, and the guards."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from mfa_engine.errors import ConfigError
from mfa_engine.nx import interface
from mfa_engine.nx.convert import convert_from_nx, convert_to_nx
from mfa_engine.nx.graph import MfaGraph
from mfa_engine.nx.info import FUNCTIONS, backend_info


def test_convert_keeps_nodes_order_and_weights() -> None:
    g = nx.Graph()
    g.add_nodes_from(["c", "a", ("t", 1), "iso"])
    g.add_edge("a", "c", weight=2.5)
    g.add_edge(("t", 1), "a")  # no weight: 1
    g.add_edge("c", "c", weight=0)  # self-loop
    h = convert_from_nx(g, edge_attrs={"weight": 1})
    assert h.nodes == ["c", "a", ("t", 1), "iso"] and not h.is_directed()
    assert h.indptr.tolist() == [0, 2, 4, 5, 5]
    assert [h.nodes[i] for i in h.indices] == ["a", "c", "c", ("t", 1), "a"]
    assert h.weights["weight"].tolist() == [2.5, 0.0, 2.5, 1.0, 1.0]
    assert h.integral["weight"].tolist() == [0, 1, 0, 1, 1]  # 0 and the default 1 are ints
    assert h.number_of_edges() == 3 and len(h) == 4
    back = convert_to_nx(h)
    assert type(back) is nx.Graph and list(back) == list(g)
    assert {frozenset(e) for e in back.edges} == {frozenset(e) for e in g.edges}
    assert back["a"]["c"]["weight"] == 2.5 and back["a"][("t", 1)]["weight"] == 1
    assert type(back["a"][("t", 1)]["weight"]) is int and type(back["a"]["c"]["weight"]) is float
    assert convert_to_nx({"x": 1}) == {"x": 1}


def test_multigraph_takes_the_minimum_and_integers_stay_integers() -> None:
    g = nx.MultiDiGraph()
    g.add_edge(0, 1, weight=5)
    g.add_edge(0, 1, weight=2)
    g.add_edge(0, 1)  # default 1 is the minimum
    g.add_edge(1, 2, weight=4)
    h = convert_from_nx(g, edge_attrs={"weight": 1})
    assert h.is_multigraph() and h.is_directed()
    assert h.weights["weight"].tolist() == [1.0, 4.0] and h.integral["weight"] is True
    assert nx.single_source_dijkstra_path_length(g, 0) == {0: 0, 1: 1, 2: 5}


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), "x", None])
def test_unusable_weights_are_refused(bad) -> None:
    g = nx.Graph()
    g.add_edge(0, 1, weight=bad)
    g.add_edge(1, 2, weight=1.0)
    with pytest.raises(NotImplementedError):
        convert_from_nx(g, edge_attrs={"weight": 1})


def test_can_run_and_should_run() -> None:
    g = nx.path_graph(5)
    assert interface.can_run("single_source_dijkstra_path_length", (g, 0), {}) is True
    assert "callable" in interface.can_run("single_source_dijkstra_path_length", (g, 0), {"weight": lambda u, v, d: 1})
    g2 = g.copy()
    g2[0][1]["weight"] = -3
    assert "negative" in interface.can_run("dijkstra_path_length", (g2, 0, 4), {})
    assert interface.can_run("single_source_shortest_path_length", (g2, 0), {}) is True  # unweighted
    assert "method" in interface.can_run("shortest_path_length", (g, 0), {"method": "bellman-ford"})
    assert "target-only" in interface.can_run("shortest_path_length", (g,), {"target": 1})
    assert "unsupported" in interface.can_run("single_source_dijkstra_path_length", (g, 0), {"bogus": 1})
    assert "not implemented" in interface.can_run("dijkstra_path", (g, 0, 1), {})
    assert isinstance(interface.should_run("single_source_dijkstra_path_length", (g, 0), {}), str)
    big = nx.path_graph(interface.MIN_NODES)
    assert interface.should_run("single_source_dijkstra_path_length", (big, 0), {}) is True
    assert interface.should_run("all_pairs_dijkstra_path_length", (nx.path_graph(100),), {}) is True
    assert interface.should_run("dijkstra_path_length", (convert_from_nx(g), 0, 1), {}) is True


def test_entry_points_and_backend_info() -> None:
    (ep,) = entry_points(group="networkx.backends", name="mfa")
    assert ep.load() is interface.backend_interface
    (info_ep,) = entry_points(group="networkx.backend_info", name="mfa")
    info = info_ep.load()()
    assert info == backend_info() and info["backend_name"] == "mfa"
    assert set(info["functions"]) == set(FUNCTIONS)
    for name, params in FUNCTIONS.items():
        assert hasattr(interface.backend_interface, name)
        assert info["functions"][name]["supported_parameters"] == list(params)
    assert nx.utils.backends.backend_info["mfa"]["functions"].keys() == info["functions"].keys()


def test_dispatch_through_networkx_with_priority_and_keyword() -> None:
    rng = np.random.default_rng(0)
    g = nx.gnm_random_graph(300, 900, seed=1)
    for u, v in g.edges:
        g[u][v]["weight"] = float(rng.uniform(0.5, 2))
    ref = nx.single_source_dijkstra_path_length(g, 0, cutoff=3.0, backend="networkx")
    got = nx.single_source_dijkstra_path_length(g, 0, cutoff=3.0, backend="mfa")
    assert list(got.items()) == list(ref.items())
    h = convert_from_nx(g, edge_attrs={"weight": 1})
    got = nx.single_source_dijkstra_path_length(h, 0, cutoff=3.0)  # an MfaGraph dispatches by itself
    assert list(got.items()) == list(ref.items())


def test_from_scipy_and_validation() -> None:
    m = sp.csr_array((np.array([1.0, 2.0]), (np.array([0, 1]), np.array([1, 2]))), shape=(3, 3))
    h = MfaGraph.from_scipy(m, ["a", "b", "c"])
    assert nx.dijkstra_path_length(h, "a", "c") == 3.0
    # unsorted column indices: sorted in a copy, the caller's matrix is left as given
    u = sp.csr_array((np.array([2.0, 1.0, 5.0]), np.array([2, 0, 1]), np.array([0, 2, 3, 3])), shape=(3, 3))
    assert not u.has_sorted_indices
    h2 = MfaGraph.from_scipy(u)
    assert u.indices.tolist() == [2, 0, 1] and u.data.tolist() == [2.0, 1.0, 5.0]
    assert h2.indices.tolist() == [0, 2, 1] and h2.weights["weight"].tolist() == [1.0, 2.0, 5.0]
    with pytest.raises(ConfigError):
        MfaGraph(["a", "a"], np.array([0, 0, 0]), np.zeros(0, np.int64), directed=True)
    with pytest.raises(ConfigError):
        MfaGraph(["a"], np.array([0, 1]), np.zeros(0, np.int64), directed=True)


def test_import_mfa_engine_does_not_import_networkx() -> None:
    r = subprocess.run(
        [sys.executable, "-c", "import sys, mfa_engine, mfa_engine.paths, mfa_engine.nx, mfa_engine.nx.info\n"
         "print('networkx' in sys.modules)"],
        capture_output=True, text=True, cwd="/", timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_labels_are_rows_only_for_python_ints_in_order() -> None:
    from mfa_engine.nx.graph import labels_are_rows

    assert labels_are_rows([]) and labels_are_rows([0]) and labels_are_rows([0, 1, 2])
    assert not labels_are_rows([1, 0, 2])  # a permutation: rows need the index
    assert not labels_are_rows([0, 1, 3])
    assert not labels_are_rows([0, 1.0, 2])  # a float label equal to 1
    assert not labels_are_rows([False, True])  # bools are not ints here
    assert not labels_are_rows([np.int64(0), np.int64(1)])
    assert not labels_are_rows(["0", "1"])
    # rows taken straight from the labels, or looked up: the same graph either way
    g = nx.path_graph(5)
    g.add_edge(4, 0, weight=2.5)
    h = convert_from_nx(g, edge_attrs={"weight": 1})
    assert h.labels_are_rows
    g2 = nx.Graph()
    g2.add_nodes_from([3, 1, 4, 0, 2])
    g2.add_edges_from(g.edges(data=True))
    h2 = convert_from_nx(g2, edge_attrs={"weight": 1})
    assert not h2.labels_are_rows
    for hh, gg in ((h, g), (h2, g2)):
        back = convert_to_nx(hh)
        assert sorted(back.edges(data="weight")) == sorted(gg.edges(data="weight", default=1))


@pytest.mark.parametrize("values", [
    [1, 2, 2**53 - 1, 7],  # all ints (int64 inferred)
    [2**63 + 5, 3],  # uint64 range
    [2**70 + 1, 5],  # beyond 64 bits (objects)
    [0.5, 3, 2**60 + 1, 1e-300],  # mixed int and float
    [0.25, 1.5],
    [],
])
def test_weight_array_values_and_mask_equal_python(values) -> None:
    from mfa_engine.nx.convert import weight_array

    out, integral = weight_array(values, "w", exact=False)
    assert out.dtype == np.float64 and out.tolist() == [float(v) for v in values]  # Python's own rounding
    mask = [isinstance(v, int) for v in values]
    if values and all(mask):
        assert integral is True
    elif not any(mask):
        assert integral is False
    else:
        assert integral.tolist() == [int(m) for m in mask]


def test_weight_array_engine_mode_takes_numpy_scalars_as_python_numbers() -> None:
    from mfa_engine.nx.convert import weight_array

    vals = [np.float32(0.1), 2.5, np.int64(3), 4]
    out, integral = weight_array(vals, "w", exact=False)
    assert out.tolist() == [float(np.float32(0.1)), 2.5, 3.0, 4.0]
    assert integral.tolist() == [0, 0, 1, 1]
    with pytest.raises(NotImplementedError, match="float32, int64"):
        weight_array(vals, "w")
    with pytest.raises(NotImplementedError, match="too large"):
        weight_array([10**400, 1], "w", exact=False)
