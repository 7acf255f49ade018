"""Normalisation of user inputs (graphs, source lists, radius grids) for the path API.

A graph is either a SciPy sparse matrix/array whose explicit entries are edge distances
(i -> j, explicit zeros are zero-length edges), a dense 2-D NumPy/torch array (0 and inf = no
edge, as in ``scipy.sparse.csgraph``: use a sparse matrix with explicit zeros for zero-length
edges), or a layered graph: any object with ``layer_sizes: list[int]`` and
``blocks: list[array [n_l, n_{l+1}]]`` (inf = no edge; nodes numbered layer by layer).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from mfa_engine.errors import ConfigError
from mfa_engine.layered import LayeredGraph

__all__ = [
    "as_numpy",
    "is_layered",
    "as_layered",
    "as_csr",
    "as_sources",
    "as_radii",
    "as_cutoff",
    "n_nodes_of",
    "check_sparse_structure",
]


def as_numpy(x: Any, dtype: Any = None) -> np.ndarray:
    """Convert a NumPy array, torch tensor, CuPy/DLPack array or sequence to NumPy.

    Args:
        x: Array-like input.
        dtype: Optional NumPy dtype to cast to.

    Returns:
        A NumPy array (a view where possible).
    """
    mod = type(x).__module__
    if mod.startswith("torch"):
        x = x.detach().cpu().numpy()
    elif mod.startswith("cupy"):
        x = x.get()
    return np.asarray(x, dtype=dtype)


def is_layered(graph: Any) -> bool:
    """True when ``graph`` duck-types as a layered graph (``layer_sizes`` and ``blocks``)."""
    return hasattr(graph, "layer_sizes") and hasattr(graph, "blocks") and not sp.issparse(graph)


def _check_distances(values: np.ndarray, what: str) -> None:
    if values.size == 0:
        return
    if np.isnan(values).any():
        raise ConfigError(f"{what} contains NaN distances; expected non-negative numbers or inf")
    if (values < 0).any():
        raise ConfigError(f"{what} contains negative distances; expected distances >= 0")


def _same_buffer(a: np.ndarray, b: np.ndarray) -> bool:
    """True if two arrays view the same memory with the same layout."""
    return a.shape == b.shape and a.strides == b.strides and a.dtype == b.dtype and (
        a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    )


def _has_bad_or_inf(data: np.ndarray, scanned: tuple[bool, bool, bool] | None = None) -> bool:
    """Check a CSR data array in one compiled pass.

    Args:
        data: float64 [nnz] edge distances.
        scanned: (has_nan, has_negative, has_inf) of ``data`` if already known (no pass then).

    Returns:
        True when some entry is +inf (an explicit "no edge").

    Raises:
        ConfigError: On NaN or negative distances.
    """
    from mfa_engine.kernels import cpu_scan

    if scanned is None:
        scanned = cpu_scan.scan_values(np.ascontiguousarray(data, np.float64))
    has_nan, has_neg, has_inf = scanned
    if has_nan:
        raise ConfigError("graph contains NaN distances; expected non-negative numbers or inf")
    if has_neg:
        raise ConfigError("graph contains negative distances; expected distances >= 0")
    return bool(has_inf)


def _check_compressed(indptr: Any, indices: Any, n_data: int, major: int, minor: int, what: str) -> None:
    indptr = np.asarray(indptr)
    indices = np.asarray(indices)
    if indptr.ndim != 1 or indptr.size != major + 1:
        raise ConfigError(f"{what}: indptr has {indptr.size} entries; expected {major + 1} (rows + 1)")
    if indices.ndim != 1:
        raise ConfigError(f"{what}: indices must be 1-D, got shape {indices.shape}")
    if not (np.issubdtype(indptr.dtype, np.integer) and np.issubdtype(indices.dtype, np.integer)):
        raise ConfigError(f"{what}: indptr and indices must be integers, got {indptr.dtype} and {indices.dtype}")
    if int(indptr[0]) != 0:
        raise ConfigError(f"{what}: indptr[0] is {int(indptr[0])}; expected 0")
    if major and (np.diff(indptr) < 0).any():
        bad = int(np.flatnonzero(np.diff(indptr) < 0)[0])
        raise ConfigError(f"{what}: indptr decreases at row {bad} ({int(indptr[bad])} -> "
                          f"{int(indptr[bad + 1])}); expected a non-decreasing indptr")
    nnz = int(indptr[-1])
    if nnz > indices.size or nnz > n_data:
        raise ConfigError(f"{what}: indptr[-1] is {nnz}, but there are {indices.size} indices and "
                          f"{n_data} values; expected indptr[-1] <= both")
    if nnz:
        used = indices[:nnz]
        lo, hi = int(used.min()), int(used.max())
        if lo < 0 or hi >= minor:
            raise ConfigError(f"{what}: index {lo if lo < 0 else hi} out of range; expected "
                              f"0 <= index < {minor}")


def check_sparse_structure(graph: Any) -> None:
    """Validate the index arrays of a SciPy sparse matrix before SciPy or a kernel uses them.

    SciPy's constructors check shapes but not index ranges or indptr order, and its compiled
    routines (and ours) read out of bounds on such input.

    Args:
        graph: Any SciPy sparse matrix/array.

    Raises:
        ConfigError: indptr not of length rows + 1, not starting at 0, decreasing, or past the
            end of the arrays; an index outside the matrix.
    """
    what = f"sparse graph {graph.shape}"
    if len(graph.shape) != 2:
        raise ConfigError(f"{what}: expected a 2-D matrix")
    n, m = (int(x) for x in graph.shape)
    fmt = graph.format
    if fmt == "csr":
        _check_compressed(graph.indptr, graph.indices, np.asarray(graph.data).size, n, m, what + " (CSR)")
    elif fmt == "csc":
        _check_compressed(graph.indptr, graph.indices, np.asarray(graph.data).size, m, n, what + " (CSC)")
    elif fmt == "bsr":
        r, c = graph.blocksize
        _check_compressed(graph.indptr, graph.indices, np.asarray(graph.data).shape[0], n // r, m // c,
                          what + " (BSR)")
    elif fmt == "coo":
        coords = tuple(graph.coords) if hasattr(graph, "coords") else (graph.row, graph.col)
        sizes = {np.asarray(a).size for a in coords} | {np.asarray(graph.data).size}
        if len(sizes) != 1:
            raise ConfigError(f"{what} (COO): row, col and data have different lengths")
        for axis, (arr, bound) in enumerate(zip(coords, (n, m))):
            arr = np.asarray(arr)
            if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= bound):
                raise ConfigError(f"{what} (COO): {'row' if axis == 0 else 'column'} index out of "
                                  f"range; expected 0 <= index < {bound}")


def as_layered(graph: Any) -> LayeredGraph:
    """Validate a layered graph (a :class:`LayeredGraph` or any object with its two fields).

    Args:
        graph: Object with ``layer_sizes`` (list of int, length L) and ``blocks``
            (L - 1 arrays [n_l, n_{l+1}], inf = no edge; NumPy, torch or CuPy).

    Returns:
        A :class:`~mfa_engine.layered.LayeredGraph` with float64 blocks (the same object when
        it already is one with float64 NumPy blocks).

    Raises:
        ConfigError: On inconsistent shapes or NaN/negative distances.
    """
    blocks = [as_numpy(b, np.float64) for b in graph.blocks]
    same = isinstance(graph, LayeredGraph) and all(a is b for a, b in zip(blocks, graph.blocks))
    g = graph if same else LayeredGraph([int(n) for n in graph.layer_sizes], blocks)
    for l, b in enumerate(g.blocks):
        _check_distances(b, f"blocks[{l}]")
    return g


def as_csr(graph: Any, scanned: tuple[bool, bool, bool] | None = None) -> sp.csr_array:
    """Convert a sparse or dense graph to a canonical float64 CSR array [N, N].

    Duplicate entries are summed (as SciPy does); explicit zeros are kept as zero-length
    edges. Dense inputs use 0 and inf as "no edge" (as ``scipy.sparse.csgraph`` does).

    Args:
        graph: SciPy sparse matrix/array or dense 2-D array.
        scanned: (has_nan, has_negative, has_inf) of ``graph.data`` if already known (a
            float64 sparse graph whose data was scanned while hashing it); used only when the
            result shares that data array.

    Raises:
        ConfigError: If the matrix is not square, holds NaN/negative distances, or its sparse
            index arrays are malformed (see :func:`check_sparse_structure`).
    """
    if sp.issparse(graph):
        check_sparse_structure(graph)
        if graph.format == "csr" and graph.dtype == np.float64 and graph.has_canonical_format:
            m = sp.csr_array(graph, copy=False)  # shares the arrays; never modified below
            if scanned is not None and not _same_buffer(m.data, graph.data):
                scanned = None
        else:
            scanned = None
            m = sp.csr_array(graph, dtype=np.float64, copy=True)
            m.sum_duplicates()
            m.sort_indices()
    else:
        scanned = None
        dense = as_numpy(graph, np.float64)
        if dense.ndim != 2:
            raise ConfigError(f"graph must be a 2-D matrix, got an array of shape {dense.shape}")
        # 0 and inf are "no edge" in a dense matrix (as in scipy.sparse.csgraph); NaN is kept
        # so that it is reported below
        i, j = np.nonzero((np.isfinite(dense) & (dense != 0)) | np.isnan(dense))
        m = sp.csr_array((dense[i, j], (i, j)), shape=dense.shape)
    if m.shape[0] != m.shape[1]:
        raise ConfigError(f"graph must be a square matrix, got shape {m.shape}")
    if _has_bad_or_inf(m.data, scanned):  # an explicit inf is no edge
        keep = ~np.isinf(m.data)
        coo = m.tocoo()
        m = sp.csr_array((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=m.shape)
        m.sort_indices()
    return m


def n_nodes_of(graph: Any) -> int:
    """Number of nodes of a layered or matrix graph."""
    if is_layered(graph):
        return int(sum(int(n) for n in graph.layer_sizes))
    return int(graph.shape[0])


def as_sources(sources: Any, n_nodes: int) -> np.ndarray:
    """Validate source node ids.

    Args:
        sources: Integer array-like [S] (duplicates allowed); a scalar is one source.
        n_nodes: Number of nodes N.

    Returns:
        int64 [S].

    Raises:
        ConfigError: If an id is not an integer in [0, N).
    """
    arr = as_numpy(sources)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ConfigError(f"sources must be a 1-D array of node ids, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ConfigError("sources must be integer node ids")
    arr = arr.astype(np.int64)
    if arr.min() < 0 or arr.max() >= n_nodes:
        raise ConfigError(
            f"sources must lie in [0, {n_nodes}), got ids from {arr.min()} to {arr.max()}"
        )
    return arr


def as_radii(radii: Any) -> np.ndarray:
    """Validate a radius grid.

    Args:
        radii: Array-like [R] of radii (any order; inf allowed).

    Returns:
        float64 [R].

    Raises:
        ConfigError: On NaN or a non-1-D grid.
    """
    arr = as_numpy(radii, np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ConfigError(f"radii must be a 1-D array, got shape {arr.shape}")
    if np.isnan(arr).any():
        raise ConfigError("radii contain NaN; expected numbers (inf allowed)")
    return arr


def as_cutoff(cutoff: Any) -> float:
    """Validate a distance cutoff (inclusive); returns a float (inf = no cutoff)."""
    c = float(cutoff)
    if np.isnan(c):
        raise ConfigError("cutoff is NaN; expected a number or inf")
    return c
