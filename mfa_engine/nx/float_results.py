"""NetworkX all-pairs results on float weights: fast searches, dicts built in bulk, and the
next batch searched on a background thread while the dicts of the current one are built.

The fast searches (bucket queue or key-only heap over rows sorted by weight,
``mfa_engine/kernels/cpu_sorted_balls.py``) give each ball in ascending distance order, which is
NetworkX's settling order when the ball's distances are distinct; a ball with a tie is rerun
with NetworkX's exact tie order (:func:`mfa_engine.nx.results.balls`).

With two or more numba threads, batches after the first run on one background thread
(``sorted_balls_serial`` releases the GIL) while the calling thread turns the previous batch
into dicts, which is Python work: the two overlap instead of taking turns.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from itertools import islice
from typing import NamedTuple

import numpy as np

from mfa_engine.nx.graph import MfaGraph
from mfa_engine.nx.results import BATCH, BATCH_ENTRIES, ball_dict, balls, batch_size, workers_for

__all__ = ["Balls", "sorted_balls", "float_ball_dicts", "PIPELINE_ENTRIES"]

#: Smallest output capacity per worker of the fast kernel (16 MB of settled entries; a first
#: guess too small would rerun the first batch).
_MIN_CAP = 1 << 20
#: Settled nodes per batch when batches are searched in the background (several batches, so
#: that searching and dict building overlap over most of the run).
PIPELINE_ENTRIES = 1 << 17
#: Batches queued ahead of the one becoming dicts. The background thread needs the GIL briefly
#: before and after each search and may wait a switch interval (5 ms) for it each time; with two
#: queued it goes straight on to the next search instead of idling.
_AHEAD = 2


class Balls(NamedTuple):
    """Settled lists of one batch: worker t's balls lie back to back from ``t * cap``."""

    out_v: np.ndarray  # int64: settled rows
    out_d: np.ndarray  # float64: their distances
    start: np.ndarray  # int64 [S]: offset of each ball
    length: np.ndarray  # int64 [S]: size of each ball
    tie: np.ndarray  # bool [S]: the ball holds two equal distances
    workers: int  # sources were dealt round-robin to this many workers


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
    ip, ix, dt = csr_order.permute_csr(g.indptr, g.indices, data, ident, ident, np.empty(data.shape[0], itype),
                                       workers_for(n))
    out = (ip, ix, dt, float(dt.min()) if dt.size else np.inf)
    g.__dict__["_rows_by_weight"] = (data, out)
    return out


def sorted_balls(g: MfaGraph, rows: list[int], cutoff: float, data: np.ndarray, cap_hint: list[int],
                 serial: bool = False) -> Balls:
    """Fast all-pairs searches (bucket queue / key-only heap, rows sorted by weight), each ball
    in ascending distance order, which is NetworkX's order when its distances are distinct.

    Args:
        g: The graph. rows: Source rows. cutoff: Inclusive cutoff (>= 0). data: float64 [nnz].
        cap_hint: One-element list with the mean ball size seen so far (updated).
        serial: One worker on the calling thread, GIL released (for a background thread).
    """
    from mfa_engine.kernels import cpu_sorted_balls, cpu_sssp

    ip, ix, dt, low = _sorted_rows(g, data)
    src = np.asarray(rows, np.int64)
    n = max(len(g.nodes), 1)
    workers = 1 if serial else workers_for(src.size)
    per = -(-src.size // workers)
    cap = min(n * per, max(_MIN_CAP, 4 * n + int(1.25 * cap_hint[0] * per)))
    inv_delta = cpu_sssp.dial_width_from(low, cutoff)
    start = np.empty(src.size, np.int64)
    length = np.empty(src.size, np.int64)
    tie = np.zeros(src.size, np.bool_)
    while True:
        out_v = np.empty(workers * cap, np.int64)
        out_d = np.empty(workers * cap, np.float64)
        if serial:
            ok = cpu_sorted_balls.sorted_balls_serial(ip, ix, dt, src, float(cutoff), inv_delta, cap, out_v, out_d,
                                                      start, length, tie)
        else:
            ok = cpu_sorted_balls.sorted_balls(ip, ix, dt, src, float(cutoff), inv_delta, workers, cap, out_v, out_d,
                                               start, length, tie)
        if ok:
            break
        cap = min(2 * cap, n * per)
    cap_hint[0] = max(cap_hint[0], int(length.mean()) + 1)
    return Balls(out_v, out_d, start, length, tie, workers)


#: Sources whose result dicts are built from one pair of key and value lists per worker.
_DICTS_AT_ONCE = 64


def _float_dicts(g: MfaGraph, chunk: list, res: Balls, cutoff: float, data: np.ndarray) -> Iterator[tuple]:
    """``(source, dict)`` for a batch of sources from its fast searches ``res``: keys and values
    converted to Python objects a few sources at a time, balls with tied distances rerun in
    NetworkX's exact tie order."""
    out_v, out_d, start, length, tie, workers = res
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


def float_ball_dicts(g: MfaGraph, sources: list[Hashable], cutoff: float, data: np.ndarray) -> Iterator[tuple]:
    """``(source, {label: distance})`` for each source on float weights, in order.

    The first :data:`~mfa_engine.nx.results.BATCH` sources run on every numba thread. With two
    or more threads, each later batch (about :data:`PIPELINE_ENTRIES` settled nodes) is searched
    on a background thread while the previous one becomes dicts; with one, each later batch
    (about :data:`~mfa_engine.nx.results.BATCH_ENTRIES`) is searched just before the previous
    one's dicts are handed out.
    """
    hint = [64]
    chunk = sources[:BATCH]
    res = sorted_balls(g, [g.index[s] for s in chunk], cutoff, data, hint)
    background = workers_for(2) >= 2
    entries, ahead = (PIPELINE_ENTRIES, _AHEAD) if background else (BATCH_ENTRIES, 1)
    with ThreadPoolExecutor(1, thread_name_prefix="mfa-nx") if background else nullcontext() as pool:
        queued: deque = deque()  # (sources, future) searched ahead, in order
        b = len(chunk)
        while True:
            while b < len(sources) and len(queued) < ahead:
                nxt = sources[b : b + batch_size(hint, entries)]
                b += len(nxt)
                rows = [g.index[s] for s in nxt]
                if pool is None:  # one thread: search now, on every numba thread
                    fut: Future = Future()
                    fut.set_result(sorted_balls(g, rows, cutoff, data, hint))
                else:
                    fut = pool.submit(sorted_balls, g, rows, cutoff, data, hint, True)
                queued.append((nxt, fut))
            yield from _float_dicts(g, chunk, res, cutoff, data)
            if not queued:
                return
            chunk, fut = queued.popleft()
            res = fut.result()
