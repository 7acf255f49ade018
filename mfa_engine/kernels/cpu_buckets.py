"""Numba CPU helpers that bucket distances into a radius grid (shared by the CPU path kernels).

A distance ``d`` falls in bucket ``k`` = the first index with ``radii[k] >= d`` (``R`` if none),
so the cumulative sum of a source's histogram over buckets is its ball-size count
``#{v : dist(s, v) <= radii[k]}`` (see docs/method.md, "Counting").

* :func:`_bucket` -- binary search (used by the Dijkstra kernel).
* :func:`radius_table`, :func:`padded_radii`, :func:`_bucket_fast` -- a table lookup on a
  distance's top 16 bits followed by a scan that is almost always empty (min-plus kernel).
* :func:`_ambiguity_bounds`, :func:`_bucket_row_idx` -- fused counting of one row of distances
  that lists the distances within their rounding bound of a radius.
* :func:`cell_table`, :func:`_bucket_row_cells` -- the same counting with one small-table
  lookup per distance: cells of the bit patterns that lie wholly inside one bucket and away
  from every ambiguity zone (or wholly above the cutoff) give the bucket directly; only the
  few cells that hold a radius, a zone or the cutoff take the exact scan above.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "cell_table",
    "radius_table",
    "padded_radii",
]

#: Most cells of a :func:`cell_table` (a few KiB: it stays in L1 beside the streamed rows).
CELLS_MAX = 1 << 14
#: Finest cells: 2**CELL_BITS per octave (each radius and its ambiguity zone then cover one or
#: two cells, so about (R + 1) / 2**CELL_BITS of the in-range distances take the exact scan).
CELL_BITS = 11


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
    """Bounds for :func:`_bucket_row_idx`: a distance d in bucket k is ambiguous (within a relative
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
    """Bucket one row of new distances into the radius grid, add them to ``hist_row`` and list
    the ambiguous positions (see :func:`_ambiguity_bounds`): writes them to ``amb_idx`` (int64,
    at least ``len(row)``; branch-free append) and returns their number.

    Entries above the finite cutoff ``thr`` (+inf included) are skipped with one comparison
    (the row is left as it is: the next min-plus step reads them as +inf anyway); the others
    are counted in 4 interleaved sub-histograms ``sub`` [4, R + 1] (consecutive equal buckets
    would otherwise chain through store-to-load forwarding), folded into ``hist_row`` at the
    end (``sub`` is left zeroed).
    """
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


def cell_table(radii: np.ndarray, dtype: type, gamma: float, thr: float) -> tuple[np.ndarray, int, int]:
    """Direct bucket table for :func:`_bucket_row_cells` over the bit patterns of ``dtype``.

    A non-negative distance with bit pattern ``u`` falls in cell ``c = clip((u >> shift) - base,
    0, len(tab) - 1)``; cell 0 holds every pattern up to ``base`` (distances well below the
    first positive radius), the last cell every pattern past the cutoff ``thr`` (+inf
    included). ``tab[c]`` is the bucket (first radius >= d) of every distance in the cell when
    they all share it, none is within a relative ``gamma`` of a radius (the ambiguity zones of
    :func:`_ambiguity_bounds` for any rounding bound up to ``gamma``) and none is above
    ``thr``; ``R + 1`` when every distance in it is above ``thr`` (skipped: counted in a
    discarded column); ``R + 2`` otherwise (the exact scan decides).

    Args:
        radii: float64 [R] ascending.
        dtype: float32 or float64, the distances' type.
        gamma: Largest relative rounding bound of any row (0 for exact float64).
        thr: Cutoff (distances above it are not counted).

    Returns:
        (tab uint8 [C] if R + 2 < 256 else int32 [C], shift, base) with C <= ``CELLS_MAX``.
    """
    dt = np.dtype(dtype)
    ut = np.uint32 if dt == np.float32 else np.uint64
    mant = 23 if dt == np.float32 else 52
    radii = np.ascontiguousarray(radii, np.float64)
    r = radii.shape[0]
    skip, slow = r + 1, r + 2

    def key(v: float, sh: int) -> int:
        return int(np.array([v], dt).view(ut)[0]) >> sh

    pos = radii[radii > 0.0]
    low = float(pos[0]) * 0.5 if pos.size else 0.0
    top = float(min(thr, float(np.finfo(dt).max)))
    top = max(top, low)
    sh = mant - CELL_BITS
    while key(top, sh) - key(low, sh) + 3 > CELLS_MAX:
        sh += 1
    base = key(low, sh)
    n = key(top, sh) - base + 3  # cell 0, cells base+1 .. key(top) + 1, the cell past it
    cells = np.arange(base, base + n, dtype=np.int64)
    lo_bits = (cells << sh).astype(ut)
    hi_bits = (((cells + 1) << sh) - 1).astype(ut)
    lo_bits[0] = 0  # cell 0: every pattern up to base's cell
    with np.errstate(invalid="ignore"):  # patterns past +inf are NaNs (mapped to +inf next)
        vlo = lo_bits.view(dt).astype(np.float64)
        vhi = hi_bits.view(dt).astype(np.float64)
    vlo = np.where(np.isnan(vlo), np.inf, vlo)
    vhi = np.where(np.isnan(vhi), np.inf, vhi)
    k_lo = np.searchsorted(radii, vlo, side="left")
    k_hi = np.searchsorted(radii, vhi, side="left")
    g = 2.0 * gamma  # margin over every row's bound
    lo_b = np.append(radii * (1.0 - g), np.inf) if g > 0 else np.full(r + 1, np.inf)
    hi_b = np.insert(radii * (1.0 + g), 0, -np.inf) if g > 0 else np.full(r + 1, -np.inf)
    safe = (k_lo == k_hi) & (vhi < lo_b[k_hi]) & (vlo > hi_b[k_lo]) & (vhi <= thr)
    tab = np.where(safe, k_lo, slow)
    tab = np.where(vlo > thr, skip, tab)
    tab[-1] = skip if vlo[-1] > thr else slow
    return tab.astype(np.uint8 if slow < 256 else np.int32), int(sh), int(base)


@njit(fastmath=False, cache=True)
def _bucket_row_cells(radii_pad, tab, row, bits, shift, thr, lo, hi, sub, hist_row, amb_idx, ctab, csh, cbase):
    """:func:`_bucket_row_idx` with a :func:`cell_table` lookup first: most distances are
    counted (or skipped, above the cutoff) by ``sub[j & 3, ctab[cell]] += 1`` with no float
    comparison; those in a cell marked ``R + 2`` take the exact scan. ``sub`` is [4, R + 2]
    (column R + 1 collects the skipped distances and is cleared). Returns the number of
    ambiguous positions written to ``amb_idx``."""
    na = 0
    n = row.shape[0]
    nc = ctab.shape[0]
    r1 = sub.shape[1] - 1  # the skip column
    slow = r1 + 1
    for j in range(n):
        c = (np.int64(bits[j]) >> csh) - cbase
        c = min(max(c, 0), nc - 1)
        k = np.int64(ctab[np.uint64(c)])  # (an unsigned index: no wrap-around test)
        if k == slow:
            d = row[j]
            if d > thr:
                continue
            dd = np.float64(d)
            k = _bucket_fast(radii_pad, tab, bits[j], shift, dd)
            amb_idx[na] = j
            na += (dd >= lo[k]) | (dd <= hi[k])
        sub[np.uint64(j & 3), np.uint64(k)] += 1
    for k in range(r1):
        c = sub[0, k] + sub[1, k] + sub[2, k] + sub[3, k]
        if c:
            hist_row[k] += c
            sub[0, k] = 0
            sub[1, k] = 0
            sub[2, k] = 0
            sub[3, k] = 0
    for q in range(4):
        sub[q, r1] = 0
    return na
