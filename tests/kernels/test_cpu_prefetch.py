"""Tests of the software-prefetch intrinsics (mfa_engine.kernels.cpu_prefetch)."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from mfa_engine.kernels.cpu_prefetch import prefetch, prefetch_l2


@njit(cache=False)
def _sum_with_prefetch(a, ahead):
    s = 0.0
    for i in range(a.shape[0]):
        prefetch(a, i + ahead)  # past the end near the tail: a hint never faults
        prefetch_l2(a, i + 2 * ahead)
        s += a[i]
    return s


@pytest.mark.parametrize("dtype", [np.float64, np.int32])
@pytest.mark.parametrize("n", [1, 7, 1001])
def test_prefetch_changes_nothing_and_never_faults(dtype: type, n: int) -> None:
    a = (np.arange(n) % 97).astype(dtype)
    before = a.copy()
    for ahead in (0, 16, 1 << 20):
        assert _sum_with_prefetch(a, ahead) == float(a.sum())
    np.testing.assert_array_equal(a, before)


def test_prefetch_rejects_non_arrays() -> None:
    @njit(cache=False)
    def bad(x):
        prefetch(x, 0)

    @njit(cache=False)
    def bad_l2(x):
        prefetch_l2(x, 0)

    with pytest.raises(TypingError):
        bad(1.0)
    with pytest.raises(TypingError):
        bad_l2(1.0)
