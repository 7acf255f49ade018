"""The layered graph: a DAG given as dense distance blocks between consecutive node layers.

This is the one layered-graph type of the package: ``build_nin`` returns it, the path API
accepts it (or any object with ``layer_sizes`` and ``blocks``, converted to it), and the
kernels run on its packed form (:class:`mfa_engine.paths.dag.DagLevels`).

Importing this module imports NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from mfa_engine.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import scipy.sparse

__all__ = ["LayeredGraph", "LevelBlock"]


@dataclass
class LayeredGraph:
    """A layered DAG given as dense distance blocks between consecutive node layers.

    Nodes are numbered layer by layer: layer ``l`` holds nodes ``offsets[l] .. offsets[l+1]-1``.
    Construction checks the shapes; the distances themselves (no NaN, none negative) are
    checked once per analysis, when the path API prepares the graph.

    Attributes:
        layer_sizes: Number of nodes of each layer, length ``L``.
        blocks: ``L - 1`` arrays, ``blocks[l]`` float64 ``[n_l, n_{l+1}]``; entry ``[i, j]`` is
            the distance of edge ``i -> j`` (``inf`` where there is no edge).
        node_block: int64 ``[N]``, transformer block of each node (NINs; the output layer gets
            ``n_blocks``), or empty.
        node_kind: ``[N]`` layer kind names (NINs, see ``mfa_engine.nin.LAYER_KINDS``), or empty.
        node_neuron: int64 ``[N]``, index of the neuron within its full (unsampled) layer
            (NINs), or empty.
        structural: Per block, True for structural (non-weight) blocks (NINs); empty = none.
        structural_distance: Distance of the structural edges (NINs), or None.
    """

    layer_sizes: list[int]
    blocks: list[np.ndarray]
    node_block: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    node_kind: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="<U8"))
    node_neuron: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    structural: list[bool] = field(default_factory=list)
    structural_distance: float | None = None

    def __post_init__(self) -> None:
        self.layer_sizes = [int(n) for n in self.layer_sizes]
        if any(n < 0 for n in self.layer_sizes):
            raise ConfigError(f"LayeredGraph layer_sizes must be non-negative, got {self.layer_sizes}")
        if len(self.blocks) != max(len(self.layer_sizes) - 1, 0):
            raise ConfigError(
                f"LayeredGraph needs len(layer_sizes) - 1 = {max(len(self.layer_sizes) - 1, 0)} blocks, "
                f"got {len(self.blocks)}"
            )
        for l, blk in enumerate(self.blocks):
            want = (self.layer_sizes[l], self.layer_sizes[l + 1])
            if np.shape(blk) != want:
                raise ConfigError(f"LayeredGraph blocks[{l}] has shape {np.shape(blk)}, expected {want} from layer_sizes")

    @property
    def offsets(self) -> np.ndarray:
        """int64 ``[L + 1]``: first node id of each layer, then the node count."""
        off = np.zeros(len(self.layer_sizes) + 1, np.int64)
        off[1:] = np.cumsum(self.layer_sizes, dtype=np.int64)
        return off

    @property
    def n_nodes(self) -> int:
        """Total number of nodes ``N``."""
        return int(sum(self.layer_sizes))

    @property
    def shape(self) -> tuple[int, int]:
        """``(N, N)``, as for a sparse adjacency matrix."""
        return (self.n_nodes, self.n_nodes)

    @property
    def n_edges(self) -> int:
        """Number of finite edges."""
        return int(sum(np.isfinite(b).sum() for b in self.blocks))

    def weight_distances(self) -> np.ndarray:
        """float64: the finite distances of the weighted (non-structural) edges."""
        parts = [np.asarray(b, dtype=np.float64) for l, b in enumerate(self.blocks)
                 if not (l < len(self.structural) and self.structural[l])]
        return np.concatenate([p[np.isfinite(p)] for p in parts]) if parts else np.zeros(0)

    def to_csr(self) -> scipy.sparse.csr_array:
        """Export as a SciPy CSR array ``[N, N]`` whose explicit entries are the finite distances.

        Returns:
            Canonical float64 CSR (sorted indices, no duplicates).
        """
        off = self.offsets
        rows, cols, vals = [], [], []
        for l, blk in enumerate(self.blocks):
            i, j = np.nonzero(np.isfinite(blk))
            rows.append(i + off[l])
            cols.append(j + off[l + 1])
            vals.append(np.asarray(blk, dtype=np.float64)[i, j])
        n = self.n_nodes
        if rows:
            r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
        else:
            r = c = np.zeros(0, np.int64)
            v = np.zeros(0, np.float64)
        out = sp.csr_array((v, (r, c)), shape=(n, n))
        out.sort_indices()
        return out


@dataclass
class LevelBlock:
    """One block of a layered network.

    Attributes:
        level: Source level l (the block joins level l to level l + 1).
        weights: float64 [n_l, n_{l+1}] edge distances, +inf = no edge.
        structural: The block is the structural QKV -> context block.
    """

    level: int
    weights: np.ndarray
    structural: bool = False
