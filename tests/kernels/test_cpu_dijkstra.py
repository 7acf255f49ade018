"""Unit tests of the numba Dijkstra kernel (mfa_engine.kernels.cpu_dijkstra) against SciPy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse import csgraph

from mfa_engine.kernels import cpu_dijkstra as dj


@pytest.mark.parametrize("n", [1, 7, 64])
def test_csr_dijkstra_counts_matches_scipy(n: int) -> None:
    rng = np.random.default_rng(n)
    m = sp.random_array((n, n), density=0.15, rng=rng, format="csr")
    m.data = rng.integers(1, 4, m.nnz).astype(np.float64)
    src = rng.integers(0, n, 9).astype(np.int64)
    cutoff = 4.0
    radii = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    hist = np.zeros((src.size, radii.size + 1), np.int64)
    dist = np.full((src.size, n), np.inf, np.float32)
    dj.csr_dijkstra_counts(m.indptr.astype(np.int64), m.indices.astype(np.int64), m.data, src, radii, cutoff, hist, dist, True)
    ref = csgraph.dijkstra(m, indices=src, limit=cutoff)
    np.testing.assert_array_equal(dist, ref.astype(np.float32))
    counts = np.cumsum(hist, axis=1)[:, :-1]
    expect = (np.where(np.isfinite(ref), ref, np.nan)[:, None, :] <= radii[None, :, None]).sum(-1)
    np.testing.assert_array_equal(counts, expect)
