"""Turn any accepted graph into the form a kernel runs on: DAG levels or a CSR matrix.

:func:`prepare_graph` checks the distances (NaN, negative) and converts the graph once; its
result, a :class:`PreparedGraph`, can be passed to the path API in place of the graph, so
several calls on one graph (the radius grid, then the counts) share that work.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from mfa_engine.errors import ConfigError
from mfa_engine.paths.csr_kernel_graph import KernelGraph, kernel_graph
from mfa_engine.paths.dag import cached_by_content, detect_dag, from_layered
from mfa_engine.paths.inputs import as_csr, as_layered, check_sparse_structure, is_layered

__all__ = ["Prepared", "PreparedGraph", "prepare_graph", "symmetrise"]

#: ("dag", DagLevels) or ("csr", canonical float64 CSR, directed edges only)
Prepared = tuple[str, Any]


@dataclass(frozen=True)
class PreparedGraph:
    """A graph checked and converted once for the kernels (:func:`prepare_graph`): the one
    explicit preparation handle. Forms derived later for a backend (the renumbered, row-sorted
    CSR of the CPU general-graph kernel) are kept on it.

    Unpacks as the ``(kind, obj)`` pair the backends take.

    Attributes:
        kind: ``"dag"`` or ``"csr"``.
        obj: :class:`~mfa_engine.paths.dag.DagLevels` or canonical float64 CSR ``[N, N]``
            (symmetrised for undirected traversal).
        directed: The traversal it was prepared for.
    """

    kind: str
    obj: Any
    directed: bool
    _derived: dict[str, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    def kernel_graph(self) -> KernelGraph:
        """The CPU general-graph kernel's form of a ``"csr"`` graph, built on first use."""
        if "kernel_graph" not in self._derived:
            self._derived["kernel_graph"] = kernel_graph(self.obj)
        return self._derived["kernel_graph"]

    def __iter__(self) -> Iterator[Any]:
        return iter((self.kind, self.obj))

    @property
    def n_nodes(self) -> int:
        """Number of nodes N."""
        return int(self.obj.n_nodes if self.kind == "dag" else self.obj.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        """``(N, N)``."""
        return (self.n_nodes, self.n_nodes)


def symmetrise(m: sp.csr_array) -> sp.csr_array:
    """Undirected version of a canonical CSR graph: every edge both ways, the shorter kept.

    Args:
        m: Canonical float64 CSR [N, N].

    Returns:
        Canonical float64 CSR [N, N] with ``a[i, j] = a[j, i] = min(m[i, j], m[j, i])`` over the
        explicit entries.
    """
    n = m.shape[0]
    coo = m.tocoo()
    r = np.concatenate([coo.row, coo.col]).astype(np.int64)
    c = np.concatenate([coo.col, coo.row]).astype(np.int64)
    v = np.concatenate([coo.data, coo.data])
    key = r * n + c
    order = np.lexsort((v, key))  # by key, then by value: first of each key is the minimum
    key, v = key[order], v[order]
    first = np.ones(key.size, bool)
    first[1:] = key[1:] != key[:-1]
    key, v = key[first], v[first]
    out = sp.csr_array((v, (key // n, key % n)), shape=(n, n)) if n else sp.csr_array((0, 0))
    out.sort_indices()
    return out


def prepare_graph(graph: Any, directed: bool = True) -> PreparedGraph:
    """Prepare a graph for the kernels (a prepared graph is returned as is).

    The result can be passed as ``graph`` to ``multi_source_counts`` and
    ``multi_source_distances`` (with the same ``directed``); they then skip the distance
    checks and the conversion (DAG levels, packed blocks, CSR).

    Args:
        graph: Layered graph, SciPy sparse matrix, dense 2-D array (see ``inputs``), or a
            :class:`PreparedGraph`.
        directed: Directed traversal; undirected graphs always take the CSR path.

    Returns:
        ``PreparedGraph("dag", DagLevels)`` when the directed graph is a DAG worth the dense
        path, else ``PreparedGraph("csr", CSR [N, N])`` (symmetrised when undirected).

    Raises:
        ConfigError: NaN or negative distances, bad shapes, or a graph prepared for the other
            traversal direction.
    """
    if isinstance(graph, PreparedGraph):
        if graph.directed != bool(directed):
            raise ConfigError(
                f"graph was prepared for directed={graph.directed}, but directed={bool(directed)} was asked"
            )
        return graph
    directed = bool(directed)
    if sp.issparse(graph):
        if graph.format not in _HASHED_FORMATS:
            check_sparse_structure(graph)  # before hashing or converting it
        # The fingerprint reads the hashed formats' arrays as raw bytes (no index is followed),
        # and a cache hit means they hash as when they were validated: ``as_csr`` checks the
        # structure on every miss, so a repeated call skips the O(E) structure pass. The
        # undirected form is cached too (symmetrising costs a sort of every edge).
        return cached_by_content(graph, directed, lambda scan: _prepare_sparse(graph, directed, scan))
    kind, obj = _prepare(graph, directed)
    return PreparedGraph(kind, obj, directed)


#: Sparse formats whose index arrays the cache fingerprint hashes directly (no conversion first).
_HASHED_FORMATS = frozenset({"csr", "csc", "bsr", "coo"})


def _prepare_sparse(graph: Any, directed: bool, scan: tuple[bool, bool, bool] | None) -> PreparedGraph:
    """A user's SciPy sparse matrix prepared (on a miss of :func:`cached_by_content`)."""
    csr = as_csr(graph, scanned=scan)
    if not directed:
        return PreparedGraph("csr", symmetrise(csr), False)
    levels = detect_dag(csr)
    return PreparedGraph("dag", levels, True) if levels is not None else PreparedGraph("csr", csr, True)


def _prepare(graph: Any, directed: bool) -> Prepared:
    if is_layered(graph):
        g = as_layered(graph)
        if directed:
            return "dag", from_layered(g)
        return "csr", symmetrise(g.to_csr())
    csr = as_csr(graph)
    if directed:
        levels = detect_dag(csr)
        return ("dag", levels) if levels is not None else ("csr", csr)
    return "csr", symmetrise(csr)
