"""The register-blocked min-plus micro-kernel (mfa_engine.kernels.minplus_tile) and the
panel-layout path of ``cpu_minplus.minplus_into`` against a pure NumPy min-plus.

Both tile shapes run on any x86-64 host: where AVX-512 is missing LLVM splits the 512-bit
vectors of the AVX-512 tile in two, so its code is checked here too (not its speed)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mfa_engine.kernels import cpu_minplus as mp
from mfa_engine.kernels import minplus_tile as mt

SIZES = (1, 7, 17, 63, 65, 130)
ISAS = [mt.ISA_AVX2, mt.ISA_AVX512]


def _reference(prev: np.ndarray, d: np.ndarray, w: np.ndarray, thr: float) -> np.ndarray:
    """min(prev, min_k d[:, k] + w[k, :]) with entries of d above thr as +inf (NumPy)."""
    d = np.where(d > thr, np.inf, d)
    out = prev.copy()
    for k in range(d.shape[1]):
        out = np.minimum(out, d[:, k : k + 1] + w[k : k + 1, :])
    return out


def _case(rng: np.random.Generator, dtype, nb: int, na: int, ncol: int):
    d = rng.uniform(0, 3, (nb, na)).astype(dtype)
    d[rng.random((nb, na)) < 0.3] = np.inf
    d[rng.random((nb, na)) < 0.05] = 0.0
    w = rng.uniform(0, 3, (na, ncol)).astype(dtype)
    w[rng.random((na, ncol)) < 0.3] = np.inf
    w[rng.random((na, ncol)) < 0.05] = 0.0
    prev = rng.uniform(1, 6, (nb, ncol)).astype(dtype)
    prev[rng.random((nb, ncol)) < 0.2] = np.inf
    return d, w, prev


def test_isa_level_is_one_the_host_has() -> None:
    import llvmlite.binding as llb

    feats = llb.get_host_cpu_features()
    level = mt.isa_level()
    assert level in (mt.ISA_NONE, mt.ISA_AVX2, mt.ISA_AVX512)
    assert (level == mt.ISA_AVX512) == bool(feats.get("avx512f", False))
    if level == mt.ISA_AVX2:
        assert feats.get("avx2", False)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("intmin", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tile_matches_numpy(isa: int, intmin: bool, dtype) -> None:
    """One register tile of every row count, a reduction list with gaps, leading dimensions
    wider than the tile (only the tile's columns change)."""
    rng = np.random.default_rng(isa * 10 + intmin)
    cols = mt.tile_cols(isa, np.dtype(dtype).itemsize)
    for mr, k in itertools.product(range(1, mt.MR[isa] + 1), (1, 7, 130)):
        d, w, prev = _case(rng, dtype, mr, k, cols + 5)
        kidx = np.flatnonzero(np.isfinite(d).any(axis=0) & (rng.random(k) < 0.9)).astype(np.int64)
        c = prev.copy()
        mt.tile_minplus(isa, intmin, mr, c.ravel(), 0, cols + 5, d.ravel(), 0, k, w.ravel(), 0, cols + 5, kidx, kidx.size)
        expect = _reference(prev[:, :cols], d[:, kidx], w[kidx, :cols], np.inf)
        np.testing.assert_array_equal(c[:, :cols], expect)
        np.testing.assert_array_equal(c[:, cols:], prev[:, cols:])
        # the same steps read at an offset of a longer list (k_off: entries before it unused)
        c2 = prev.copy()
        longer = np.concatenate([np.zeros(3, np.int64), kidx])
        mt.tile_minplus(isa, intmin, mr, c2.ravel(), 0, cols + 5, d.ravel(), 0, k, w.ravel(), 0, cols + 5, longer,
                        kidx.size, 3)  # fmt: skip
        np.testing.assert_array_equal(c2, c)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("intmin", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("panel", [True, False])
def test_minplus_into_odd_sizes(isa: int, intmin: bool, dtype, panel: bool) -> None:
    """``minplus_into`` on the micro-kernel at odd rows / reduction / columns (1 ... 130),
    +inf and zeros in distances and weights, a threshold; weights in the panel layout or
    row-major (packed per call); the source level is left as it was."""
    rng = np.random.default_rng(isa + 2 * intmin + 4 * panel)
    cols = mt.tile_cols(isa, np.dtype(dtype).itemsize)
    for nb, na, ncol in itertools.product(SIZES, SIZES, SIZES):
        if (nb * na * ncol) % 3 and max(nb, na, ncol) < 130:  # a third of the small cases
            continue
        d, w, prev = _case(rng, dtype, nb, na, ncol)
        flat = w.ravel()
        if panel:
            flat = mp.panel_layout(flat, np.zeros(1, np.int64), np.array([na]), np.array([ncol]), cols)
        buf = np.concatenate([d, prev], axis=1)
        wt = np.empty((mp.RED_TILE, mp.COL_TILE), dtype)
        xt = np.empty((nb, mp.RED_TILE), dtype)
        mp.minplus_into(buf, 0, na, flat, 0, na, ncol, dtype(2.0), dtype(np.inf), dtype(0), wt, xt, intmin, isa, panel)
        np.testing.assert_array_equal(buf[:, na:], _reference(prev, d, w, 2.0), err_msg=f"{nb} x {na} x {ncol}")
        np.testing.assert_array_equal(buf[:, :na], d)


def test_panel_layout_by_hand() -> None:
    """Two blocks at their offsets: a 2 x 5 block in 2-column panels is [cols 0-1 | cols 2-3 |
    col 4], each row-major; a 3 x 1 block (narrower than a panel) stays as it is."""
    a = np.arange(10, dtype=np.float32).reshape(2, 5)
    b = np.array([[100.0], [101.0], [102.0]], np.float32)
    flat = np.concatenate([a.ravel(), b.ravel()])
    out = mp.panel_layout(flat, np.array([0, 10]), np.array([2, 3]), np.array([5, 1]), 2)
    expect = [0, 1, 5, 6, 2, 3, 7, 8, 4, 9, 100, 101, 102]
    np.testing.assert_array_equal(out, np.array(expect, np.float32))


def test_panels_into_from_a_rectangle_view() -> None:
    """A rectangle of a larger array (not contiguous) gives the layout of its copy."""
    big = np.arange(60.0).reshape(6, 10)
    got = mp.panels_into(big[1:3, 2:7], 2, np.empty(10))
    np.testing.assert_array_equal(got, [12, 13, 22, 23, 14, 15, 24, 25, 16, 26])
