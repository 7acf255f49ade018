"""NetworkX's shortest-path-length functions on an :class:`MfaGraph` (same results, types, order
and errors as NetworkX; see docs/networkx.md)."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any

import networkx as nx

from mfa_engine.nx.ball_search import ball_dicts
from mfa_engine.nx.graph import MfaGraph
from mfa_engine.nx.results import ball_dict, hop_cutoff, search, weight_cutoff

__all__ = [
    "single_source_dijkstra_path_length",
    "multi_source_dijkstra_path_length",
    "all_pairs_dijkstra_path_length",
    "dijkstra_path_length",
    "single_source_shortest_path_length",
    "all_pairs_shortest_path_length",
    "shortest_path_length",
]


def _nx():
    return nx


def multi_source_dijkstra_path_length(G: MfaGraph, sources: Any, cutoff: Any = None, weight: Any = "weight") -> dict:
    """Distances from the nearest of ``sources`` (NetworkX semantics; ``ValueError`` for no
    sources, ``NodeNotFound`` for a missing one)."""
    if not sources:
        raise ValueError("sources must not be empty")
    for s in sources:
        if s not in G:
            raise _nx().NodeNotFound(f"Node {s} not found in graph")
    seeds = [G.index[s] for s in sources]
    data, integral = G.edge_weights(weight)
    if not seeds:
        return {}
    ((rows, _, vals),) = search(G, [seeds], weight_cutoff(cutoff), data, integral)
    return ball_dict(G, rows, vals, len(set(seeds)))


def single_source_dijkstra_path_length(G: MfaGraph, source: Hashable, cutoff: Any = None, weight: Any = "weight") -> dict:
    """Distances from ``source`` within ``cutoff``, nearest first."""
    return multi_source_dijkstra_path_length(G, {source}, cutoff=cutoff, weight=weight)


def all_pairs_dijkstra_path_length(G: MfaGraph, cutoff: Any = None, weight: Any = "weight") -> Iterator:
    """Generator of ``(source, distances)`` for every node, in node order."""
    data, integral = G.edge_weights(weight)
    yield from ball_dicts(G, list(G.nodes), weight_cutoff(cutoff), data, integral)


def dijkstra_path_length(G: MfaGraph, source: Hashable, target: Hashable, weight: Any = "weight") -> Any:
    """Length of a shortest path (the search stops at ``target``)."""
    nx = _nx()
    if source not in G:
        raise nx.NodeNotFound(f"Node {source} not found in graph")
    if source == target:
        return 0
    data, integral = G.edge_weights(weight)
    t = G.index.get(target, -1) if target in G else -1
    if t >= 0:
        ((rows, _, vals),) = search(G, [[G.index[source]]], float("inf"), data, integral, target=t)
        if rows.size and rows[-1] == t:
            return vals[-1]
    raise nx.NetworkXNoPath(f"Node {target} not reachable from {source}")


def single_source_shortest_path_length(G: MfaGraph, source: Hashable, cutoff: Any = None) -> dict:
    """Hop distances from ``source`` in breadth-first order."""
    if source not in G:
        raise _nx().NodeNotFound(f"Source {source} is not in G")
    data, _ = G.edge_weights(None)
    ((rows, _, vals),) = search(G, [[G.index[source]]], hop_cutoff(cutoff), data, True)
    return ball_dict(G, rows, vals, 1)


def all_pairs_shortest_path_length(G: MfaGraph, cutoff: Any = None) -> Iterator:
    """Generator of ``(source, hop distances)`` for every node, in node order."""
    data, _ = G.edge_weights(None)
    yield from ball_dicts(G, list(G.nodes), hop_cutoff(cutoff), data, True)


def _bfs_pair(G: MfaGraph, source: Hashable, target: Hashable) -> int:
    nx = _nx()
    if source not in G:
        raise nx.NodeNotFound(f"Source {source} is not in G")
    if target not in G:
        raise nx.NodeNotFound(f"Target {target} is not in G")
    if source == target:
        return 0
    data, _ = G.edge_weights(None)
    t = G.index[target]
    ((rows, _, vals),) = search(G, [[G.index[source]]], float("inf"), data, True, target=t)
    if rows.size == 0 or rows[-1] != t:
        raise nx.NetworkXNoPath(f"No path between {source} and {target}.")
    return vals[-1]


def shortest_path_length(
    G: MfaGraph, source: Any = None, target: Any = None, weight: Any = None, method: str = "dijkstra"
) -> Any:
    """NetworkX's ``shortest_path_length`` for ``method="dijkstra"`` (unweighted when ``weight`` is
    None), except the target-only form (``can_run`` declines it and ``method="bellman-ford"``)."""
    if method != "dijkstra":
        raise NotImplementedError(f"shortest_path_length: method {method!r} is not run by the mfa backend")
    unweighted = weight is None
    if source is None:
        if target is not None:
            raise NotImplementedError("shortest_path_length: the target-only form is not run by the mfa backend")
        if unweighted:
            return all_pairs_shortest_path_length(G)
        return all_pairs_dijkstra_path_length(G, weight=weight)
    if target is None:
        if unweighted:
            return single_source_shortest_path_length(G, source)
        return single_source_dijkstra_path_length(G, source, weight=weight)
    if unweighted:
        return _bfs_pair(G, source, target)
    return dijkstra_path_length(G, source, target, weight)
