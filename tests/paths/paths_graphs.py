"""Random test graphs and SciPy oracles shared by the path tests."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph


@dataclass
class LG:
    """Minimal duck-typed layered graph (layer_sizes + blocks)."""

    layer_sizes: list[int]
    blocks: list[np.ndarray] = field(default_factory=list)


def random_weights(rng: np.random.Generator, shape: tuple[int, ...], kind: str) -> np.ndarray:
    """Edge distances: 'int' small integers (ties everywhere), 'float' arbitrary positive floats,
    'zero' includes zero-length edges."""
    if kind == "int":
        return rng.integers(1, 4, shape).astype(np.float64)
    if kind == "zero":
        return rng.integers(0, 3, shape).astype(np.float64)
    return 1.0 / rng.uniform(0.01, 1.0, shape)


def random_layered(rng: np.random.Generator, sizes: list[int], density: float, kind: str) -> LG:
    blocks = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        w = random_weights(rng, (a, b), kind)
        w[rng.random((a, b)) >= density] = np.inf
        blocks.append(w)
    return LG(list(sizes), blocks)


def layered_to_csr(g: LG) -> sp.csr_array:
    off = np.concatenate([[0], np.cumsum(g.layer_sizes)])
    r, c, v = [], [], []
    for l, b in enumerate(g.blocks):
        i, j = np.nonzero(np.isfinite(b))
        r.append(i + off[l])
        c.append(j + off[l + 1])
        v.append(b[i, j])
    n = int(off[-1])
    if not r:
        return sp.csr_array((n, n))
    return sp.csr_array((np.concatenate(v), (np.concatenate(r), np.concatenate(c))), shape=(n, n))


def random_csr(rng: np.random.Generator, n: int, density: float, kind: str) -> sp.csr_array:
    m = sp.random_array((n, n), density=density, rng=rng, format="coo")
    w = random_weights(rng, (m.nnz,), kind)
    return sp.csr_array((w, (m.row, m.col)), shape=(n, n))


def oracle_distances(m, sources, directed=True, cutoff=np.inf) -> np.ndarray:
    n = m.shape[0]
    if len(sources) == 0:
        return np.zeros((0, n))
    return csgraph.dijkstra(m, directed=directed, indices=np.asarray(sources), limit=cutoff)


def oracle_counts(m, sources, radii, directed=True) -> np.ndarray:
    d = oracle_distances(m, sources, directed)
    d = np.where(np.isfinite(d), d, np.nan)  # unreachable never counts
    return (d[:, None, :] <= np.asarray(radii)[None, :, None]).sum(-1).astype(np.int64)


def radii_with_exact_lengths(rng: np.random.Generator, d: np.ndarray, extra: int = 6) -> np.ndarray:
    """Radius grid that contains exact path lengths (to test the inclusive cutoff)."""
    fin = np.unique(d[np.isfinite(d)])
    picks = rng.choice(fin, size=min(extra, fin.size), replace=False) if fin.size else np.zeros(0)
    rand = rng.uniform(0, fin.max() if fin.size else 1.0, 3)
    return np.concatenate([picks, rand, [0.0]])
