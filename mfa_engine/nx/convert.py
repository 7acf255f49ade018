"""Conversion between NetworkX graphs and :class:`~mfa_engine.nx.graph.MfaGraph` (bulk, no
per-edge Python statements: the adjacency is walked with C-level iterators)."""

from __future__ import annotations

import math
from itertools import chain
from operator import methodcaller
from typing import Any

import networkx as nx
import numpy as np

from mfa_engine.nx.graph import MfaGraph, labels_are_rows

__all__ = ["convert_from_nx", "convert_to_nx", "weight_array"]

#: The values view of an adjacency row (a dict, or a filtered view of one).
_VALUES = methodcaller("values")
#: Integer weights and their sums are exact in float64 below this magnitude.
_EXACT_INT = 2**53
#: Path sums below this bound cannot overflow float64 (half its largest finite value).
_NO_OVERFLOW = 2.0**1023
#: The weight types whose sums the backend reproduces exactly (value and type): NetworkX adds
#: numpy scalars with numpy's rules (float32 sums, int64 wrap-around), so those stay in NetworkX.
_PLAIN = frozenset({int, float})


def weight_array(values: list, attr: str, n_nodes: int | None = None, *,
                 exact: bool = True) -> tuple[np.ndarray, bool | np.ndarray]:
    """Validate edge weights gathered from a NetworkX graph.

    Args:
        values: The weights (Python numbers), one per adjacency entry.
        attr: Attribute name (for messages).
        n_nodes: Nodes of the graph: a shortest path has at most ``n_nodes - 1`` edges (bounds
            its length; None = bound by the number of values).

    Returns:
        (float64 [nnz], integral): ``integral`` is True when every value is an integer, False
        when none is, else a uint8 [nnz] mask of the integer values (NetworkX's sums keep
        Python's int/float types, so the backend tracks them).

    Raises:
        NotImplementedError: Weights whose NetworkX sums the backend would not reproduce (NetworkX
            then runs the call itself): non-numeric, boolean or numpy scalar values, non-finite
            or negative values, integer sums that may reach 2**53 (float64 would round them),
            sums that may overflow to inf.
    """
    kinds = set(map(type, values))
    as_int = {k for k in kinds if issubclass(k, (int, np.integer)) and not issubclass(k, (bool, np.bool_))}
    if not exact:
        kinds = {int if k in as_int else float if issubclass(k, (float, np.floating)) else k for k in kinds}
    if not kinds <= _PLAIN:
        odd = ", ".join(sorted(k.__name__ for k in kinds - _PLAIN))
        raise NotImplementedError(f"edge attribute {attr!r} holds {odd} values: the mfa backend runs Python int and "
                                  "float weights only (NetworkX keeps the other types in its sums)")
    try:
        # numpy infers int64/uint64/float64 in one C pass (faster than converting each Python int to
        # float64); ints beyond 64 bits come back as objects and are converted one by one
        arr = np.asarray(values) if values else np.zeros(0)
        if arr.dtype.kind not in "iuf":
            arr = np.array(values, dtype=np.float64)
    except OverflowError:
        raise NotImplementedError(f"edge attribute {attr!r} has integers too large for float64") from None
    out = arr.astype(np.float64, copy=False)  # int64 -> float64 rounds as Python's float(int)
    if kinds == {int}:
        integral: bool | np.ndarray = True
    elif int in kinds:  # mixed: the mask from the types, by C-level lookups in the set of int types
        integral = np.fromiter(map(frozenset(as_int).__contains__, map(type, values)), np.uint8,
                               count=len(values))
    else:
        integral = False
    if out.size and not np.isfinite(out).all():
        raise NotImplementedError(f"edge attribute {attr!r} has non-finite values")
    if out.size and out.min() < 0:
        raise NotImplementedError(f"edge attribute {attr!r} has negative values (Dijkstra needs >= 0)")
    if out.size and exact:
        edges = max(1, min(out.size, (n_nodes or out.size) - 1))
        if integral is not False:
            ints = out if integral is True else out[integral.astype(bool)]
            top = float(ints.max()) if ints.size else 0.0
            if top >= _EXACT_INT or (top * edges >= _EXACT_INT and math.fsum(ints) >= _EXACT_INT):
                raise NotImplementedError(f"edge attribute {attr!r}: integer path sums may reach 2**53, "
                                          "which float64 rounds (NetworkX keeps them exact)")
        top = float(out.max())
        if top * edges >= _NO_OVERFLOW:
            with np.errstate(over="ignore"):
                total = float(out.sum())
            if not total < _NO_OVERFLOW:
                raise NotImplementedError(f"edge attribute {attr!r}: path sums may overflow float64 "
                                          "(NetworkX lists such nodes at inf)")
    return out, integral


def _weights(rows: list, attr: str, default: Any, multigraph: bool,
             exact: bool = True) -> tuple[np.ndarray, bool | np.ndarray]:
    if multigraph:
        try:
            vals = [min(dd.get(attr, default) for dd in kd.values()) for r in rows for kd in r.values()]
        except TypeError:
            raise NotImplementedError(f"edge attribute {attr!r} holds values that do not compare") from None
    else:
        vals = list(map(methodcaller("get", attr, default), chain.from_iterable(map(_VALUES, rows))))
    return weight_array(vals, attr, len(rows), exact=exact)


def convert_from_nx(
    graph: Any,
    *,
    edge_attrs: dict | None = None,
    node_attrs: dict | None = None,
    preserve_edge_attrs: bool = False,
    preserve_node_attrs: bool = False,
    preserve_graph_attrs: bool = False,
    name: str | None = None,
    graph_name: str | None = None,
    exact: bool = True,
) -> MfaGraph:
    """NetworkX graph -> :class:`MfaGraph` (NetworkX's ``convert_from_nx`` backend hook).

    Args:
        graph: ``nx.Graph``/``DiGraph``/``MultiGraph``/``MultiDiGraph`` (or an MfaGraph, returned).
        edge_attrs: Edge attribute -> default for edges without it (NetworkX passes
            ``{weight: 1}``); None = unweighted.
        node_attrs, preserve_node_attrs: Node attributes are not used by any backend function.
        preserve_edge_attrs: Keep all edge attributes: not supported.
        preserve_graph_attrs: Copy ``graph.graph``.
        name, graph_name: Calling function and argument (for messages).
        exact: Refuse weights whose NetworkX sums the backend would not reproduce (see
            :func:`weight_array`); the engine's own algorithms pass False.

    Raises:
        NotImplementedError: Unsupported request or weights (NetworkX falls back to itself).
    """
    if isinstance(graph, MfaGraph):
        return graph
    if not isinstance(graph, nx.Graph):
        raise NotImplementedError(f"{name or 'mfa'}: argument {graph_name!r} is not a NetworkX graph")
    if preserve_edge_attrs is True or preserve_node_attrs is True or node_attrs:
        raise NotImplementedError(f"{name or 'mfa'}: the mfa backend keeps only numeric edge weights")
    adj = graph._adj
    nodes = list(graph)
    rows = list(map(adj.__getitem__, nodes))
    index = dict(zip(nodes, range(len(nodes))))
    deg = np.fromiter(map(len, rows), np.int64, count=len(rows))
    indptr = np.zeros(len(nodes) + 1, np.int64)
    np.cumsum(deg, out=indptr[1:])
    nnz = int(indptr[-1])
    targets = chain.from_iterable(rows)  # each row's keys: the neighbour labels
    own_rows = labels_are_rows(nodes)
    if not own_rows:  # labels 0..N-1 in order are their own rows
        targets = map(index.__getitem__, targets)
    indices = np.fromiter(targets, np.int64, count=nnz)
    multi = graph.is_multigraph()
    weights, integral = {}, {}
    for attr, default in (edge_attrs or {}).items():
        weights[attr], integral[attr] = _weights(rows, attr, 1 if default is None else default, multi, exact)
    return MfaGraph(nodes, indptr, indices, directed=graph.is_directed(), multigraph=multi,
                    weights=weights, integral=integral,
                    graph=dict(graph.graph) if preserve_graph_attrs else None, index=index,
                    rows_are_labels=own_rows)


def convert_to_nx(obj: Any, *, name: str | None = None) -> Any:
    """:class:`MfaGraph` -> ``nx.Graph``/``nx.DiGraph`` with its weights; anything else unchanged
    (NetworkX calls this on every result)."""
    if not isinstance(obj, MfaGraph):
        return obj
    g = nx.DiGraph() if obj.is_directed() else nx.Graph()
    g.graph.update(obj.graph)
    g.add_nodes_from(obj.nodes)
    rows = np.repeat(np.arange(len(obj.nodes)), np.diff(obj.indptr))
    lab = obj.labels
    us, vs = lab[rows].tolist(), lab[obj.indices].tolist()
    if not obj.weights:
        g.add_edges_from(zip(us, vs))
        return g
    cols = {}
    for k, w in obj.weights.items():
        kind = obj.integral.get(k, False)
        if isinstance(kind, np.ndarray):
            cols[k] = np.where(kind.astype(bool), w.astype(np.int64).astype(object), w.astype(object)).tolist()
        else:
            cols[k] = w.astype(np.int64).tolist() if kind else w.tolist()
    keys = list(cols)
    g.add_edges_from((u, v, dict(zip(keys, vals))) for u, v, *vals in zip(us, vs, *cols.values()))
    return g
