"""Full-network paths streamed level by level (bounded host memory).

A layered network (a NIN) is a chain of level blocks ``W_l [n_l, n_{l+1}]``. Distances from S
sources need, at any time, only the distance panel of the current level and the next one, and
the block between them: :func:`stream_counts` consumes an iterator of :class:`~mfa_engine.layered.LevelBlock`
(exact float64 min-plus, the same additions as float64 Dijkstra, so counts are identical to
SciPy's) and keeps at most one block and an ``S x (n_l + n_{l+1})`` panel in memory, never
the whole network. :func:`mfa_engine.nin.iter_nin_blocks` yields the blocks of a checkpoint's NIN straight
from the checkpoint reader (one ``edge_weights`` read per block), so a 2.8B-shaped full
network (10 GB of float32 weights) needs a few hundred MB.

The iterator is the interface for other drivers too: a GPU driver can upload each
:class:`LevelBlock` as it comes (double-buffered) instead of every block at once.

Sparse blocks (the structural QKV -> context block, block-diagonal per head) are cut into
the tiles of :meth:`mfa_engine.paths.dag.DagLevels.tiles` (all-+inf tiles dropped).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from mfa_engine.layered import LevelBlock
from mfa_engine.paths.dag import SPARSE_SHARE, SPARSE_TILE

__all__ = ["LevelBlock", "iter_layered_blocks", "stream_counts"]


def iter_layered_blocks(g: Any) -> Iterator[LevelBlock]:
    """The blocks of a :class:`~mfa_engine.layered.LayeredGraph`, in order."""
    structural = list(getattr(g, "structural", None) or [False] * len(g.blocks))
    for lv, b in enumerate(g.blocks):
        yield LevelBlock(lv, np.asarray(b, np.float64), bool(structural[lv]))


def _rectangles(w: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(r0, nr, c0, nc) rectangles covering every finite entry: the whole block, or for a
    sparse block its non-empty :data:`~mfa_engine.paths.dag.SPARSE_TILE` tiles."""
    na, nb = w.shape
    fin = np.isfinite(w)
    if na * nb == 0 or fin.mean() > SPARSE_SHARE:
        return [(0, na, 0, nb)]
    t = SPARSE_TILE
    return [(r, min(t, na - r), c, min(t, nb - c)) for r in range(0, na, t) for c in range(0, nb, t)
            if fin[r : r + t, c : c + t].any()]


def stream_counts(
    sizes: list[int], blocks: Iterable[LevelBlock], sources: np.ndarray, radii: np.ndarray
) -> np.ndarray:
    """Exact ball counts from level-order sources over a streamed layered network.

    Args:
        sizes: Level sizes ``[n_0, ..., n_L]``.
        blocks: The L blocks in level order (e.g. :func:`mfa_engine.nin.iter_nin_blocks`); each is used once
            and may be dropped by the caller's iterator afterwards.
        sources: int64 [S] node ids in level order (``sum(sizes[:l]) + i``).
        radii: float64 [R] radius grid (any order).

    Returns:
        int64 [S, R]: ``#{v : d(s, v) <= radii[k]}``, identical to float64 Dijkstra.
    """
    from mfa_engine.kernels import cpu_minplus
    from mfa_engine.kernels.minplus_tile import tile_cols
    from mfa_engine.paths.cpu import minplus_isa, numba_threads

    src = np.asarray(sources, np.int64)
    r_in = np.asarray(radii, np.float64)
    order_r = np.argsort(r_in, kind="stable")
    rs = r_in[order_r]
    rmax = float(rs[-1]) if rs.size else -np.inf
    off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    lvl = np.searchsorted(off, src, side="right") - 1
    order = np.argsort(lvl, kind="stable")
    src_s, lvl_s = src[order], lvl[order]
    s_n = src.size
    hist = np.zeros((s_n, rs.size + 1), np.int64)
    zero_k = int(np.searchsorted(rs, 0.0, side="left"))
    hist[np.arange(s_n), zero_k] += 1  # every source at distance 0 from itself
    cur = np.full((s_n, sizes[0] if sizes else 0), np.inf)
    _place_sources(cur, src_s, lvl_s, off, 0)
    threads = numba_threads()
    isa = minplus_isa()
    cols = tile_cols(isa, 8)
    for blk in blocks:
        lv = blk.level
        na, nb = sizes[lv], sizes[lv + 1]
        w = np.ascontiguousarray(blk.weights, np.float64)
        active = int(np.searchsorted(lvl_s, lv, side="right"))  # sources at levels <= l
        row = na + nb
        buf = np.full(active * row, np.inf)
        view = buf.reshape(active, row)
        view[:, :na] = cur[:active]
        chunk = max(1, -(-active // threads))
        for r0, nr, c0, nc in _rectangles(w):
            rect = w[r0 : r0 + nr, c0 : c0 + nc]
            if isa:  # the micro-kernel reads contiguous column panels (one copy)
                wt = cpu_minplus.panels_into(rect, cols, np.empty(nr * nc))
            else:
                wt = np.ascontiguousarray(rect).ravel()
            cpu_minplus.minplus_rows(buf, active, row, r0, nr, wt, na + c0, nc, rmax, np.inf, 0.0, chunk, isa, False, bool(isa))
        nxt = np.full((s_n, nb), np.inf)
        nxt[:active] = view[:, na:]
        nxt[nxt > rmax] = np.inf
        if active:  # counted before the next level's own sources are placed
            d = nxt[:active]
            k = np.searchsorted(rs, d, side="left")
            k[~np.isfinite(d)] = rs.size
            flat = (k + (np.arange(active, dtype=np.int64) * (rs.size + 1))[:, None]).ravel()
            hist[:active] += np.bincount(flat, minlength=active * (rs.size + 1)).reshape(active, rs.size + 1)
        _place_sources(nxt, src_s, lvl_s, off, lv + 1)
        cur = nxt
        del buf, view, w
    cum = np.cumsum(hist[:, :-1], axis=1)  # sorted sources x sorted radii
    out = np.empty((s_n, rs.size), np.int64)
    out[np.ix_(order, order_r)] = cum  # original source and radius order
    return out


def _place_sources(panel: np.ndarray, src_s: np.ndarray, lvl_s: np.ndarray, off: np.ndarray, level: int) -> None:
    """Distance 0 for the sources of level ``level`` in their own rows of the panel."""
    idx = np.flatnonzero(lvl_s == level)
    panel[idx, src_s[idx] - off[level]] = 0.0
