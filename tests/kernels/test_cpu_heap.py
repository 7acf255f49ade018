"""Tests of the 4-ary heaps (mfa_engine.kernels.cpu_heap) against Python's sorted()."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from mfa_engine.kernels.cpu_heap import _pop, _pop_key, _push, _push_key


@njit(cache=False)
def _drain(keys, counted):
    """Push every key (with its index as push counter / value), pop all; the popped values."""
    n = keys.shape[0]
    hk = np.empty(n, np.float64)
    hc = np.empty(n, np.int64)
    hv = np.empty(n, np.int64)
    size = 0
    for i in range(n):
        if counted:
            size = _push(hk, hc, hv, size, keys[i], i, i)
        else:
            size = _push_key(hk, hv, size, keys[i], i)
    out = np.empty(n, np.int64)
    for j in range(n):
        out[j] = hv[0]
        size = _pop(hk, hc, hv, size) if counted else _pop_key(hk, hv, size)
    return out


@pytest.mark.parametrize("n", [1, 2, 5, 17, 300])
@pytest.mark.parametrize("ties", [False, True])
def test_heaps_pop_in_key_order(n: int, ties: bool) -> None:
    rng = np.random.default_rng(n + ties)
    keys = rng.integers(0, 4, n).astype(np.float64) if ties else rng.random(n)
    # with the push counter: exactly (key, push order), NetworkX's settling order
    assert _drain(keys, True).tolist() == sorted(range(n), key=lambda i: (keys[i], i))
    # keys only: non-decreasing keys, every value once
    got = _drain(keys, False)
    assert sorted(got.tolist()) == list(range(n))
    assert np.all(np.diff(keys[got]) >= 0)
