"""The one-pass NIN distance kernel against NumPy's float64 ``1/|w|`` (exhaustive on float16
and bfloat16 bit patterns, odd shapes, permuted columns, both layouts)."""

from __future__ import annotations

import numpy as np
import pytest

from mfa_engine.kernels.nin_distances import distances_into


def _ref(vals: np.ndarray, eps: float, dtype: type) -> np.ndarray:
    a = np.abs(vals.astype(np.float64))
    with np.errstate(divide="ignore"):
        d = 1.0 / a
    d[~(a > eps)] = np.inf
    return d.astype(dtype)


def _stored(kind: str, vals32: np.ndarray) -> np.ndarray:
    if kind == "float16":
        return vals32.astype(np.float16)
    if kind == "bfloat16":
        return (vals32.view(np.uint32) >> 16).astype(np.uint16)
    return vals32


def _values(kind: str, stored: np.ndarray) -> np.ndarray:
    if kind == "bfloat16":
        return (stored.astype(np.uint32) << 16).view(np.float32)
    return stored.astype(np.float32)


@pytest.mark.parametrize("kind", ["float16", "bfloat16"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_finite_half_bit_pattern(kind: str, dtype: type) -> None:
    bits = np.arange(1 << 16, dtype=np.uint16)
    vals = bits.view(np.float16).astype(np.float32) if kind == "float16" else (bits.astype(np.uint32) << 16).view(np.float32)
    fin = np.isfinite(vals)
    stored = (bits.view(np.float16) if kind == "float16" else bits)[fin].reshape(-1, 1)  # [n_out, 1]: transposed
    out = np.empty((1, stored.shape[0]), dtype)
    n = stored.shape[0]
    assert distances_into(stored, kind, np.arange(n), np.arange(n), out, 0.0, True) == 0
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(out[0], _ref(vals[fin], 0.0, dtype))
    bad = (bits.view(np.float16) if kind == "float16" else bits).reshape(1, -1)
    assert distances_into(bad, kind, np.arange(1 << 16), np.arange(1 << 16), np.empty((1, 1 << 16), dtype), 0.0, False) == (~fin).sum()


@pytest.mark.parametrize("kind", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (64, 9), (37, 129)])
@pytest.mark.parametrize("transposed", [True, False])
def test_permuted_columns_and_layouts(kind: str, shape: tuple[int, int], transposed: bool) -> None:
    rng = np.random.default_rng(shape[0] * shape[1])
    n_in, n_stored = shape
    vals32 = rng.normal(0, 0.05, (n_stored, n_in) if transposed else (n_in, n_stored)).astype(np.float32)
    vals32[rng.random(vals32.shape) < 0.1] = 0.0
    stored = _stored(kind, vals32)
    vals = _values(kind, stored)
    w_in_out = vals.T if transposed else vals  # [n_in, n_stored]
    eps = 0.01
    for dtype in (np.float32, np.float64):
        full = _ref(w_in_out, eps, dtype)
        src = rng.permutation(n_stored)
        out = np.full((n_in, n_stored + 3), -1.0, dtype)
        dst = np.arange(n_stored) + 2  # a range of columns
        assert distances_into(stored, kind, src, dst, out, eps, transposed) == 0
        np.testing.assert_array_equal(out[:, 2 : 2 + n_stored], full[:, src])
        assert (out[:, :2] == -1).all() and (out[:, -1] == -1).all()
        scattered = rng.permutation(n_stored + 3)[:n_stored]  # not a range: scattered columns
        out = np.full((n_in, n_stored + 3), -1.0, dtype)
        distances_into(stored, kind, src, scattered, out, eps, transposed)
        np.testing.assert_array_equal(out[:, scattered], full[:, src])


def test_bad_arguments() -> None:
    w = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="stored dtype"):
        distances_into(w, "float64", np.arange(3), np.arange(3), np.empty((4, 3)), 0.0, True)
    with pytest.raises(ValueError, match="C-contiguous"):
        distances_into(w, "float32", np.arange(3), np.arange(3), np.empty((3, 4)), 0.0, True)
    with pytest.raises(ValueError, match="float32 or float64"):
        distances_into(w, "float32", np.arange(3), np.arange(3), np.empty((4, 3), np.float16), 0.0, True)
