"""Stored weights straight into the micro-kernel's panel layout: bit-identical to the row-major
distance kernel followed by ``cpu_minplus.panels_into`` (every stored dtype, odd shapes, both
layouts, permuted and partial columns, every 16-bit pattern through the distance table)."""

from __future__ import annotations

import numpy as np
import pytest

from mfa_engine.kernels import nin_panels
from mfa_engine.kernels.cpu_minplus import panels_into
from mfa_engine.kernels.nin_distances import distances_into
from mfa_engine.kernels.nin_panels import panels_from_stored


def _stored(kind: str, vals32: np.ndarray) -> np.ndarray:
    if kind == "float16":
        return vals32.astype(np.float16)
    if kind == "bfloat16":
        return (vals32.view(np.uint32) >> 16).astype(np.uint16)
    return vals32


def _reference(stored, kind, srow, n_in, eps, transposed, cols, dtype) -> np.ndarray:
    """Row-major block by ``distances_into`` (columns with ``srow >= 0``), then panels."""
    block = np.full((n_in, srow.size), -7.0, dtype)
    keep = np.flatnonzero(srow >= 0)
    if keep.size:
        assert distances_into(stored, kind, srow[keep], keep, block, eps, transposed) == 0
    return panels_into(block, cols, np.empty(block.size, dtype))


@pytest.mark.parametrize("kind", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (9, 40), (64, 9), (37, 129), (130, 67)])
@pytest.mark.parametrize("transposed", [True, False])
@pytest.mark.parametrize("table", [True, False])
def test_equal_to_block_then_panels(kind: str, shape: tuple[int, int], transposed: bool, table: bool, monkeypatch) -> None:
    monkeypatch.setattr(nin_panels, "USE_TABLE", table)
    rng = np.random.default_rng(shape[0] * 31 + shape[1])
    n_in, n_stored = shape
    vals32 = rng.normal(0, 0.05, (n_stored, n_in) if transposed else (n_in, n_stored)).astype(np.float32)
    vals32[rng.random(vals32.shape) < 0.1] = 0.0
    vals32[rng.random(vals32.shape) < 0.05] = 1e-6  # float16 subnormals
    stored = _stored(kind, vals32)
    for eps in (0.0, 0.01):
        for dtype in (np.float32, np.float64):
            for cols in (8, 16, 32):
                srow = rng.permutation(n_stored)  # every column, permuted (GPT-NeoX's fused QKV)
                out = np.full(n_in * n_stored, -1.0, dtype)
                assert panels_from_stored(stored, kind, srow, out, n_in, eps, transposed, cols) == 0
                np.testing.assert_array_equal(out, _reference(stored, kind, srow, n_in, eps, transposed, cols, dtype))
                part = srow.copy()  # columns of another tensor are left untouched
                part[rng.random(n_stored) < 0.4] = -1
                out = np.full(n_in * n_stored, -7.0, dtype)
                panels_from_stored(stored, kind, part, out, n_in, eps, transposed, cols)
                np.testing.assert_array_equal(out, _reference(stored, kind, part, n_in, eps, transposed, cols, dtype))


@pytest.mark.parametrize("kind", ["float16", "bfloat16"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_16_bit_pattern(kind: str, dtype: type) -> None:
    """The distance table against the division kernel on all finite patterns; non-finite ones
    are counted."""
    bits = np.arange(1 << 16, dtype=np.uint16)
    vals = bits.view(np.float16).astype(np.float32) if kind == "float16" else (bits.astype(np.uint32) << 16).view(np.float32)
    fin = np.isfinite(vals)
    good = bits[fin]
    n = good.size - good.size % 8
    stored = (good[:n].view(np.float16) if kind == "float16" else good[:n]).reshape(-1, 8)  # [n_out, 8]: transposed
    srow = np.arange(stored.shape[0])
    for eps in (0.0, 1e-3):
        got = np.empty(stored.size, dtype)
        assert panels_from_stored(stored, kind, srow, got, 8, eps, True, 16) == 0
        np.testing.assert_array_equal(got, _reference(stored, kind, srow, 8, eps, True, 16, dtype))
    bad = bits.reshape(-1, 8)
    if kind == "float16":
        bad = bad.view(np.float16)
    assert panels_from_stored(bad, kind, np.arange(bad.shape[0]), np.empty(bad.size, dtype), 8, 0.0, True, 8) == (~fin).sum()


def test_bad_arguments() -> None:
    w = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="stored dtype"):
        panels_from_stored(w, "float64", np.arange(3), np.empty(12), 4, 0.0, True, 8)
    with pytest.raises(ValueError, match="multiple of 8"):
        panels_from_stored(w, "float32", np.arange(3), np.empty(12), 4, 0.0, True, 12)
    with pytest.raises(ValueError, match="inputs"):
        panels_from_stored(w, "float32", np.arange(3), np.empty(12), 5, 0.0, True, 8)
    with pytest.raises(ValueError, match="1-D"):
        panels_from_stored(w, "float32", np.arange(3), np.empty((4, 3)), 4, 0.0, True, 8)
    with pytest.raises(ValueError, match="float32 or float64"):
        panels_from_stored(w, "float32", np.arange(3), np.empty(12, np.float16), 4, 0.0, True, 8)
    with pytest.raises(ValueError, match="out of range"):
        panels_from_stored(w, "float32", np.array([0, 1, 3]), np.empty(12), 4, 0.0, True, 8)
