"""Single-source bounded Dijkstra per source with the settled nodes sorted by distance (numba).

NetworkX settles nodes by (distance, push counter). When the distances of one ball are all
distinct, that order is simply ascending distance, so the fast searches of
``kernels/cpu_sssp.py`` (bucket queue or key-only heap, rows sorted by weight) followed by an
insertion sort give NetworkX's order exactly; a ball with two equal distances is flagged and the
caller reruns it with the exact tie order (``cpu_sssp.ordered_balls``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from mfa_engine.kernels.cpu_sssp import _queues, _settle, _thread_state
from mfa_engine.kernels.csr_order import insertion_sort_by_key

__all__ = ["sorted_balls", "sorted_balls_serial"]


@njit(cache=True)
def _sort_settled(out_v, out_d, a, b):
    """Insertion sort of ``out_v/out_d[a:b]`` by distance (near-linear: the bucket queue's output
    is sorted up to one bucket). Returns True when two distances are equal."""
    insertion_sort_by_key(out_d, out_v, a, b)
    for i in range(a + 1, b):
        if out_d[i] == out_d[i - 1]:
            return True
    return False


@njit(cache=True, nogil=True)
def _worker(indptr, indices, data, sources, cutoff, inv_delta, t, nthreads, cap, out_v, out_d, start, length, tie):
    """Worker ``t`` of ``nthreads``: the balls of sources ``t, t + nthreads, ...`` written back to
    back into ``out_*[t * cap:(t + 1) * cap]``. Returns False when they do not fit."""
    n = indptr.shape[0] - 1
    d, _, touched = _thread_state(n)
    hk, hv, bhead, enext, evert = _queues(cutoff, inv_delta)
    bv = np.empty(n, np.int64)
    bd = np.empty(n, np.float64)
    o = t * cap
    end = (t + 1) * cap
    for s in range(t, sources.shape[0], nthreads):
        m, hk, hv, enext, evert = _settle(indptr, indices, data, sources[s], cutoff, inv_delta, d, touched,
                                          hk, hv, bhead, enext, evert, bv, bd)
        if o + m > end:
            length[s] = -1
            return False
        out_v[o : o + m] = bv[:m]
        out_d[o : o + m] = bd[:m]
        tie[s] = _sort_settled(out_v, out_d, o, o + m)
        start[s] = o
        length[s] = m
        o += m
    return True


@njit(parallel=True, cache=True)
def sorted_balls(indptr, indices, data, sources, cutoff, inv_delta, nthreads, cap, out_v, out_d, start, length, tie):
    """Ball of every source (nodes with ``d <= cutoff``), in ascending distance order.

    Sources are dealt round-robin to ``nthreads`` workers; worker t writes its balls back to back
    into ``out_*[t * cap:(t + 1) * cap]``.

    Args:
        indptr: int64 [N + 1]. indices: int32/int64 [nnz]. data: float64 [nnz] >= 0, each row
            sorted ascending. sources: int64 [S]. cutoff: Inclusive cutoff (>= 0).
        inv_delta: > 0 selects the bucket queue (``cpu_sssp.dial_width``), 0 the heap.
        nthreads: Workers. cap: Output entries per worker.
        out_v: int64 [nthreads * cap]. out_d: float64 [nthreads * cap].
        start, length: int64 [S] output offset and size of each ball (-1 on overflow).
        tie: bool [S], set when the ball holds two equal distances.

    Returns:
        True when every ball fitted (else call again with a larger ``cap``).
    """
    ok = np.ones(nthreads, np.bool_)
    for t in prange(nthreads):
        ok[t] = _worker(indptr, indices, data, sources, cutoff, inv_delta, t, nthreads, cap, out_v, out_d, start,
                        length, tie)
    return ok.all()


@njit(cache=True, nogil=True)
def sorted_balls_serial(indptr, indices, data, sources, cutoff, inv_delta, cap, out_v, out_d, start, length, tie):
    """:func:`sorted_balls` on the calling thread alone, without holding the GIL (one worker:
    every ball back to back in ``out_*[:cap]``), so a Python thread can run it while another
    builds the results of the previous batch."""
    return _worker(indptr, indices, data, sources, cutoff, inv_delta, 0, 1, cap, out_v, out_d, start, length, tie)
