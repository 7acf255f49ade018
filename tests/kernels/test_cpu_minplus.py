"""Unit tests of the numba min-plus kernel (mfa_engine.kernels.cpu_minplus) against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from mfa_engine.kernels import cpu_minplus as mp


def _minplus_ref(d: np.ndarray, w: np.ndarray, thr: float) -> np.ndarray:
    d = np.where(d > thr, np.inf, d)
    return (d[:, :, None] + w[None, :, :]).min(axis=1) if d.shape[1] else np.full((d.shape[0], w.shape[1]), np.inf)


@pytest.mark.parametrize("isa", [0, 1, 2])
@pytest.mark.parametrize("intmin", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nb,na,ncol", [(1, 1, 1), (3, 5, 7), (5, 131, 37), (2, 4, 600), (33, 9, 513), (3, 260, 2051)])
def test_minplus_into_matches_numpy(dtype, nb: int, na: int, ncol: int, intmin: bool, isa: int) -> None:
    """Float and integer minima (bit patterns of non-negative floats; float32 only, float64
    ignores the flag), on the loop-vectorised code (isa 0) and the AVX2 / AVX-512 register
    tiles (run on any x86-64 host: LLVM splits 512-bit vectors where AVX-512 is missing), give
    the NumPy min-plus exactly, zeros, +inf and a threshold included."""
    rng = np.random.default_rng(nb * 1000 + na + ncol)
    d = rng.uniform(0, 3, (nb, na)).astype(dtype)
    d[rng.random((nb, na)) < 0.3] = np.inf
    d[rng.random((nb, na)) < 0.05] = 0.0
    w = rng.uniform(0, 3, (na, ncol)).astype(dtype)
    w[rng.random((na, ncol)) < 0.4] = np.inf
    w[rng.random((na, ncol)) < 0.05] = 0.0
    prev = rng.uniform(1, 6, (nb, ncol)).astype(dtype)
    buf = np.concatenate([d, prev], axis=1)
    thr = 2.0
    wt = np.empty((mp.RED_TILE, mp.COL_TILE), dtype)
    xt = np.empty((nb, mp.RED_TILE), dtype)
    mp.minplus_into(buf, 0, na, w.ravel(), 0, na, ncol, dtype(thr), dtype(np.inf), dtype(0), wt, xt, intmin, isa)
    expect = np.minimum(prev, _minplus_ref(d, w, thr))
    np.testing.assert_array_equal(buf[:, na:], expect)
    np.testing.assert_array_equal(buf[:, :na], d)  # source level untouched


def test_fetch_add_hands_out_every_item_once() -> None:
    """The work-queue counter of the DAG kernel: workers claim items with an atomic
    fetch-and-add; each item must be claimed exactly once, whatever the interleaving."""
    import numba

    @numba.njit(parallel=True)
    def count(n: int, workers: int, counter: np.ndarray, hits: np.ndarray) -> None:
        for _ in numba.prange(workers):
            while True:
                i = mp._fetch_add(counter, 0, 1)
                if i >= n:
                    break
                hits[i] += 1

    @numba.njit
    def add(counter: np.ndarray, v: int) -> int:
        return mp._fetch_add(counter, 0, v)

    n, workers = 100_003, 4 * numba.get_num_threads()
    counter = np.zeros(1, np.int64)
    hits = np.zeros(n, np.int64)
    count(n, workers, counter, hits)
    np.testing.assert_array_equal(hits, 1)
    assert counter[0] == n + workers  # one failed claim per worker
    assert add(counter, 5) == n + workers  # returns the previous value ...
    assert counter[0] == n + workers + 5  # ... and adds


@pytest.mark.parametrize("x", [0.0, 1e-38, 1e-45, 0.5, 3.0, 1e38, np.inf])
def test_bit_patterns_order_like_non_negative_floats(x: float) -> None:
    """The integer minimum is exact because the bit patterns of non-negative float32 values
    (and +inf) order like the values; :func:`_as_uint` / :func:`_as_float` round-trip."""
    import numba

    @numba.njit
    def roundtrip(v):
        return mp._as_float(mp._as_uint(v), v), mp._as_uint(v)

    v = np.float32(x)
    back, bits = roundtrip(v)
    assert back == v and bits == np.array([v]).view(np.uint32)[0]
    others = np.array([0.0, 1e-45, 1e-30, 0.25, 2.0, 7e37, np.inf], np.float32)
    ub = others.view(np.uint32)
    assert np.array_equal(others < v, ub < bits) and np.array_equal(others == v, ub == bits)
