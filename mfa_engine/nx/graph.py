"""The backend graph: a CSR adjacency that keeps NetworkX's node list and adjacency order."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp

from mfa_engine.errors import ConfigError

__all__ = ["MfaGraph", "labels_are_rows"]


def labels_are_rows(nodes: list[Hashable]) -> bool:
    """The labels are the Python ints 0..N-1 in order (C-level passes: no Python loop)."""
    return not nodes or (set(map(type, nodes)) == {int} and nodes == list(range(len(nodes))))


class MfaGraph:
    """A directed or undirected graph over CSR arrays, with node labels.

    Row ``i`` is node ``nodes[i]``; its entries list the neighbours (successors when directed)
    in NetworkX's adjacency order, which fixes the order of ties in the results. Undirected
    edges are stored both ways. Edge weights are float64 arrays per attribute name (the
    minimum over parallel edges of a multigraph); a missing attribute weighs 1.

    Attributes:
        nodes: Node labels, length N.
        index: Label -> row.
        indptr: int64 [N + 1]. indices: int64 [nnz].
        weights: Attribute name -> float64 [nnz].
        integral: Attribute name -> True when every weight is an integer (lengths are then
            integers, as NetworkX's), False when none is, or a uint8 [nnz] mask of the integer
            weights (each length is an int exactly when its path uses integer weights only).
        graph: Graph attributes (NetworkX's ``G.graph``).
        labels_are_rows: The labels are the ints 0..N-1 in order.

    The constructor's ``index`` and ``rows_are_labels`` take these two when the caller has
    computed them already (the NetworkX converter); otherwise they are derived from ``nodes``.
    """

    __networkx_backend__ = "mfa"

    def __init__(
        self,
        nodes: list[Hashable],
        indptr: np.ndarray,
        indices: np.ndarray,
        *,
        directed: bool,
        multigraph: bool = False,
        weights: dict[str, np.ndarray] | None = None,
        integral: dict[str, bool | np.ndarray] | None = None,
        graph: dict | None = None,
        index: dict[Hashable, int] | None = None,
        rows_are_labels: bool | None = None,
    ) -> None:
        n = len(nodes)
        if indptr.shape != (n + 1,) or int(indptr[-1]) != indices.shape[0]:
            raise ConfigError(f"MfaGraph: indptr must have {n + 1} entries ending at nnz={indices.shape[0]}")
        self.nodes = list(nodes)
        self.index = index if index is not None and len(index) == n else dict(zip(self.nodes, range(n)))
        if len(self.index) != n:
            raise ConfigError("MfaGraph: node labels must be distinct")
        self.indptr = np.ascontiguousarray(indptr, np.int64)
        self.indices = np.ascontiguousarray(indices, np.int64)
        self.weights = {k: np.ascontiguousarray(v, np.float64) for k, v in (weights or {}).items()}
        self.integral = dict(integral or {k: False for k in self.weights})
        self.graph = dict(graph or {})
        self._directed = bool(directed)
        self._multigraph = bool(multigraph)
        self._labels: np.ndarray | None = None
        #: The labels are the ints 0..N-1 in order (rows map to labels without a lookup).
        self.labels_are_rows = labels_are_rows(self.nodes) if rows_are_labels is None else rows_are_labels

    @classmethod
    def from_scipy(cls, matrix: Any, nodes: list[Hashable] | None = None, *, directed: bool = True,
                   weight: str = "weight") -> MfaGraph:
        """Graph of a SciPy sparse matrix whose explicit entries are edge weights ``i -> j``.

        Args:
            matrix: SciPy sparse [N, N]; for ``directed=False`` it must hold every edge both ways.
            nodes: Labels (default 0..N-1).
            directed: Directed graph.
            weight: Attribute name of the weights.
        """
        m = sp.csr_array(matrix)
        if not m.has_sorted_indices:
            m = m.copy()  # sort a copy: the caller's matrix shares its arrays with ``m``
            m.sort_indices()
        n = m.shape[0]
        labels = list(range(n)) if nodes is None else list(nodes)
        return cls(labels, m.indptr.astype(np.int64), m.indices.astype(np.int64), directed=directed,
                   weights={weight: m.data.astype(np.float64)}, integral={weight: False})

    def is_directed(self) -> bool:
        """True for a directed graph."""
        return self._directed

    def is_multigraph(self) -> bool:
        """True when converted from a multigraph (parallel edges folded to their minimum)."""
        return self._multigraph

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self.nodes)

    def __contains__(self, node: Any) -> bool:
        try:
            return node in self.index
        except TypeError:  # unhashable
            return False

    def number_of_nodes(self) -> int:
        """N."""
        return len(self.nodes)

    def number_of_edges(self) -> int:
        """Edges (undirected edges once, parallel edges of a multigraph folded)."""
        nnz = int(self.indices.shape[0])
        if self._directed:
            return nnz
        rows = np.repeat(np.arange(len(self.nodes)), np.diff(self.indptr))
        loops = int(np.count_nonzero(rows == self.indices))
        return (nnz + loops) // 2

    @property
    def labels(self) -> np.ndarray:
        """Node labels as an object array [N] (maps row numbers to labels in bulk)."""
        if self._labels is None:
            self._labels = np.fromiter(self.nodes, dtype=object, count=len(self.nodes))
        return self._labels

    def edge_weights(self, weight: str | None) -> tuple[np.ndarray, bool | np.ndarray]:
        """Weights of attribute ``weight`` (all ones for None: hop counts).

        Returns:
            (float64 [nnz], integral: True, False or a uint8 [nnz] mask; see ``integral``).

        Raises:
            ConfigError: The graph does not carry ``weight`` (it was converted without it, so
                its values are unknown here; NetworkX would read them from the original graph).
        """
        if weight is None:
            return np.ones(self.indices.shape[0]), True
        if weight not in self.weights:
            carried = ", ".join(map(repr, self.weights)) or "none"
            raise ConfigError(f"MfaGraph does not carry edge attribute {weight!r} (carried: {carried}); convert "
                              f"with mfa_engine.nx.from_networkx(G, edge_attrs={{{weight!r}: 1}})")
        return self.weights[weight], self.integral.get(weight, False)

    def __repr__(self) -> str:
        kind = "directed" if self._directed else "undirected"
        return f"MfaGraph({kind}, {len(self.nodes)} nodes, {self.indices.shape[0]} adjacency entries)"
