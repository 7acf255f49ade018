"""Named graphs of known structure, built once for every test that needs an exact oracle:
d-dimensional lattices, (u,v)-flowers, Sierpinski gaskets and cycles (unit edge lengths,
undirected, as SciPy CSR matrices via :func:`unit_graph`)."""

from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as sp

__all__ = ["unit_graph", "cycle", "lattice", "flower", "gasket"]


def _frozen(*arrays: np.ndarray) -> None:
    """The builders are cached (each graph is built once per session): make results read-only."""
    for a in arrays:
        a.setflags(write=False)


def unit_graph(n: int, edges: np.ndarray) -> sp.csr_array:
    """Undirected graph with unit distances from an edge list [m, 2] (parallel edges collapse)."""
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    a = sp.coo_array((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    a = a + a.T
    a.data[:] = 1.0  # unit distances (parallel edges collapse)
    return a


@functools.cache
def cycle(n: int) -> tuple[int, np.ndarray]:
    """Cycle C_n: node i is joined to i + 1 (mod n); returns (n, edges)."""
    edges = np.stack([np.arange(n), (np.arange(n) + 1) % n], axis=1)
    _frozen(edges)
    return n, edges


@functools.cache
def lattice(side: int, dim: int) -> tuple[int, np.ndarray, np.ndarray]:
    """Open d-dimensional grid; returns (n, edges, integer coordinates [n, dim])."""
    idx = np.arange(side**dim).reshape((side,) * dim)
    edges = []
    for ax in range(dim):
        a = np.moveaxis(idx, ax, 0)
        edges.append(np.stack([a[:-1].ravel(), a[1:].ravel()], axis=1))
    coords = np.stack(np.unravel_index(np.arange(side**dim), (side,) * dim), axis=1)
    edges = np.concatenate(edges)
    _frozen(edges, coords)
    return side**dim, edges, coords


@functools.cache
def flower(u: int, v: int, generations: int) -> tuple[int, np.ndarray]:
    """(u,v)-flower (Rozenfeld, Havlin & ben-Avraham 2007): start from one link; each
    generation replaces every link by two parallel paths of u and v links."""
    edges = np.array([[0, 1]], dtype=np.int64)
    n = 2
    for _ in range(generations):
        new = []
        m = len(edges)
        for length in (u, v):
            inner = n + np.arange(m * (length - 1)).reshape(m, length - 1)
            n += m * (length - 1)
            path = np.concatenate([edges[:, :1], inner, edges[:, 1:]], axis=1)  # [m, length+1]
            new.append(np.stack([path[:, :-1], path[:, 1:]], axis=2).reshape(-1, 2))
        edges = np.concatenate(new)
    _frozen(edges)
    return n, edges


@functools.cache
def gasket(order: int) -> tuple[int, np.ndarray]:
    """Sierpinski gasket graph of the given order on triangular-lattice coordinates (a, b):
    the unit up-triangle with corner (a, b) is present iff a & b == 0 (Pascal's triangle mod 2)."""
    side = 2**order
    a, b = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    keep = (a + b < side) & ((a & b) == 0)
    a, b = a[keep], b[keep]
    width = side + 1
    p, q, r = a * width + b, (a + 1) * width + b, a * width + b + 1
    e = np.concatenate([np.stack([p, q], 1), np.stack([p, r], 1), np.stack([q, r], 1)])
    used, inv = np.unique(e, return_inverse=True)
    edges = inv.reshape(-1, 2)
    _frozen(edges)
    return len(used), edges
