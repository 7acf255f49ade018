"""Numba CPU helpers that bucket distances into a radius grid (shared by the CPU path kernels).

A distance ``d`` falls in bucket ``k`` = the first index with ``radii[k] >= d`` (``R`` if none),
so the cumulative sum of a source's histogram over buckets is its ball-size count
``#{v : dist(s, v) <= radii[k]}`` (see docs/method.md, "Counting").

* :func:`_bucket` -- binary search (used by the Dijkstra kernel).
* :func:`radius_table`, :func:`padded_radii`, :func:`_bucket_fast` -- a table lookup on a
  distance's top 16 bits followed by a scan that is almost always empty (min-plus kernel).
* :func:`_ambiguity_bounds`, :func:`_bucket_row` -- fused counting of one row of distances
  with a check for distances within their rounding bound of a radius.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "radius_table",
    "padded_radii",
]


@njit(fastmath=False, cache=True, inline="always")
def _bucket(radii, d):
    """First index k with radii[k] >= d (len(radii) if none): binary search."""
    lo = 0
    hi = radii.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if radii[mid] < d:
            lo = mid + 1
        else:
            hi = mid
    return lo


def radius_table(radii: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """Start-index table for :func:`_bucket_fast`: ``tab[h]`` = first radius >= the smallest
    non-negative ``dtype`` value whose top 16 bits are ``h`` (h < 2**15).

    The top 16 bits are the sign, the exponent and 4 (float64) or 7 (float32) mantissa bits,
    i.e. 16 or 128 table cells per octave; the finer float32 cells rarely hold a radius, so the
    scan after the lookup is almost always empty (no branch mispredictions).

    Args:
        radii: float64 [R] ascending.
        dtype: float32 or float64, the type of the distances looked up.

    Returns:
        int64 [32768].
    """
    key = np.dtype(dtype).name
    lo = _CELL_LO.get(key)
    if lo is None:
        bits = np.uint32 if key == "float32" else np.uint64
        shift = bits(8 * np.dtype(dtype).itemsize - 16)
        lo = (np.arange(1 << 15, dtype=bits) << shift).view(dtype)
        lo = np.where(np.isnan(lo), np.inf, lo).astype(np.float64)  # non-decreasing
        _CELL_LO[key] = lo
    out = np.empty(lo.shape[0], np.int64)
    _merge_starts(np.ascontiguousarray(radii, np.float64), lo, out)
    return out


#: dtype name -> float64 [32768] smallest value of each table cell (see :func:`radius_table`).
_CELL_LO: dict[str, np.ndarray] = {}


@njit(cache=True, fastmath=False)
def _merge_starts(radii, lo, out):
    """``out[h]`` = first k with ``radii[k] >= lo[h]`` for non-decreasing ``lo`` (a merge)."""
    k = 0
    r = radii.shape[0]
    for h in range(lo.shape[0]):
        x = lo[h]
        while k < r and radii[k] < x:
            k += 1
        out[h] = k


def padded_radii(radii: np.ndarray) -> np.ndarray:
    """radii float64 [R] ascending -> [R + 1] with a +inf sentinel (ends the lookup's scan)."""
    return np.append(np.asarray(radii, np.float64), np.inf)


@njit(fastmath=False, cache=True, inline="always")
def _bucket_fast(radii_pad, tab, bits, shift, dd):
    """First index k with radii[k] >= dd for dd >= 0 (R if none): table lookup on the top 16 bits
    of the distance, then a scan that the table makes almost always empty (``radii_pad`` ends with
    +inf, so it needs no bound check)."""
    k = tab[bits >> shift]
    while radii_pad[k] < dd:
        k += 1
    return k


@njit(fastmath=False, cache=True, inline="always")
def _ambiguity_bounds(radii, gamma, lo, hi):
    """Bounds for :func:`_bucket_row`: a distance d in bucket k is ambiguous (within a relative
    ``gamma`` of radius k or k - 1) iff ``d >= lo[k]`` or ``d <= hi[k]``."""
    r = radii.shape[0]
    for k in range(r + 1):
        lo[k] = np.inf
        hi[k] = -np.inf
        if gamma > 0.0:
            if k < r and radii[k] > 0.0:
                lo[k] = radii[k] * (1.0 - gamma)
            if k > 0 and radii[k - 1] > 0.0:
                hi[k] = radii[k - 1] * (1.0 + gamma)


@njit(fastmath=False, cache=True, inline="always")
def _bucket_row_idx(radii_pad, tab, row, bits, shift, thr, lo, hi, sub, hist_row, amb_idx):
    """:func:`_bucket_row` that also lists the ambiguous positions: writes them to
    ``amb_idx`` (int64, at least ``len(row)``; branch-free append) and returns their number."""
    na = 0
    n = row.shape[0]
    for j in range(n):
        d = row[j]
        if d > thr:
            continue
        dd = np.float64(d)
        k = _bucket_fast(radii_pad, tab, bits[j], shift, dd)
        sub[j & 3, k] += 1
        amb_idx[na] = j
        na += (dd >= lo[k]) | (dd <= hi[k])
    for k in range(sub.shape[1]):
        c = sub[0, k] + sub[1, k] + sub[2, k] + sub[3, k]
        if c:
            hist_row[k] += c
            sub[0, k] = 0
            sub[1, k] = 0
            sub[2, k] = 0
            sub[3, k] = 0
    return na


@njit(fastmath=False, cache=True, inline="always")
def _bucket_row(radii_pad, tab, row, bits, shift, thr, lo, hi, sub, hist_row):
    """Bucket one row of new distances into the radius grid and add them to ``hist_row``;
    returns True if any distance is ambiguous (see :func:`_ambiguity_bounds`).

    Entries above the finite cutoff ``thr`` (+inf included) are skipped with one comparison
    (the row is left as it is: the next min-plus step reads them as +inf anyway); the others
    are counted in 4 interleaved sub-histograms ``sub`` [4, R + 1] (consecutive equal buckets
    would otherwise chain through store-to-load forwarding), folded into ``hist_row`` at the
    end (``sub`` is left zeroed).
    """
    amb = False
    n = row.shape[0]
    for j in range(n):
        d = row[j]
        if d > thr:
            continue
        dd = np.float64(d)
        k = _bucket_fast(radii_pad, tab, bits[j], shift, dd)
        sub[j & 3, k] += 1
        amb |= (dd >= lo[k]) | (dd <= hi[k])
    for k in range(sub.shape[1]):
        c = sub[0, k] + sub[1, k] + sub[2, k] + sub[3, k]
        if c:
            hist_row[k] += c
            sub[0, k] = 0
            sub[1, k] = 0
            sub[2, k] = 0
            sub[3, k] = 0
    return amb
