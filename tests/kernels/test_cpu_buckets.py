"""Unit tests of the radius-grid bucketing (mfa_engine.kernels.cpu_buckets) against np.searchsorted."""

from __future__ import annotations

import numba
import numpy as np

from mfa_engine.kernels import cpu_buckets as bk


@numba.njit
def _bucket_many(radii_pad: np.ndarray, tab: np.ndarray, d: np.ndarray, dbits: np.ndarray) -> np.ndarray:
    """Vector of ``_bucket_fast`` results (int64 [n]) for d [n] >= 0."""
    out = np.empty(d.shape[0], dtype=np.int64)
    shift = 8 * dbits.itemsize - 16
    for i in range(d.shape[0]):
        out[i] = bk._bucket_fast(radii_pad, tab, dbits[i], shift, np.float64(d[i]))
    return out


def test_radius_table_bucket_matches_searchsorted() -> None:
    rng = np.random.default_rng(0)
    for radii in (np.geomspace(1e-3, 1e4, 64), np.array([0.0, 0.5, 0.5, 2.0, np.inf]), np.array([3.0])):
        for dtype, big in ((np.float64, 1e300), (np.float32, 3e38)):
            tab = bk.radius_table(radii, dtype)
            d = np.concatenate([rng.uniform(0, 1e4, 500), radii[np.isfinite(radii)], [0.0, big]]).astype(dtype)
            near = radii[np.isfinite(radii)].astype(dtype)  # float32 neighbours of every radius
            d = np.concatenate([d, np.nextafter(near, dtype(0)), np.nextafter(near, dtype(np.inf))])
            bits = d.view(np.uint32 if dtype == np.float32 else np.uint64)
            got = _bucket_many(bk.padded_radii(radii), tab, d, bits)
            np.testing.assert_array_equal(got, np.searchsorted(radii, d.astype(np.float64), side="left"))
