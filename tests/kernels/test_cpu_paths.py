"""Unit tests of the numba CPU kernels (mfa_engine.kernels.cpu_paths) against NumPy/SciPy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse import csgraph

from mfa_engine.kernels import cpu_paths as cp


def _minplus_ref(d: np.ndarray, w: np.ndarray, thr: float) -> np.ndarray:
    d = np.where(d > thr, np.inf, d)
    return (d[:, :, None] + w[None, :, :]).min(axis=1) if d.shape[1] else np.full((d.shape[0], w.shape[1]), np.inf)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nb,na,ncol", [(1, 1, 1), (3, 5, 7), (5, 131, 37), (2, 4, 600), (33, 9, 513)])
def test_minplus_into_matches_numpy(dtype, nb: int, na: int, ncol: int) -> None:
    rng = np.random.default_rng(nb * 1000 + na + ncol)
    d = rng.uniform(0, 3, (nb, na)).astype(dtype)
    d[rng.random((nb, na)) < 0.3] = np.inf
    w = rng.uniform(0, 3, (na, ncol)).astype(dtype)
    w[rng.random((na, ncol)) < 0.4] = np.inf
    prev = rng.uniform(1, 6, (nb, ncol)).astype(dtype)
    buf = np.concatenate([d, prev], axis=1)
    thr = 2.0
    wt = np.empty((cp.RED_TILE, cp.COL_TILE), dtype)
    xt = np.empty((nb, cp.RED_TILE), dtype)
    cp.minplus_into(buf, 0, na, w.ravel(), 0, na, ncol, dtype(thr), dtype(np.inf), dtype(0), wt, xt)
    expect = np.minimum(prev, _minplus_ref(d, w, thr))
    np.testing.assert_array_equal(buf[:, na:], expect)
    np.testing.assert_array_equal(buf[:, :na], d)  # source level untouched


def test_radius_table_bucket_matches_searchsorted() -> None:
    rng = np.random.default_rng(0)
    for radii in (np.geomspace(1e-3, 1e4, 64), np.array([0.0, 0.5, 0.5, 2.0, np.inf]), np.array([3.0])):
        tab = cp.radius_table(radii)
        d = np.concatenate([rng.uniform(0, 1e4, 500), radii[np.isfinite(radii)], [0.0, 1e300]])
        got = cp._bucket_many(radii, tab, d)
        np.testing.assert_array_equal(got, np.searchsorted(radii, d, side="left"))


def test_histogram_to_counts() -> None:
    hist = np.array([[1, 0, 2, 5], [0, 0, 0, 1]], np.int64)
    np.testing.assert_array_equal(cp.histogram_to_counts(hist), [[1, 1, 3], [0, 0, 0]])


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
    cp.csr_dijkstra_counts(m.indptr.astype(np.int64), m.indices.astype(np.int64), m.data, src, radii, cutoff, hist, dist, True)
    ref = csgraph.dijkstra(m, indices=src, limit=cutoff)
    np.testing.assert_array_equal(dist, ref.astype(np.float32))
    counts = cp.histogram_to_counts(hist)
    expect = (np.where(np.isfinite(ref), ref, np.nan)[:, None, :] <= radii[None, :, None]).sum(-1)
    np.testing.assert_array_equal(counts, expect)
