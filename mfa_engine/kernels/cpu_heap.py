"""4-ary min-heaps for the bounded Dijkstra searches of ``kernels/cpu_sssp.py`` (numba).

Two flavours over parallel arrays: keys with a push counter as tie-break (``_push``/``_pop``:
(distance, push order), NetworkX's settling order) and keys only (``_push_key``/``_pop_key``:
searches whose tie order is not read). Capacity is checked by the callers.
"""

from __future__ import annotations

from numba import njit

__all__ = ["_push", "_pop", "_push_key", "_pop_key"]


@njit(cache=True, inline="always")
def _before(k1, c1, k2, c2):
    """Heap order: smaller distance first, then the earlier push."""
    return k1 < k2 or (k1 == k2 and c1 < c2)


@njit(cache=True, inline="always")
def _push(hk, hc, hv, size, key, c, v):
    """Insert (key, c, v) into the 4-ary heap of ``size`` entries (capacity checked by the caller)."""
    i = size
    while i > 0:
        p = (i - 1) >> 2
        if not _before(key, c, hk[p], hc[p]):
            break
        hk[i] = hk[p]
        hc[i] = hc[p]
        hv[i] = hv[p]
        i = p
    hk[i] = key
    hc[i] = c
    hv[i] = v
    return size + 1


@njit(cache=True, inline="always")
def _pop(hk, hc, hv, size):
    """Remove the root of the 4-ary heap (read it before); returns the new size."""
    size -= 1
    key = hk[size]
    c = hc[size]
    v = hv[size]
    i = 0
    while True:
        c0 = 4 * i + 1
        if c0 >= size:
            break
        m = c0
        mk = hk[c0]
        mc = hc[c0]
        for j in range(c0 + 1, min(c0 + 4, size)):
            if _before(hk[j], hc[j], mk, mc):
                m = j
                mk = hk[j]
                mc = hc[j]
        if not _before(mk, mc, key, c):
            break
        hk[i] = mk
        hc[i] = mc
        hv[i] = hv[m]
        i = m
    hk[i] = key
    hc[i] = c
    hv[i] = v
    return size


@njit(cache=True, inline="always")
def _push_key(hk, hv, size, key, v):
    """:func:`_push` without the tie-break counter (searches whose settling order is not read)."""
    i = size
    while i > 0:
        p = (i - 1) >> 2
        if hk[p] <= key:
            break
        hk[i] = hk[p]
        hv[i] = hv[p]
        i = p
    hk[i] = key
    hv[i] = v
    return size + 1


@njit(cache=True, inline="always")
def _pop_key(hk, hv, size):
    """:func:`_pop` without the tie-break counter."""
    size -= 1
    key = hk[size]
    v = hv[size]
    i = 0
    while True:
        c0 = 4 * i + 1
        if c0 >= size:
            break
        m = c0
        mk = hk[c0]
        for j in range(c0 + 1, min(c0 + 4, size)):
            if hk[j] < mk:
                m = j
                mk = hk[j]
        if mk >= key:
            break
        hk[i] = mk
        hv[i] = hv[m]
        i = m
    hk[i] = key
    hv[i] = v
    return size
