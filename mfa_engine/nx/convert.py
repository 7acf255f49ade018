"""Conversion between NetworkX graphs and :class:`~mfa_engine.nx.graph.MfaGraph` (bulk, no
per-edge Python statements: the adjacency is walked with C-level iterators)."""

from __future__ import annotations

from itertools import chain
from operator import methodcaller
from typing import Any

import networkx as nx
import numpy as np

from mfa_engine.nx.graph import MfaGraph, labels_are_rows

__all__ = ["convert_from_nx", "convert_to_nx", "weight_array"]

#: The values view of an adjacency row (a dict, or a filtered view of one).
_VALUES = methodcaller("values")
#: Integer weights are exact in float64 below this magnitude.
_EXACT_INT = 2**53


def weight_array(values: list, attr: str) -> tuple[np.ndarray, bool | np.ndarray]:
    """Validate edge weights gathered from a NetworkX graph.

    Returns:
        (float64 [nnz], integral): ``integral`` is True when every value is an integer, False
        when none is, else a uint8 [nnz] mask of the integer values (NetworkX's sums keep
        Python's int/float types, so the backend tracks them).

    Raises:
        NotImplementedError: Non-numeric, boolean, non-finite or negative weights (NetworkX then
            runs the call itself).
    """
    arr = np.asarray(values) if values else np.zeros(0)
    if arr.dtype.kind in "iu":
        if arr.size and int(np.abs(arr).max()) >= _EXACT_INT:
            raise NotImplementedError(f"edge attribute {attr!r} has integers too large for float64")
        out, integral = arr.astype(np.float64), True
    elif arr.dtype.kind == "f":
        out, integral = arr.astype(np.float64), False
        kinds = set(map(type, values))
        if any(issubclass(k, (int, np.integer)) for k in kinds):
            integral = np.fromiter((isinstance(v, (int, np.integer)) for v in values), np.uint8, count=len(values))
    else:
        raise NotImplementedError(f"edge attribute {attr!r} must be int or float (got dtype {arr.dtype})")
    if out.size and not np.isfinite(out).all():
        raise NotImplementedError(f"edge attribute {attr!r} has non-finite values")
    if out.size and out.min() < 0:
        raise NotImplementedError(f"edge attribute {attr!r} has negative values (Dijkstra needs >= 0)")
    return out, integral


def _weights(rows: list, attr: str, default: Any, multigraph: bool) -> tuple[np.ndarray, bool | np.ndarray]:
    if multigraph:
        vals = [min(dd.get(attr, default) for dd in kd.values()) for r in rows for kd in r.values()]
    else:
        vals = list(map(methodcaller("get", attr, default), chain.from_iterable(map(_VALUES, rows))))
    return weight_array(vals, attr)


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
        weights[attr], integral[attr] = _weights(rows, attr, 1 if default is None else default, multi)
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
