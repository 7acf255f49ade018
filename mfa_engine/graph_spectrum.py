"""The graph-level engine: the spectrum of one graph under one options record.

:func:`graph_spectrum` is the one place where a graph becomes a spectrum (prepare the graph
once, radius grid, counts, fit); paper mode calls it per sample, and
:func:`mfa_engine.api.analyze_graph` is its keyword facade. It takes the validated
:class:`~mfa_engine.options.AnalysisOptions` record as is: the options are checked when the
record is built, and its ``backend`` is resolved once by the caller
(:func:`mfa_engine.paths.dispatch.resolve_backend`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from mfa_engine.analysis import spectrum_from_counts
from mfa_engine.analysis.radii import radius_grid, scaled_radius_grid
from mfa_engine.analysis.spectrum import partition_curves
from mfa_engine.errors import AnalysisError, ConfigError
from mfa_engine.options import AnalysisOptions
from mfa_engine.paths import multi_source_counts, multi_source_distances, prepare_graph
from mfa_engine.paths.dispatch import resolve_backend
from mfa_engine.paths.inputs import check_sparse_structure, is_layered

__all__ = ["graph_spectrum", "graph_counts", "graph_fit", "graph_radius_grid", "RADIUS_LOWER_CHOICES"]

#: Accepted values of ``radius_lower`` (lower end of the default radius grid).
RADIUS_LOWER_CHOICES = ("quantile", "min")

#: Above this many S x N distance entries, the radius grid is estimated from a subset of centres.
_GRID_MAX_ENTRIES = 20_000_000


def _prepared_graph(graph: Any, directed: bool) -> Any:
    """Check a graph argument and prepare it once for every path call of the analysis.

    A layered graph is checked by the path API (NaN, negative distances); a sparse matrix
    must also have finite entries (an explicit inf is an error here, not "no edge").
    """
    if is_layered(graph):
        return prepare_graph(graph, directed)
    if not sp.issparse(graph):
        raise ConfigError(
            f"graph must be a SciPy sparse matrix of edge distances or a LayeredGraph, got {type(graph).__name__}"
        )
    if graph.ndim != 2 or graph.shape[0] != graph.shape[1]:
        raise ConfigError(f"graph must be a square matrix, got shape {graph.shape}")
    check_sparse_structure(graph)  # before SciPy converts it
    g = sp.csr_array(graph)
    data = g.data
    if data.size and (not np.isfinite(data).all() or (data < 0).any()):
        raise ConfigError("graph has NaN, infinite or negative edge distances; distances must be finite and >= 0")
    return prepare_graph(g, directed)


def _check_radii(radii: Any) -> np.ndarray:
    """An explicit radius grid: 1-D, finite, positive, strictly increasing (before counting)."""
    r = np.asarray(radii, dtype=np.float64).ravel()
    if r.size < 2 or not np.all(np.isfinite(r)) or r[0] <= 0 or not np.all(np.diff(r) > 0):
        raise ConfigError(
            f"radii must be at least 2 finite, positive, strictly increasing values, got {r.tolist()[:8]}"
        )
    return r


def graph_radius_grid(
    graph: Any,
    centres: np.ndarray,
    *,
    n_radii: int = 64,
    upper: str = "p99",
    directed: bool = True,
    backend: str = "auto",
    lower: str = "quantile",
    edges: tuple[np.ndarray, float | None] | None = None,
) -> np.ndarray:
    """The default radius grid of a graph (docs/method.md, Box growing).

    ``lower="quantile"`` (default): a data scale times a fixed unit grid, from the 5% quantile
    of the edge distances (weighted edges of a LayeredGraph; never below its structural
    distance) to the 99th percentile of the finite distances from the centres
    (:func:`mfa_engine.analysis.radii.scaled_radius_grid`). ``lower="min"``: the earlier grid,
    log-spaced from the smallest positive distance from the centres.

    Distances are taken from all centres when ``S x N`` is at most 2e7 entries, else from an
    evenly spaced subset of the centres (so memory stays bounded).

    Args:
        graph: CSR matrix, LayeredGraph, or a graph from :func:`mfa_engine.paths.prepare_graph`.
        centres: int64 ``[S]`` centre ids.
        n_radii: Number of radii.
        upper: ``"p99"``, ``"max"`` or ``"rounded"`` (distinct rounded distances).
        directed: Follow edge directions.
        backend: Paths backend.
        lower: ``"quantile"`` or ``"min"`` (ignored for ``upper="rounded"``).
        edges: ``(edge distances, floor)`` for ``lower="quantile"``; default taken from
            ``graph`` (a prepared graph has no structural floor, and a prepared DAG gives its
            path distances instead of its edge distances).

    Returns:
        float64 ``[R]`` strictly increasing radii.
    """
    n = graph.shape[0]
    subset = centres
    max_rows = max(1, _GRID_MAX_ENTRIES // max(n, 1))
    if len(centres) > max_rows:
        subset = centres[np.linspace(0, len(centres) - 1, max_rows).astype(np.int64)]
    d = multi_source_distances(graph, subset, directed=directed, backend=backend)
    vals = d[np.isfinite(d) & (d > 0)]
    if vals.size == 0:
        raise AnalysisError("no finite positive distances from the centres: the graph has no usable edges")
    if lower not in RADIUS_LOWER_CHOICES:
        raise ConfigError(f"radius_lower must be one of {', '.join(RADIUS_LOWER_CHOICES)}, got {lower!r}")
    if lower == "min" or upper == "rounded":
        return radius_grid(vals.astype(np.float64), n=n_radii, upper=upper)
    e, floor = _edge_distances(graph) if edges is None else edges
    return scaled_radius_grid(vals if e is None else e, vals, n=n_radii, upper=upper, floor=floor)


def _edge_distances(graph: Any) -> tuple[np.ndarray | None, float | None]:
    """Edge distances for the lower end of the grid (None if unknown) and the floor.

    A NIN gives its weighted edges and its structural distance as the floor; another layered
    graph or a sparse matrix every edge and no floor; a prepared DAG nothing (None).
    """
    weights = getattr(graph, "weight_distances", None)
    if weights is not None:
        w = weights()
        if (np.isfinite(w) & (w > 0)).any():
            return w, getattr(graph, "structural_distance", None)
    blocks = getattr(graph, "blocks", None)
    if blocks is not None:
        parts = [np.asarray(b, dtype=np.float64).ravel() for b in blocks]
        return (np.concatenate(parts) if parts else np.zeros(0)), getattr(graph, "structural_distance", None)
    kind = getattr(graph, "kind", None)
    if kind == "dag":
        return None, None
    m = graph.obj if kind == "csr" else graph
    return np.asarray(m.data, dtype=np.float64), None


def graph_counts(
    graph: Any,
    options: AnalysisOptions,
    *,
    radii: Sequence[float] | np.ndarray | None = None,
    centres: Sequence[int] | np.ndarray | None = None,
    prepared: Any = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Neighbour counts of a graph: ``(counts [C, R], radii [R], n_nodes)``.

    The graph is prepared once; the radius grid (unless given) and the counts share it.

    Args:
        graph: As in :func:`graph_spectrum`.
        options: As in :func:`graph_spectrum`.
        radii: Explicit radius grid (default: :func:`graph_radius_grid`).
        centres: Node ids of the centres (default all nodes).
        prepared: ``graph`` already prepared (:func:`mfa_engine.paths.prepare_graph` with
            ``options.directed``), so that calls over many centre sets prepare it once.

    Raises:
        ConfigError: Invalid graph, radii or centres.
    """
    backend = resolve_backend(options.backend)
    directed = options.directed
    r = None if radii is None else _check_radii(radii)
    g = _prepared_graph(graph, directed) if prepared is None else prepared
    n = g.n_nodes
    if centres is None:
        c = np.arange(n, dtype=np.int64)
    else:
        c = np.asarray(centres, dtype=np.int64).ravel()
        if c.size and (c.min() < 0 or c.max() >= n):
            raise ConfigError(f"centres must be node ids in [0, {n}), got values from {c.min()} to {c.max()}")
    if c.size == 0:
        raise ConfigError("no centres given: centres must name at least one node")
    if r is None:
        r = graph_radius_grid(g, c, n_radii=options.n_radii, upper=options.radius_upper, directed=directed,
                              backend=backend, lower=options.radius_lower, edges=_edge_distances(graph))
    return multi_source_counts(g, c, r, directed=directed, backend=backend), r, n


def graph_spectrum(
    graph: Any,
    options: AnalysisOptions,
    *,
    radii: Sequence[float] | np.ndarray | None = None,
    centres: Sequence[int] | np.ndarray | None = None,
) -> Any:
    """Multifractal spectrum of a graph by box growing around centres (docs/method.md, Box growing).

    Args:
        graph: SciPy sparse ``[N, N]`` whose explicit entries are edge distances ``i -> j``,
            or a ``mfa_engine.layered.LayeredGraph`` (e.g. a sampled NIN).
        options: The options record; this function reads ``convention``, the q grid,
            ``directed``, ``min_reach``, ``normalisation``, ``n_radii``, ``radius_upper``,
            ``radius_lower``, ``fit_window``, ``fit_range``, ``window_min_span`` and
            ``backend`` (``"auto"`` is resolved here when the caller has not resolved it).
        radii: Explicit radius grid (default: :func:`graph_radius_grid`).
        centres: Node ids of the centres (default all nodes).

    Returns:
        A ``mfa_engine.analysis.Spectrum`` (with ``diagnostics``).

    Raises:
        ConfigError: Invalid graph, radii or centres.
        AnalysisError: Too few centres reach ``min_reach`` nodes.
    """
    counts, r, n = graph_counts(graph, options, radii=radii, centres=centres)
    return _spectrum(counts, r, n, options)


def _graph_fit_window(options: AnalysisOptions) -> str:
    """The fit window on a graph: ``fixed`` (the checkpoints' grid in u) defaults to ``auto`` here."""
    if options.fit_window != "fixed" or options.fit_range is not None:
        return options.fit_window
    if options.defaulted("fit_window"):
        return "auto"
    raise ConfigError("fit_window='fixed' applies to checkpoints (paper mode's grid in u = ln(r / r_unit)); "
                      "on a graph use fit_window='auto' or 'full', or fit_range")


def _spectrum(counts: np.ndarray, r: np.ndarray, n: int, options: AnalysisOptions) -> Any:
    return spectrum_from_counts(
        counts,
        r,
        q=options.q_grid(),
        convention=options.convention,
        normalisation=options.normalisation,
        n_nodes=n,
        fit_range=options.fit_range,
        min_reach=options.min_reach,
        fit_window=_graph_fit_window(options),
        window_min_span=options.window_min_span,
    )


def graph_fit(graph: Any, options: AnalysisOptions) -> dict[str, Any]:
    """What a fit plot shows: the partition series over every radius, the window and the slopes.

    Returns:
        ``{"q" [Q], "ln_r" [R], "ln_z" [Q, R], "window" (r_lo, r_hi), "tau" [Q], "convention",
        "spectrum"}`` (``ln_z``: ``ln Z_q(r)`` for box-growing, ``ln <mu^(q-1)>`` for sandbox;
        ``ln_r``: ``ln r``).
    """
    counts, r, n = graph_counts(graph, options)
    spec = _spectrum(counts, r, n, options)
    _, ln_z = partition_curves(counts, r, q=options.q_grid(), convention=options.convention,
                               normalisation=options.normalisation, n_nodes=n, min_reach=options.min_reach)
    window = (spec.diagnostics or {}).get("fit_window") or [float(spec.radii[0]), float(spec.radii[-1])]
    return {"q": options.q_grid(), "ln_r": np.log(r), "ln_z": ln_z, "window": tuple(window),
            "tau": np.asarray(spec.tau), "convention": options.convention, "spectrum": spec}
