"""Batched, distance-bounded multi-source shortest paths and neighbour counting.

Public API (contract, see docs/architecture.md "Paths")::

    multi_source_counts(graph, sources, radii, *, directed=True, backend="auto") -> int64 [S, R]
    multi_source_distances(graph, sources, *, cutoff=inf, directed=True, backend="auto") -> float32 [S, N]
    prepare_graph(graph, directed=True) -> PreparedGraph   # check + convert once, pass as ``graph``

``counts[s, k]`` = number of nodes v with ``d(sources[s], v) <= radii[k]`` (the source itself
included, unreachable nodes never counted, inclusive cutoff as in SciPy and igraph).

Routes:
    * A layered graph (``layer_sizes`` + ``blocks``) or a directed SciPy matrix that is a DAG
      (levels detected, dense level blocks gathered once, cached per matrix and invalidated when
      its arrays change) takes the topological path: a chain of min-plus products with the
      radius counting fused in, never forming the S x N distance matrix.
    * Any other graph (cycles, undirected traversal, too many levels, too sparse for dense
      blocks) takes the general path: bounded Dijkstra on CPU, frontier relaxation on GPU.

Backends (``backend=``): "auto" (triton on CUDA, else cpu), "cpu" (numba, multi-threaded,
cache-blocked float32 min-plus; exact float64 recomputation of any source whose float32
distances fall within the rounding bound of a radius, so counts equal float64 Dijkstra),
"torch" (plain float64 reference), "triton" and "cupy" (GPU; float32 with the same exact CPU
fix-up). Asking for a GPU backend without a GPU raises ``BackendError`` (triton is allowed
under ``TRITON_INTERPRET=1``, which runs the kernels on CPU tensors).

GPU status: no GPU was available while this was written. The Triton kernels are tested under
the Triton interpreter on tiny shapes and compiled ahead of time for sm_80 and sm_90
(``mfa kernels check``: no spills); the CuPy RawKernel sources are only compiled with nvcc for
sm_80 and sm_90 and have never been run. GPU performance is unmeasured.

Importing this package does not import torch, triton, cupy or numba.
"""

from __future__ import annotations

from mfa_engine.paths.api import multi_source_counts, multi_source_distances
from mfa_engine.paths.dispatch import BACKENDS
from mfa_engine.paths.prepare import PreparedGraph, prepare_graph

__all__ = ["multi_source_counts", "multi_source_distances", "prepare_graph", "PreparedGraph", "BACKENDS"]
