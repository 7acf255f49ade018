"""Public path API: multi-source neighbour counts and distances with an inclusive cutoff."""

from __future__ import annotations

from typing import Any

import numpy as np

from mfa_engine.paths import dispatch
from mfa_engine.paths.inputs import as_cutoff, as_radii, as_sources, n_nodes_of

__all__ = ["multi_source_counts", "multi_source_distances"]



def multi_source_counts(
    graph: Any,
    sources: Any,
    radii: Any,
    *,
    directed: bool = True,
    backend: str = "auto",
) -> np.ndarray:
    """Count, for each source and radius, the nodes within that distance.

    ``counts[s, k] = #{v : d(sources[s], v) <= radii[k]}``; the source itself is included
    (distance 0) and the cutoff is inclusive. The S x N distance matrix is never formed:
    sources are processed in memory-bounded batches.

    Args:
        graph: SciPy sparse matrix/array [N, N] whose explicit entries are edge distances
            (i -> j), a dense 2-D array (0 and inf = no edge, as in scipy.sparse.csgraph), or a
            layered graph (an object with ``layer_sizes: list[int]`` and ``blocks: list[array [n_l, n_{l+1}]]``, inf = no
            edge). A sparse matrix that is a DAG takes the fast layered path automatically.
            Or a graph from :func:`~mfa_engine.paths.prepare.prepare_graph` (prepared for the
            same ``directed``).
        sources: int [S] node ids (NumPy, torch or sequence; duplicates allowed; S may be 0).
        radii: float [R] radius grid (any order).
        directed: Follow edges i -> j only; ``False`` treats every edge as two-way.
        backend: "auto" (triton on CUDA, else cpu), "triton", "cupy", "cpu" or "torch".

    Returns:
        int64 [S, R].

    Raises:
        BackendError: A GPU backend was requested without a CUDA device.
        ConfigError: Invalid graph, sources or radii.
    """
    n = n_nodes_of(graph)
    src = as_sources(sources, n)
    rad = as_radii(radii)
    return dispatch.run_counts(graph, src, rad, directed=bool(directed), backend=backend)


def multi_source_distances(
    graph: Any,
    sources: Any,
    *,
    cutoff: float = np.inf,
    directed: bool = True,
    backend: str = "auto",
) -> np.ndarray:
    """Shortest-path distances from each source to every node, bounded by ``cutoff``.

    Args:
        graph: As in :func:`multi_source_counts`.
        sources: int [S] node ids.
        cutoff: Inclusive cutoff; distances greater than it (and unreachable nodes) are +inf.
        directed: Follow edges i -> j only; ``False`` treats every edge as two-way.
        backend: "auto", "triton", "cupy", "cpu" or "torch".

    Returns:
        float32 [S, N].

    Raises:
        BackendError: A GPU backend was requested without a CUDA device.
        ConfigError: Invalid graph, sources or cutoff.
    """
    n = n_nodes_of(graph)
    src = as_sources(sources, n)
    cut = as_cutoff(cutoff)
    return dispatch.run_distances(graph, src, cut, directed=bool(directed), backend=backend)
