"""Run the ordered bounded Dijkstra on an :class:`MfaGraph` and build NetworkX result dicts in bulk."""

from __future__ import annotations

import math
from itertools import islice
from typing import Any, Hashable, Iterator

import numpy as np

from mfa_engine.nx.graph import MfaGraph

__all__ = ["balls", "sorted_balls", "search", "values", "ball_dict", "ball_dicts", "hop_cutoff", "weight_cutoff", "BATCH", "BATCH_ENTRIES"]

#: Sources in the first kernel call when computing all pairs.
BATCH = 256
#: Settled nodes per later kernel call (bounds the memory of the settled lists: 16 bytes each).
BATCH_ENTRIES = 1 << 22


def weight_cutoff(cutoff: Any) -> float:
    """NetworkX's Dijkstra cutoff (``None`` = none; a node is kept when ``d <= cutoff``)."""
    return np.inf if cutoff is None else float(cutoff)


def hop_cutoff(cutoff: Any) -> float:
    """The breadth-first cutoff of NetworkX as a distance bound on unit weights.

    NetworkX expands level ``l + 1`` while ``cutoff > l``, so the deepest level kept is
    ``ceil(cutoff)`` for a positive cutoff and 0 otherwise.
    """
    if cutoff is None:
        return np.inf
    c = float(cutoff)
    if c <= 0:
        return -1.0
    return float(math.ceil(c)) if math.isfinite(c) else np.inf


def _threads(groups: int) -> int:
    import numba

    return max(1, min(int(numba.get_num_threads()), groups))


_NO_TYPES = np.zeros(0, np.uint8)
#: Smallest output capacity per worker of the fast all-pairs kernel (16 MB of settled entries;
#: a first guess too small would rerun the first batch).
_MIN_CAP = 1 << 20


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
    workers = _threads(ng)
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


def _sorted_rows(g: MfaGraph, data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The graph's CSR with each row sorted by weight (int32 targets), cached on ``g`` per
    weight array: (indptr, indices, data, smallest weight)."""
    from mfa_engine.kernels import csr_order

    hit = g.__dict__.get("_rows_by_weight")
    if hit is not None and hit[0] is data:
        return hit[1]
    n = len(g.nodes)
    ident = np.arange(n, dtype=np.int64)
    itype = np.int32 if n < 2**31 - 1 else np.int64
    ip, ix, dt = csr_order.permute_csr(g.indptr, g.indices, data, ident, ident, np.empty(data.shape[0], itype))
    out = (ip, ix, dt, float(dt.min()) if dt.size else np.inf)
    g.__dict__["_rows_by_weight"] = (data, out)
    return out


def sorted_balls(g: MfaGraph, rows: list[int], cutoff: float, data: np.ndarray, cap_hint: list[int]):
    """Fast all-pairs searches (bucket queue / key-only heap, rows sorted by weight), each ball
    in ascending distance order, which is NetworkX's order when its distances are distinct.

    Returns:
        (out_v int64, out_d float64, start int64 [S], length int64 [S], tie bool [S]).
    """
    from mfa_engine.kernels import cpu_sorted_balls, cpu_sssp

    ip, ix, dt, low = _sorted_rows(g, data)
    src = np.asarray(rows, np.int64)
    n = max(len(g.nodes), 1)
    workers = _threads(src.size)
    per = -(-src.size // workers)
    cap = min(n * per, max(_MIN_CAP, 4 * n + int(1.25 * cap_hint[0] * per)))
    inv_delta = cpu_sssp.dial_width_from(low, cutoff)
    start = np.empty(src.size, np.int64)
    length = np.empty(src.size, np.int64)
    tie = np.zeros(src.size, np.bool_)
    while True:
        out_v = np.empty(workers * cap, np.int64)
        out_d = np.empty(workers * cap, np.float64)
        if cpu_sorted_balls.sorted_balls(ip, ix, dt, src, float(cutoff), inv_delta, workers, cap, out_v, out_d, start,
                                         length, tie):
            break
        cap = min(2 * cap, n * per)
    cap_hint[0] = max(cap_hint[0], int(length.mean()) + 1)
    return out_v, out_d, start, length, tie


#: Sources whose result dicts are built from one pair of key and value lists per worker.
_DICTS_AT_ONCE = 64


def _float_batch(g: MfaGraph, chunk: list, cutoff: float, data: np.ndarray, hint: list[int]) -> Iterator[tuple]:
    """``(source, dict)`` for a batch of sources on float weights: one fast kernel call, keys and
    values converted to Python objects a few sources at a time, balls with tied distances rerun
    in NetworkX's exact tie order."""
    out_v, out_d, start, length, tie = sorted_balls(g, [g.index[s] for s in chunk], cutoff, data, hint)
    workers = _threads(len(chunk))
    redo = {}
    if tie.any():
        idx = np.flatnonzero(tie).tolist()
        res = balls(g, [[g.index[chunk[i]]] for i in idx], cutoff, data, -1, None, None)
        redo = {i: ball_dict(g, r, d.tolist(), 1) for i, (r, d, _) in zip(idx, res)}
    first, size = start.tolist(), length.tolist()
    for lo in range(0, len(chunk), _DICTS_AT_ONCE):
        hi = min(lo + _DICTS_AT_ONCE, len(chunk))
        part: list = [None] * (hi - lo)
        for t in range(workers):
            mine = range(lo + (t - lo) % workers, hi, workers)  # worker t's sources: adjacent regions
            if mine:
                _worker_dicts(g, out_v, out_d, first, size, mine, redo, part, lo)
        yield from zip(chunk[lo:hi], part)


def _worker_dicts(g: MfaGraph, out_v: np.ndarray, out_d: np.ndarray, first: list, size: list, mine: range,
                  redo: dict, part: list, lo: int) -> None:
    """Fill ``part[i - lo]`` for the sources ``mine`` of one worker, whose settled lists lie back to
    back in ``out_v/out_d``: one key list and one value list for all of them. The dicts start as
    ``{}`` and hold only numbers and labels, so the garbage collector does not track them (a
    tracked dict of numbers is scanned by every collection until one untracks it)."""
    a0 = first[mine[0]]
    keys = g.labels[out_v[a0 : first[mine[-1]] + size[mine[-1]]]].tolist()
    kit = iter(keys)
    vit = iter(out_d[a0 : a0 + len(keys)].tolist())
    off = 0
    for i in mine:
        m = size[i]
        d: dict = {}
        if m:
            d.update(zip(islice(kit, m), islice(vit, m)))
            d[keys[off]] = 0  # the source: NetworkX's int 0
        off += m
        part[i - lo] = redo.get(i, d)


def ball_dicts(
    g: MfaGraph, sources: list[Hashable], cutoff: float, data: np.ndarray, integral: bool | np.ndarray
) -> Iterator[tuple[Hashable, dict]]:
    """``(source, {label: distance})`` for each source: a first batch of :data:`BATCH` sources,
    then batches sized to hold about :data:`BATCH_ENTRIES` settled nodes. Float weights take
    :func:`sorted_balls` (ties rerun exactly), other weights the ordered search."""
    hint = [64]
    eint = integral if isinstance(integral, np.ndarray) else None
    fast = integral is False and cutoff >= 0
    b, size = 0, BATCH
    while b < len(sources):
        chunk = sources[b : b + size]
        if fast:
            yield from _float_batch(g, chunk, cutoff, data, hint)
        else:
            res = balls(g, [[g.index[s]] for s in chunk], cutoff, data, -1, eint, hint)
            for s, (rows, dist, fl) in zip(chunk, res):
                yield s, ball_dict(g, rows, values(dist, integral, fl), 1)
        b += len(chunk)
        size = int(min(max(BATCH, BATCH_ENTRIES // max(hint[0], 1)), 1 << 16))
