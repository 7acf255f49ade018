"""Exact order statistics and medians of values streamed in chunks (bounded memory, two passes).

A radix selection on the float64 bit patterns: for non-negative floats the bit pattern, read as
an unsigned integer, orders as the value does. The first pass counts the values by the top
:data:`KEY_BITS` bits of their pattern (sign, exponent and the leading mantissa bits: a bucket
spans a relative width of 2^-8); the bucket of every wanted rank follows from the cumulative
counts. The second pass keeps the distinct values of those buckets only, with their counts
(``np.unique`` per chunk, merged), and reads the ranks off them. Memory: the histogram (4 MB)
plus the distinct values of at most four buckets; values derived from float32 numbers (the
checkpoint reader's dtype) have at most a few 2^15 distinct values in a bucket, whatever the
number of values. The result is the value ``np.sort`` would put at each rank, so a median is
``np.median``'s, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["KEY_BITS", "order_statistics", "median_ranks", "median_of"]

#: Bits of the first pass's bucket key (top bits of the float64 pattern).
KEY_BITS = 20
_SHIFT = 64 - KEY_BITS


def _keys(chunk: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(values, their bucket keys, their multiplicities or None) of a chunk: an array of values,
    or a pair ``(values, counts)`` of distinct values and how often each occurs."""
    counts = None
    if isinstance(chunk, tuple):
        chunk, counts = chunk
        counts = np.asarray(counts, dtype=np.int64).ravel()
    v = np.ascontiguousarray(chunk, dtype=np.float64).ravel()
    if counts is not None and (counts.size != v.size or (counts < 0).any()):
        raise ValueError("order_statistics: a (values, counts) chunk needs one count >= 0 per value")
    if v.size and (np.isnan(v).any() or (v < 0).any() or np.isinf(v).any()):
        raise ValueError("order_statistics: values must be finite and >= 0")
    return v, v.view(np.uint64) >> np.uint64(_SHIFT), counts


def order_statistics(passes: Callable[[], Iterable[np.ndarray]], ranks_of: Callable[[int], Sequence[int]]) -> list[float]:
    """The values at given ranks of a stream of finite non-negative numbers, in two passes.

    Args:
        passes: Called once per pass (twice at most); returns a fresh iterable of float64 chunks
            (any shape) holding the same values each time (the order may differ). A chunk may
            also be a pair ``(values, counts)``: distinct values and their multiplicities (e.g.
            the distances of a 16-bit weight matrix, at most 32,768 distinct values).
        ranks_of: Called after the first pass with the number of values ``n``; returns the
            0-based ranks wanted (each in ``[0, n)``).

    Returns:
        float64 values, one per rank: ``np.sort(all values)[rank]``.

    Raises:
        ValueError: A NaN, infinite or negative value, or a rank outside ``[0, n)``.
    """
    hist = np.zeros(1 << KEY_BITS, np.int64)
    for chunk in passes():
        _, k, cnt = _keys(chunk)
        if k.size:
            hist += np.bincount(k.astype(np.int64), weights=cnt, minlength=hist.size).astype(np.int64)
    n = int(hist.sum())
    ranks = [int(r) for r in ranks_of(n)]
    if any(r < 0 or r >= n for r in ranks):
        raise ValueError(f"order_statistics: ranks {ranks} outside [0, {n})")
    if not ranks:
        return []
    cum = np.cumsum(hist)
    bucket = [int(np.searchsorted(cum, r, side="right")) for r in ranks]
    local = [r - (int(cum[b - 1]) if b else 0) for r, b in zip(ranks, bucket)]
    wanted = np.unique(np.asarray(bucket, np.uint64))
    vals: dict[int, tuple[np.ndarray, np.ndarray]] = {int(b): (np.zeros(0), np.zeros(0, np.int64)) for b in wanted}
    for chunk in passes():
        v, k, cnt = _keys(chunk)
        for b in wanted:
            hit = k == b
            sel = v[hit]
            if sel.size:
                if cnt is None:
                    u, c = np.unique(sel, return_counts=True)
                else:
                    u, inv = np.unique(sel, return_inverse=True)
                    c = np.bincount(inv, weights=cnt[hit], minlength=u.size).astype(np.int64)
                old_u, old_c = vals[int(b)]
                all_u = np.concatenate([old_u, u])
                all_c = np.concatenate([old_c, c])
                mu, inv = np.unique(all_u, return_inverse=True)
                vals[int(b)] = (mu, np.bincount(inv, weights=all_c, minlength=mu.size).astype(np.int64))
    out = []
    for b, lr in zip(bucket, local):
        u, c = vals[b]
        if int(c.sum()) != int(hist[b]):
            raise ValueError("order_statistics: the second pass did not see the values of the first")
        out.append(float(u[int(np.searchsorted(np.cumsum(c), lr, side="right"))]))
    return out


def median_ranks(n: int) -> list[int]:
    """The ranks ``np.median`` averages for ``n`` values: one (odd n) or two (even n); none for 0."""
    if n <= 0:
        return []
    return [n // 2] if n % 2 else [n // 2 - 1, n // 2]


def median_of(values: Sequence[float]) -> float:
    """``np.median`` of the values at :func:`median_ranks` (their mean, as NumPy computes it)."""
    return float(np.mean(np.asarray(values, dtype=np.float64)))
