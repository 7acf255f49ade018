"""The engine's own algorithms as NetworkX-style dispatchable functions for any graph.

``ball_sizes`` and ``multifractal_spectrum`` are registered with NetworkX's dispatcher (names
``mfa_ball_sizes`` and ``mfa_multifractal_spectrum``): called with a NetworkX graph they convert
it and run the engine; called with an :class:`MfaGraph` (or ``backend="mfa"``) they run directly.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp

from mfa_engine.errors import ConfigError
from mfa_engine.graph_spectrum import graph_spectrum
from mfa_engine.nx.convert import convert_from_nx
from mfa_engine.nx.graph import MfaGraph
from mfa_engine.options import AnalysisOptions
from mfa_engine.paths import multi_source_counts

__all__ = ["ball_sizes", "multifractal_spectrum", "ball_sizes_backend", "spectrum_backend"]


def _csr(g: MfaGraph, weight: str | None) -> sp.csr_array:
    data, _ = g.edge_weights(weight)
    n = len(g.nodes)
    # copies: sum_duplicates sorts in place, and the graph's adjacency order is NetworkX's tie order
    m = sp.csr_array((data, g.indices, g.indptr), shape=(n, n), copy=True)
    m.sum_duplicates()
    return m


def _rows(g: MfaGraph, nodes: Any, what: str) -> np.ndarray:
    if nodes is None:
        return np.arange(len(g.nodes), dtype=np.int64)
    try:
        return np.fromiter((g.index[v] for v in nodes), np.int64)
    except KeyError as exc:
        raise nx.NodeNotFound(f"{what} {exc.args[0]!r} is not in G") from None


def ball_sizes_backend(G: MfaGraph, sources: Any = None, radii: Sequence[float] = (), weight: Any = "weight") -> dict:
    """:func:`ball_sizes` on a converted graph."""
    rad = np.asarray(radii, dtype=np.float64).ravel()
    if rad.size == 0:
        raise ConfigError("ball_sizes: radii must hold at least one radius")
    rows = _rows(G, sources, "Source")
    counts = multi_source_counts(_csr(G, weight), rows, rad, directed=True)
    labels = G.labels[rows].tolist()
    return dict(zip(labels, counts.tolist()))


def spectrum_backend(
    G: MfaGraph,
    convention: str = "boxgrowing",
    q: Sequence[float] | None = None,
    radii: Sequence[float] | None = None,
    centres: Any = None,
    weight: Any = "weight",
) -> Any:
    """:func:`multifractal_spectrum` on a converted graph."""
    # the options are checked before the graph is converted; the fit uses every radius
    options = AnalysisOptions(convention=convention, q=q, directed=True, fit_window="full")
    rows = None if centres is None else _rows(G, centres, "Centre")
    return graph_spectrum(_csr(G, weight), options, radii=radii, centres=rows)


def _converted(G: Any, weight: Any) -> MfaGraph:
    if callable(weight):
        raise ConfigError("mfa_engine.nx: weight must be an edge attribute name or None, not a function")
    return convert_from_nx(G, edge_attrs=None if weight is None else {weight: 1}, name="mfa_engine.nx",
                           exact=False)


@nx._dispatchable(name="mfa_ball_sizes", edge_attrs="weight")
def ball_sizes(G: Any, sources: Any = None, radii: Sequence[float] = (), weight: Any = "weight") -> dict[Hashable, list[int]]:
    """Number of nodes within each radius of each source (the source included, inclusive radii).

    Args:
        G: NetworkX graph (directed: along edge directions) or MfaGraph.
        sources: Nodes (default every node).
        radii: Radius grid (any order), in units of ``weight``.
        weight: Edge attribute holding non-negative lengths (missing = 1); None = hop counts.

    Returns:
        ``{source: [count per radius]}`` in the order of ``sources``.

    Raises:
        NodeNotFound: A source is not in G.
        ConfigError: Empty radius grid or invalid radii.
    """
    return ball_sizes_backend(_converted(G, weight), sources, radii, weight)


@nx._dispatchable(name="mfa_multifractal_spectrum", edge_attrs="weight")
def multifractal_spectrum(
    G: Any,
    convention: str = "boxgrowing",
    q: Sequence[float] | None = None,
    radii: Sequence[float] | None = None,
    centres: Any = None,
    weight: Any = "weight",
) -> Any:
    """Multifractal spectrum of a graph (``mfa_engine.analyze_graph``; docs/architecture.md).

    Args:
        G: NetworkX graph or MfaGraph.
        convention: ``"boxgrowing"`` (NeuroMFA) or ``"sandbox"``.
        q: q grid (default -3..3 step 0.1).
        radii: Radius grid (default: 64 log-spaced radii up to the 99th percentile of distances).
        centres: Centre nodes (default all nodes).
        weight: Edge attribute of non-negative lengths (missing = 1); None = hop counts.

    Returns:
        ``mfa_engine.analysis.Spectrum``.
    """
    return spectrum_backend(_converted(G, weight), convention, q, radii, centres, weight)
