"""Kernels of the exact float32 streamed pass against NumPy brute force."""

from __future__ import annotations

import numpy as np
import pytest

from mfa_engine.kernels.cpu_buckets import padded_radii, radius_table
from mfa_engine.kernels.stream_resolve import bucket_panel, exact_level, scan_preds

EPS = 2.0**-24


@pytest.mark.parametrize(("rows", "cols"), [(1, 1), (5, 17), (33, 70)])
def test_bucket_panel_counts_and_lists_ambiguous(rows: int, cols: int) -> None:
    rng = np.random.default_rng(rows * cols)
    radii = np.sort(rng.uniform(0.5, 10.0, 9))
    src_level = rng.integers(0, 4, rows).astype(np.int64)
    level = 6
    d = rng.uniform(0.0, 12.0, (rows, cols)).astype(np.float32)
    # entries right at, and one float32 step around, radii (ambiguous), plus +inf
    idx = rng.random((rows, cols)) < 0.3
    near = np.float32(radii[rng.integers(0, radii.size, idx.sum())])
    d[idx] = near * np.float32(1 + 2.0**-22 * rng.integers(-3, 4, near.size))
    d[rng.random((rows, cols)) < 0.1] = np.inf
    thr = np.float32(radii[-1] * (1 + 20 * EPS))
    panel = d.copy()
    hist = np.zeros((rows + 2, radii.size + 1), np.int64)
    r, c, k, d32 = bucket_panel(panel, src_level, level, radii, padded_radii(radii), radius_table(radii, np.float32), thr, EPS, hist, 2)
    kept = d <= thr
    np.testing.assert_array_equal(panel, np.where(kept, d, np.inf))
    dd = d.astype(np.float64)
    kk = np.searchsorted(radii, dd, side="left")
    want = np.zeros_like(hist)
    for i in range(rows):
        np.add.at(want[i], kk[i][kept[i]], 1)
    np.testing.assert_array_equal(hist, want)
    gamma = ((level - src_level + 2) * EPS)[:, None]
    lo = np.append(radii * (1 - gamma), np.full((rows, 1), np.inf), axis=1)
    hi = np.append(np.full((rows, 1), -np.inf), radii * (1 + gamma), axis=1)
    amb = kept & ((dd >= np.take_along_axis(lo, kk, 1)) | (dd <= np.take_along_axis(hi, kk, 1)))
    er, ec = np.nonzero(amb)
    np.testing.assert_array_equal(r, er)
    np.testing.assert_array_equal(c, ec)
    np.testing.assert_array_equal(k, kk[er, ec])
    np.testing.assert_array_equal(d32, d[er, ec])


def test_scan_preds_selects_candidates_within_the_margin() -> None:
    rng = np.random.default_rng(5)
    k_rows, n, u = 4, 37, 6
    rows32 = rng.uniform(0, 5, (k_rows, n)).astype(np.float32)
    rows32[rng.random((k_rows, n)) < 0.2] = np.inf
    w_t = rng.uniform(0.5, 2.0, (u, n))
    m = 9
    m_rk = rng.integers(0, k_rows, m).astype(np.int64)
    m_vk = rng.integers(0, u, m).astype(np.int64)
    m_sl = rng.integers(0, 3, m).astype(np.int64)
    cand = rows32[m_rk] + w_t[m_vk].astype(np.float32)
    m_d32 = np.min(cand, axis=1).astype(np.float32)
    level, margin, thr = 5, 4.0, np.float32(4.5)
    mi, p, w = scan_preds(m_d32, m_sl, m_rk, m_vk, rows32, w_t, level, thr, EPS, margin)
    bound = m_d32.astype(np.float64) * (1 + margin * (level - m_sl + 2) * EPS)
    ok = (rows32[m_rk] <= thr) & (cand.astype(np.float64) <= bound[:, None])
    em, ep = np.nonzero(ok)
    np.testing.assert_array_equal(mi, em)
    np.testing.assert_array_equal(p, ep)
    np.testing.assert_array_equal(w, w_t[m_vk[em], ep])
    assert scan_preds(m_d32[:0], m_sl[:0], m_rk[:0], m_vk[:0], rows32, w_t, level, thr, EPS, margin)[0].size == 0


def test_exact_level_takes_the_minimum_over_kept_edges() -> None:
    parent_exact = np.array([1.0, 2.5, 0.25])
    child = np.array([0, 0, 1, 2, 2], np.int64)
    parent = np.array([0, 1, -1, 2, 1], np.int64)
    w = np.array([2.0, 0.25, 0.75, 1.0, 1.0])
    out = exact_level(4, child, parent, w, parent_exact)
    np.testing.assert_array_equal(out, [2.75, 0.75, 1.25, np.inf])
