"""Run the ordered bounded Dijkstra on an :class:`MfaGraph` and build NetworkX result dicts in bulk."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mfa_engine.nx.graph import MfaGraph
from mfa_engine.paths.threads import numba_threads

__all__ = ["balls", "batch_size", "workers_for", "search", "values", "ball_dict", "hop_cutoff", "weight_cutoff", "BATCH", "BATCH_ENTRIES"]

#: Sources in the first kernel call when computing all pairs.
BATCH = 256
#: Settled nodes per later kernel call (bounds the memory of the settled lists: 16 bytes each).
BATCH_ENTRIES = 1 << 22


def weight_cutoff(cutoff: Any) -> float:
    """NetworkX's Dijkstra cutoff as an inclusive float64 bound (``None`` = none).

    NetworkX drops a node when ``d > cutoff`` (an exact Python comparison), so a NaN cutoff
    drops nothing (no cutoff), an integer beyond float64's range is ``+-inf``, and an integer or
    fraction that float64 cannot hold is rounded down to the largest float64 not above it.
    """
    if cutoff is None:
        return np.inf
    try:
        c = float(cutoff)
    except OverflowError:
        return np.inf if cutoff > 0 else -np.inf
    if math.isnan(c):
        return np.inf
    if math.isfinite(c) and not isinstance(cutoff, float) and c > cutoff:
        c = math.nextafter(c, -math.inf)
    return c


def hop_cutoff(cutoff: Any) -> float:
    """The breadth-first cutoff of NetworkX as a distance bound on unit weights.

    NetworkX expands level ``l + 1`` while ``cutoff > l``, so the deepest level kept is
    ``ceil(cutoff)`` for a positive cutoff and 0 otherwise (a NaN cutoff expands nothing).
    """
    if cutoff is None:
        return np.inf
    if not cutoff > 0:  # NaN included: ``nan > 0`` is False
        return -1.0
    try:
        c = float(cutoff)
    except OverflowError:
        return np.inf
    if not math.isfinite(c) or c >= 2**53:
        return np.inf
    return float(math.ceil(cutoff))


def workers_for(groups: int) -> int:
    """Workers for ``groups`` independent searches: the numba threads, at most one per group."""
    return max(1, min(numba_threads(), groups))


_NO_TYPES = np.zeros(0, np.uint8)


def balls(
    g: MfaGraph, seed_groups: list[list[int]], cutoff: float, data: np.ndarray, target: int = -1,
    eint: np.ndarray | None = None, cap_hint: list[int] | None = None,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """Settled rows and distances (in NetworkX's settling order) of one search per seed group.

    Args:
        g: The graph.
        seed_groups: Row numbers of the seeds of each search.
        cutoff: Inclusive distance cutoff.
        data: float64 [nnz] edge weights.
        target: Row at which every search stops (-1: none).
        eint: uint8 [nnz] mask of integer weights, to track which lengths are integers.
        cap_hint: One-element list carrying the mean ball size seen so far between calls
            (sizes the output buffers; updated).

    Returns:
        Per group: (rows int64 [m], distances float64 [m], uint8 [m] integer-length flags or None).
    """
    from mfa_engine.kernels import cpu_sssp

    ng = len(seed_groups)
    if ng == 0:
        return []
    n = len(g.nodes)
    seeds = np.fromiter((s for grp in seed_groups for s in grp), np.int64)
    off = np.zeros(ng + 1, np.int64)
    np.cumsum([len(grp) for grp in seed_groups], out=off[1:])
    workers = workers_for(ng)
    per = -(-ng // workers)
    mean = cap_hint[0] if cap_hint else 64
    cap = max(1024, min(n * per, 4 * n + int(1.25 * mean * per)))
    start = np.empty(ng, np.int64)
    length = np.empty(ng, np.int64)
    track = eint is not None
    et = eint if track else _NO_TYPES
    while True:
        out_v = np.empty(workers * cap, np.int64)
        out_d = np.empty(workers * cap, np.float64)
        out_i = np.empty(workers * cap if track else 0, np.uint8)
        if cpu_sssp.ordered_balls(g.indptr, g.indices, data, et, seeds, off, float(cutoff), int(target), workers, cap,
                                  out_v, out_d, out_i, start, length):
            break
        cap = min(2 * cap, max(n, 1) * per)
    if cap_hint is not None:
        cap_hint[0] = max(cap_hint[0], int(length.mean()) + 1)
    return [(out_v[s : s + m], out_d[s : s + m], out_i[s : s + m] if track else None)
            for s, m in zip(start.tolist(), length.tolist())]


def values(dist: np.ndarray, integral: bool | np.ndarray, flags: np.ndarray | None) -> list:
    """Python numbers of the distances: ints where the length is a sum of integer weights."""
    if isinstance(integral, np.ndarray):
        mask = flags.astype(bool)
        return np.where(mask, dist.astype(np.int64).astype(object), dist.astype(object)).tolist()
    return dist.astype(np.int64).tolist() if integral else dist.tolist()


def search(g: MfaGraph, seed_groups: list[list[int]], cutoff: float, data: np.ndarray, integral: bool | np.ndarray,
           target: int = -1, cap_hint: list[int] | None = None) -> list[tuple[np.ndarray, np.ndarray, list]]:
    """:func:`balls` with the distances as Python numbers of NetworkX's types."""
    eint = integral if isinstance(integral, np.ndarray) else None
    res = balls(g, seed_groups, cutoff, data, target, eint, cap_hint)
    return [(rows, dist, values(dist, integral, fl)) for rows, dist, fl in res]


def ball_dict(g: MfaGraph, rows: np.ndarray, vals: list, n_seeds: int) -> dict:
    """``{label: distance}`` in settling order; the seeds (first ``n_seeds``) map to int 0."""
    keys = rows.tolist() if g.labels_are_rows else g.labels[rows].tolist()
    for i in range(min(n_seeds, len(vals))):
        vals[i] = 0
    return dict(zip(keys, vals))


def batch_size(hint: list[int], entries: int) -> int:
    """Sources per later batch: about ``entries`` settled nodes at the mean ball size seen so far."""
    return int(min(max(BATCH, entries // max(hint[0], 1)), 1 << 16))
