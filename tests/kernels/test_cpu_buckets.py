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


@numba.njit
def _rows_both(radii, radii_pad, tab, d, bits, thr, gammas, ctab, csh, cbase):
    """Histograms and ambiguous positions of every row by ``_bucket_row_idx`` (the exact scan)
    and by ``_bucket_row_cells`` (cell table first), row i with rounding bound gammas[i]."""
    r = radii.shape[0]
    shift = 8 * bits.itemsize - 16
    lo = np.empty(r + 1)
    hi = np.empty(r + 1)
    h_ref = np.zeros((d.shape[0], r + 1), np.int64)
    h_got = np.zeros((d.shape[0], r + 1), np.int64)
    amb_ref = np.full(d.shape, -1, np.int64)
    amb_got = np.full(d.shape, -1, np.int64)
    sub1 = np.zeros((4, r + 1), np.int64)
    sub2 = np.zeros((4, r + 2), np.int64)
    for i in range(d.shape[0]):
        bk._ambiguity_bounds(radii, gammas[i], lo, hi)
        na = bk._bucket_row_idx(radii_pad, tab, d[i], bits[i], shift, thr, lo, hi, sub1, h_ref[i], amb_ref[i])
        amb_ref[i, na:] = -1
        nb = bk._bucket_row_cells(
            radii_pad, tab, d[i], bits[i], shift, thr, lo, hi, sub2, h_got[i], amb_got[i], ctab, csh, cbase
        )
        amb_got[i, nb:] = -1
    return h_ref, h_got, amb_ref, amb_got, sub2


def test_cell_table_counts_as_the_exact_scan() -> None:
    """``_bucket_row_cells`` gives the histogram and the ambiguous positions of the exact scan
    on rows of odd lengths with distances on, next to and within the rounding bound of every
    radius, zeros, values past the cutoff and +inf, for radius grids with a zero radius, one
    radius, repeated radii and a span wide enough to coarsen the cells; every row's bound is at
    most the table's."""
    rng = np.random.default_rng(1)
    grids = (
        np.geomspace(74.0, 737.0, 64),
        np.array([0.0, 0.5, 0.5, 2.0]),
        np.array([3.0]),
        np.geomspace(1e-20, 1e20, 33),
    )
    for radii in grids:
        for dtype in (np.float32, np.float64):
            eps = 2.0**-24 if dtype == np.float32 else 0.0
            gmax = 33 * eps
            top = radii[-1] * (1 + gmax)
            thr = dtype(np.nextafter(dtype(top), dtype(np.inf))) if top > 0 else dtype(top)
            ctab, csh, cbase = bk.cell_table(radii, dtype, gmax, float(thr))
            assert ctab.size <= bk.CELLS_MAX
            near = np.concatenate([radii, radii * (1 - gmax), radii * (1 + gmax), radii * (1 - 2 * gmax)]).astype(dtype)
            pool = np.concatenate([
                near, np.nextafter(near, dtype(0)), np.nextafter(near, dtype(np.inf)),
                rng.uniform(0, 1.5 * max(radii[-1], 1.0), 400).astype(dtype),
                np.geomspace(1e-30, 1e30, 61).astype(dtype), [0, thr, np.nextafter(thr, dtype(np.inf)), np.inf],
            ]).astype(dtype)  # fmt: skip
            pool = pool[pool >= 0]
            for n in (1, 7, 129, 1001):
                d = rng.choice(pool, (5, n)).astype(dtype)
                bits = d.view(np.uint32 if dtype == np.float32 else np.uint64)
                gammas = rng.uniform(0, gmax, 5)
                gammas[0] = gmax
                out = _rows_both(radii, bk.padded_radii(radii), bk.radius_table(radii, dtype), d, bits, thr, gammas,
                                 ctab, csh, cbase)  # fmt: skip
                h_ref, h_got, amb_ref, amb_got, sub = out
                np.testing.assert_array_equal(h_got, h_ref, err_msg=f"{radii[:2]} {dtype} {n}")
                np.testing.assert_array_equal(amb_got, amb_ref)
                assert not sub.any()  # the sub-histograms (skip column included) are left zeroed
                # and both agree with searchsorted on the distances within the cutoff
                d64 = d.astype(np.float64)
                k = np.searchsorted(radii, d64, side="left")
                for i in range(d.shape[0]):
                    keep = d64[i] <= float(thr)
                    np.testing.assert_array_equal(h_got[i], np.bincount(k[i][keep], minlength=radii.size + 1))


def test_cell_table_by_hand() -> None:
    """Radii 1 and 2 in float32, no rounding bound: the cell of 0 gives bucket 0, a cell between
    the radii bucket 1, the cells holding a radius the exact scan (R + 2), cells past the
    cutoff 3 are skipped (R + 1), and so is +inf."""
    radii = np.array([1.0, 2.0])
    ctab, csh, cbase = bk.cell_table(radii, np.float32, 0.0, 3.0)

    def code(v: float) -> int:
        u = int(np.array([v], np.float32).view(np.uint32)[0])
        return int(ctab[min(max((u >> csh) - cbase, 0), ctab.size - 1)])

    assert code(0.0) == 0 and code(0.25) == 0
    assert code(1.5) == 1 and code(2.5) == 2
    assert code(1.0) == 4 and code(2.0) == 4 and code(3.0) == 4
    assert code(3.5) == 3 and code(float("inf")) == 3
