"""NetworkX semantics of the backend on hostile inputs (issue 22, class 8): NaN and infinite
cutoffs, integers beyond 2**53 among float weights, numpy scalar weights, path sums that
overflow to inf, and attributes a converted graph does not carry. The oracle is NetworkX itself:
the backend must return NetworkX's values and types, or decline (``can_run`` / a
``NotImplementedError`` from the conversion), in which case NetworkX runs the call."""

from __future__ import annotations

from fractions import Fraction

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from mfa_engine.errors import ConfigError
from mfa_engine.nx import interface, paths
from mfa_engine.nx.convert import convert_from_nx

_WEIGHTED = ("single_source_dijkstra_path_length", "multi_source_dijkstra_path_length",
             "all_pairs_dijkstra_path_length", "dijkstra_path_length")


def _same(got, ref) -> None:
    """Equal results with the same key order and the same value types (NaN-free)."""
    if isinstance(ref, dict):
        assert list(got.items()) == list(ref.items())
        assert [type(v) for v in got.values()] == [type(v) for v in ref.values()]
    else:
        assert got == ref and type(got) is type(ref)


def dispatched(name: str, *args, **kwargs):
    """What NetworkX returns when the call is dispatched to ``mfa`` with fallback: the backend's
    result when ``can_run`` accepts and the conversion succeeds, else NetworkX's own.

    Returns:
        (result, ran_in_backend).
    """
    def ref_fn(*a, **k):
        return _reference(name, *a, **k)

    if interface.can_run(name, args, kwargs) is not True:
        return ref_fn(*args, **kwargs), False
    g, rest = args[0], args[1:]
    weight = kwargs.get("weight", "weight" if name in _WEIGHTED else None)
    try:
        h = convert_from_nx(g, edge_attrs=None if weight is None else {weight: 1})
    except NotImplementedError:
        return ref_fn(*args, **kwargs), False
    out = getattr(paths, name)(h, *rest, **kwargs)
    if name.startswith("all_pairs"):
        out = list(out)
    return out, True


def _reference(name: str, *args, **kwargs):
    out = getattr(nx, name)(*args, **kwargs)
    return list(out) if name.startswith("all_pairs") else out


def _check(name: str, *args, **kwargs) -> bool:
    """Backend (or its fallback) equals NetworkX, errors included; returns whether it ran."""
    try:
        ref = _reference(name, *args, **kwargs)
    except (nx.NetworkXNoPath, nx.NodeNotFound, ValueError, TypeError, OverflowError) as exc:
        with pytest.raises(type(exc)):
            dispatched(name, *args, **kwargs)
        return False
    got, ran = dispatched(name, *args, **kwargs)
    if name.startswith("all_pairs"):
        assert [s for s, _ in got] == [s for s, _ in ref]
        for (_, a), (_, b) in zip(got, ref):
            _same(a, b)
    else:
        _same(got, ref)
    return ran


def _grid(n: int = 12) -> nx.Graph:
    g = nx.grid_2d_graph(n, n)
    g = nx.convert_node_labels_to_integers(g)
    rng = np.random.default_rng(3)
    for u, v in g.edges:
        g[u][v]["weight"] = float(rng.uniform(0.5, 2.0))
    return g


# --- S4: NaN and infinite cutoffs -------------------------------------------------------------

@pytest.mark.parametrize("cutoff", [float("nan"), float("inf"), float("-inf"), 10**400, -(10**400),
                                    np.float64("nan"), Fraction(7, 2), 3])
def test_nan_and_infinite_cutoffs_match_networkx(cutoff) -> None:
    g = _grid()
    assert _check("single_source_dijkstra_path_length", g, 0, cutoff=cutoff)
    assert _check("multi_source_dijkstra_path_length", g, {0, 5}, cutoff=cutoff)
    assert _check("all_pairs_dijkstra_path_length", g, cutoff=cutoff)
    assert _check("single_source_shortest_path_length", g, 0, cutoff=cutoff)
    assert _check("all_pairs_shortest_path_length", g, cutoff=cutoff)


def test_nan_cutoff_counts_of_the_issue() -> None:
    g = _grid(50)
    h = convert_from_nx(g, edge_attrs={"weight": 1})
    assert len(paths.single_source_dijkstra_path_length(h, 0, cutoff=float("nan"))) == 2500
    assert len(paths.single_source_shortest_path_length(h, 0, cutoff=float("nan"))) == 1


def test_integer_cutoff_beyond_2_53_rounds_like_networkx() -> None:
    """NetworkX compares ``d > cutoff`` exactly; float(2**53 + 3) is 2**53 + 4."""
    g = nx.path_graph(3)
    g[0][1]["weight"] = float(2**53)
    g[1][2]["weight"] = 4.0  # 2**53 + 4 as a float sum
    for cutoff in (2**53 + 3, 2**53 + 4, 2**53 + 5, 2**53 - 1):
        assert _check("single_source_dijkstra_path_length", g, 0, cutoff=cutoff)


# --- S5: integers beyond 2**53 -------------------------------------------------------------------

@pytest.mark.parametrize("weights", [
    (2**53 + 1, 1.5),            # the issue: one float weight turned the 2**53 guard off
    (2**53 + 1, 2),              # all integers
    (2**52 + 1, 2**52),          # each exact, the sum 2**53 + 1 is not
    (2**52 + 1, 2**52 + 0.5),    # mixed, the integer part of a sum beyond 2**53
    (2**70, 0.5),                # beyond int64
    (10**400, 1),                # beyond float64
])
def test_integers_beyond_2_53_are_exact_like_networkx(weights) -> None:
    g = nx.path_graph(4)
    g[0][1]["weight"], g[1][2]["weight"] = weights
    g[2][3]["weight"] = 3
    for name in ("single_source_dijkstra_path_length", "all_pairs_dijkstra_path_length"):
        assert not _check(name, g, 0) if name.startswith("single") else not _check(name, g)


def test_integer_sums_below_2_53_still_run_in_the_backend() -> None:
    g = nx.path_graph(4)
    g[0][1]["weight"], g[1][2]["weight"], g[2][3]["weight"] = 2**51, 2**51 + 1, 0.5
    assert _check("single_source_dijkstra_path_length", g, 0)


# --- S6: numpy scalar weights ---------------------------------------------------------------------

@pytest.mark.parametrize("kind", [np.float32, np.float64, np.float16, np.int64, np.int32, np.uint8])
def test_numpy_scalar_weights_give_networkx_values_and_types(kind) -> None:
    g = _grid(6)
    for _u, _v, d in g.edges(data=True):
        d["weight"] = kind(round(d["weight"] * 3)) if np.issubdtype(kind, np.integer) else kind(d["weight"])
    ref = nx.single_source_dijkstra_path_length(g, 0)
    assert any(type(v) is not int and type(v) is not float for v in ref.values())
    assert not _check("single_source_dijkstra_path_length", g, 0, cutoff=4)
    assert not _check("all_pairs_dijkstra_path_length", g)
    assert _check("single_source_shortest_path_length", g, 0)  # hop counts ignore the weights


def test_float32_weights_sum_in_float32_through_the_dispatcher(monkeypatch) -> None:
    g = nx.path_graph(2100)
    for u, v in g.edges:
        g[u][v]["weight"] = np.float32(0.1)
    monkeypatch.setattr(nx.config, "fallback_to_nx", True)
    got = nx.single_source_dijkstra_path_length(g, 0, backend="networkx")
    with nx.config.backend_priority(algos=["mfa"]):
        res = nx.single_source_dijkstra_path_length(g, 0)
    _same(res, got)
    assert type(res[5]) is np.float32


# --- S7: sums that overflow to inf ---------------------------------------------------------------

@pytest.mark.parametrize("w", [1e308, 1.7e308, 9e307])
def test_overflowing_sums_are_listed_as_inf_like_networkx(w) -> None:
    g = nx.path_graph(5)
    for u, v in g.edges:
        g[u][v]["weight"] = w
    ref = nx.single_source_dijkstra_path_length(g, 0)
    assert ref[4] == float("inf")
    assert not _check("single_source_dijkstra_path_length", g, 0)
    assert not _check("all_pairs_dijkstra_path_length", g)


def test_large_finite_sums_still_run_in_the_backend() -> None:
    g = nx.path_graph(5)
    for u, v in g.edges:
        g[u][v]["weight"] = 1e300
    assert _check("single_source_dijkstra_path_length", g, 0)


# --- S8: attributes the converted graph does not carry ------------------------------------------

def test_attribute_not_carried_is_refused() -> None:
    g = nx.path_graph(4)
    for u, v in g.edges:
        g[u][v]["weight"] = 1
        g[u][v]["cost"] = 10
    h = convert_from_nx(g, edge_attrs={"weight": 1})
    for call in (lambda: paths.single_source_dijkstra_path_length(h, 0, weight="cost"),
                 lambda: paths.dijkstra_path_length(h, 0, 3, weight="cost"),
                 lambda: list(paths.all_pairs_dijkstra_path_length(h, weight="cost")),
                 lambda: paths.shortest_path_length(h, 0, 3, weight="cost"),
                 lambda: nx.single_source_dijkstra_path_length(h, 0, weight="cost")):
        with pytest.raises(ConfigError, match="'cost'.*from_networkx"):
            call()
    unweighted = convert_from_nx(g)
    with pytest.raises(ConfigError, match="'weight'"):
        paths.single_source_dijkstra_path_length(unweighted, 0)
    # carried attributes and hop counts still run
    assert paths.single_source_dijkstra_path_length(h, 0) == {0: 0, 1: 1, 2: 2, 3: 3}
    assert paths.single_source_shortest_path_length(unweighted, 0) == {0: 0, 1: 1, 2: 2, 3: 3}
    both = convert_from_nx(g, edge_attrs={"weight": 1, "cost": 1})
    assert paths.single_source_dijkstra_path_length(both, 0, weight="cost") == {0: 0, 1: 10, 2: 20, 3: 30}


# --- property test: hypothesis draws the weight kinds against NetworkX ---------------------------

_KINDS = {
    "int": st.integers(0, 5),
    "float": st.floats(0.0, 3.0, allow_nan=False).map(float),
    "big_int": st.sampled_from([2**53 - 1, 2**53, 2**53 + 1, 2**60, 2**52 + 1]),
    "huge_float": st.sampled_from([1e308, 8e307, 1.7976931348623157e308, 1e300]),
    "float32": st.floats(0.0, 3.0, width=32, allow_nan=False).map(np.float32),
    "float64": st.floats(0.0, 3.0, allow_nan=False).map(np.float64),
    "int64": st.integers(0, 5).map(np.int64),
    "missing": st.just(None),
}
_CUTOFFS = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 10),
                     st.sampled_from([2**53 + 1, 10**400, -(10**400)]), st.floats(0, 8).map(np.float64))


@st.composite
def hostile_graphs(draw):
    directed = draw(st.booleans())
    multi = draw(st.booleans())
    g = (nx.MultiDiGraph if multi else nx.DiGraph)() if directed else (nx.MultiGraph if multi else nx.Graph)()
    n = draw(st.integers(1, 9))
    g.add_nodes_from(range(n))
    kinds = draw(st.lists(st.sampled_from(sorted(_KINDS)), min_size=1, max_size=3, unique=True))
    for _ in range(draw(st.integers(0, 3 * n))):
        u, v = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        w = draw(_KINDS[draw(st.sampled_from(kinds))])
        if w is None:
            g.add_edge(u, v)
        else:
            g.add_edge(u, v, weight=w)
    return g


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NetworkX's own numpy sums overflow
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(g=hostile_graphs(), cutoff=_CUTOFFS, data=st.data())
def test_hostile_weights_and_cutoffs_match_networkx(g, cutoff, data) -> None:
    note(f"{type(g).__name__} edges={list(g.edges(data=True))} cutoff={cutoff!r}")
    src = data.draw(st.integers(0, len(g) - 1))
    tgt = data.draw(st.integers(0, len(g) - 1))
    _check("single_source_dijkstra_path_length", g, src, cutoff=cutoff)
    _check("multi_source_dijkstra_path_length", g, {src, tgt}, cutoff=cutoff)
    _check("all_pairs_dijkstra_path_length", g, cutoff=cutoff)
    _check("dijkstra_path_length", g, src, tgt)
    _check("single_source_shortest_path_length", g, src, cutoff=cutoff)
    _check("all_pairs_shortest_path_length", g, cutoff=cutoff)


@settings(max_examples=40, deadline=None)
@given(g=hostile_graphs())
def test_plain_python_weights_are_never_declined(g) -> None:
    """The guards decline only the hostile kinds: small Python ints and floats always run."""
    kinds = {type(d.get("weight", 1)) for *_, d in g.edges(data=True)}
    values = [d.get("weight", 1) for *_, d in g.edges(data=True)]
    if kinds <= {int, float} and all(0 <= v < 1e6 for v in values):
        assert _check("single_source_dijkstra_path_length", g, 0)


def test_engine_algorithms_still_take_numpy_weights() -> None:
    """ball_sizes / multifractal_spectrum have no NetworkX twin: numpy weights stay accepted."""
    import mfa_engine.nx as mnx

    g = _grid(6)
    f32 = g.copy()
    for _u, _v, d in f32.edges(data=True):
        d["weight"] = np.float32(d["weight"])
    plain = g.copy()
    for _u, _v, d in plain.edges(data=True):
        d["weight"] = float(np.float32(d["weight"]))
    radii = [0.5, 1.0, 2.0, 4.0]
    assert mnx.ball_sizes(f32, sources=[0, 7], radii=radii) == mnx.ball_sizes(plain, sources=[0, 7], radii=radii)
