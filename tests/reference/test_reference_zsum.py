"""The compiled partition sum is bit-identical to NumPy's sequential sum over centres."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mfa_engine.reference import REFERENCE_Q
from mfa_engine.reference.spectrum import linregress_slopes as _linregress_slopes
from mfa_engine.reference.zsum import gather_sum, gather_sum_numpy


@pytest.mark.parametrize("n_c,n_r,n_u", [(1, 2, 1), (7, 13, 5), (301, 97, 1201)])
def test_gather_sum_bit_identical_to_numpy_sum(n_c, n_r, n_u):
    rng = np.random.default_rng(n_c)
    mu = rng.uniform(1e-3, 1.0, n_u)
    powers = np.power(mu[None, :], REFERENCE_Q[:, None])
    inv = rng.integers(0, n_u, (n_c, n_r))
    published_order = powers[:, inv].sum(axis=1)  # np.sum over the centre axis
    out = gather_sum(powers, inv)
    assert out.shape == (REFERENCE_Q.size, n_r)
    np.testing.assert_array_equal(out, published_order)
    np.testing.assert_array_equal(gather_sum_numpy(powers, inv), published_order)


@pytest.mark.parametrize("n_r", [2, 3, 57, 150])
def test_linregress_slopes_bit_identical_to_scipy(n_r):
    rng = np.random.default_rng(n_r)
    x = np.log(np.sort(rng.uniform(1.0, 150.0, n_r)) / 150.0)
    y = rng.normal(size=(9, n_r)) * 7.0 + 3.0
    y[4] = np.log(123.0)  # constant row: slope is rounding noise, must match bit for bit
    slope, r2 = _linregress_slopes(x, y)
    ref = np.array([stats.linregress(x, row).slope for row in y])
    np.testing.assert_array_equal(slope, ref)
    assert r2[4] == 1.0
