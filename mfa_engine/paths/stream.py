"""Full-network paths streamed level by level (bounded host memory).

A layered network (a NIN) is a chain of level blocks ``W_l [n_l, n_{l+1}]``. Distances from S
sources need, at any time, only the distance panel of the current level and the next one, and
the block between them: :func:`stream_counts` consumes an iterator of :class:`~mfa_engine.layered.LevelBlock`
(exact float64 min-plus, the same additions as float64 Dijkstra, so counts are identical to
SciPy's) and keeps at most one block and an ``S x (n_l + n_{l+1})`` panel in memory, never
the whole network. :func:`mfa_engine.nin.iter_nin_blocks` yields the blocks of a checkpoint's NIN straight
from the checkpoint reader (one ``edge_weights`` read per block), so a 2.8B-shaped full
network (10 GB of float32 weights) needs a few hundred MB.

Two precisions. Without ``block_at`` the pass is exact float64 min-plus. With ``block_at`` (or
``columns_at``) and float32 blocks (:meth:`mfa_engine.nin.NinBlocks.iter`), it runs in float32
on the register-blocked micro-kernel (twice the lanes), buckets each level in float32, lists
the entries within their rounding bound of a radius and spills each level's float32 panel to a
temporary file (blocks that can write themselves in the micro-kernel's panel layout,
:class:`mfa_engine.nin.NinLevel`, do so into a reused buffer); :mod:`mfa_engine.paths.stream_resolve` then gives those entries their float64
distances from the spilled rows and the float64 weights of their possible predecessors, so
counts stay identical to float64 Dijkstra with no source re-run. :data:`LAST_STATS` reports
the parts' CPU time and the entries resolved.

The iterator is the interface for other drivers too: a GPU driver can upload each
:class:`LevelBlock` as it comes (double-buffered) instead of every block at once.

Sparse blocks (the structural QKV -> context block, block-diagonal per head) are cut into
the tiles of :meth:`mfa_engine.paths.dag.DagLevels.tiles` (all-+inf tiles dropped).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from mfa_engine.layered import LevelBlock
from mfa_engine.paths.dag import SPARSE_SHARE, SPARSE_TILE
from mfa_engine.paths.stream_resolve import PanelSpill, resolve_counts

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


#: Statistics of the last :func:`stream_counts` call (float32 pass: entries resolved, marks,
#: kept edges, spilled bytes, CPU seconds of the parts: ``kernel_cpu_s`` is the min-plus kernel alone
#: inside ``minplus_cpu_s``; ``panel_levels`` counts the blocks that came as panels).
LAST_STATS: dict[str, Any] = {}

_EPS32 = 2.0**-24


def stream_counts(
    sizes: list[int], blocks: Iterable[LevelBlock], sources: np.ndarray, radii: np.ndarray, *,
    block_at: Callable[[int], np.ndarray] | None = None,
    columns_at: Callable[[int, np.ndarray], np.ndarray] | None = None, spill_dir: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> np.ndarray:
    """Exact ball counts from level-order sources over a streamed layered network.

    Without ``block_at`` the pass is exact float64 min-plus (the additions of float64
    Dijkstra). With ``block_at`` it runs in float32 (twice the SIMD lanes) on the
    register-blocked micro-kernel, lists the entries within their rounding bound of a radius,
    spills each level's thresholded float32 panel to a temporary file and resolves those
    entries exactly afterwards (:func:`mfa_engine.paths.stream_resolve.resolve_counts`), so
    the counts are still identical to float64 Dijkstra without re-running any source.

    Args:
        sizes: Level sizes ``[n_0, ..., n_L]``.
        blocks: The L blocks in level order (e.g. :func:`mfa_engine.nin.iter_nin_blocks`, or
            ``NinBlocks.iter(np.float32)`` with ``block_at``); each is used once and may be
            dropped by the caller's iterator afterwards. With ``block_at`` they are used in
            float32 (cast if given in float64): they must be the float32 rounding of
            ``block_at``'s distances, and in float32's comfortable range (no distance below
            1e-30 or above 1e30, as :func:`mfa_engine.paths.cpu.choose_dtype` requires of the
            in-memory float32 pass; NIN distances ``1/|w|`` of fp16/bf16/fp32 weights are).
            A block with a ``content_key`` (not None) equal to an earlier block's has the
            same values (e.g. NIN structural blocks): its rectangles are reused, not rebuilt.
            A block with a ``panels(cols, out)`` method and a ``shape`` (e.g.
            :class:`mfa_engine.nin.NinLevel` from ``NinBlocks.iter(np.float32, lazy=True)``)
            is asked for its values directly in the micro-kernel's panel layout, written into
            one buffer reused from level to level (no row-major block, no copy); ``panels``
            may return None (e.g. a sparse structural block) to fall back to ``weights``.
        sources: int64 [S] node ids in level order (``sum(sizes[:l]) + i``).
        radii: float64 [R] radius grid (any order).
        block_at: ``level -> float64 [n_l, n_{l+1}]`` exact distances of a block (e.g.
            ``lambda l: nin_blocks.block(l, np.float64)``), read once per level by the
            resolution; enables the float32 pass.
        columns_at: Instead of ``block_at``: ``(level, cols) -> float64 [n_l, len(cols)]``, only
            the target columns the resolution needs (e.g. ``lambda l, c: nin_blocks.block(l,
            np.float64, c)``: most of a block's columns are never needed).
        spill_dir: Directory of the float32 pass's temporary file (default the system's).
        progress: ``callback(stage, done, total)`` after each level of the pass (``"levels"``)
            and of the resolution (``"resolution"``), e.g. from
            :func:`mfa_engine.progress.progress_callback`.

    Returns:
        int64 [S, R]: ``#{v : d(s, v) <= radii[k]}``, identical to float64 Dijkstra.

    Raises:
        ValueError: A block of the wrong level or shape, sources out of range, both
            ``block_at`` and ``columns_at``, or (float32) a radius above 1e30.
    """
    from mfa_engine.kernels import cpu_buckets, cpu_minplus
    from mfa_engine.kernels.minplus_tile import tile_cols
    from mfa_engine.paths.cpu import intmin_enabled, minplus_isa, numba_threads

    f32 = block_at is not None or columns_at is not None
    if block_at is not None and columns_at is not None:
        raise ValueError("stream_counts: pass block_at or columns_at, not both")
    dt = np.dtype(np.float32 if f32 else np.float64)
    src = np.asarray(sources, np.int64)
    r_in = np.asarray(radii, np.float64)
    order_r = np.argsort(r_in, kind="stable")
    rs = r_in[order_r]
    rmax = float(rs[-1]) if rs.size else -np.inf
    off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n_nodes = int(off[-1])
    if src.size and (src.min() < 0 or src.max() >= n_nodes):
        raise ValueError(f"sources must be node ids in [0, {n_nodes}), got [{src.min()}, {src.max()}]")
    lvl = np.searchsorted(off, src, side="right") - 1
    order = np.argsort(lvl, kind="stable")
    src_s, lvl_s = src[order], lvl[order]
    s_n = src.size
    hist = np.zeros((s_n, rs.size + 1), np.int64)
    zero_k = int(np.searchsorted(rs, 0.0, side="left"))
    hist[np.arange(s_n), zero_k] += 1  # every source at distance 0 from itself
    if f32 and rmax > 1e30:
        raise ValueError(f"stream_counts: the float32 pass needs radii within float32's comfortable range "
                         f"(largest radius {rmax:g} > 1e30); stream float64 blocks without block_at/columns_at")
    if f32:  # the in-memory float32 pass's cutoff (gamma over the whole depth, cpu.gamma_for)
        thr_f = rmax * (1.0 + (len(sizes) + 1) * _EPS32) if rmax > 0 else rmax
        thr = np.float32(min(thr_f, float(np.finfo(np.float32).max)))
        if np.isfinite(thr_f):
            thr = np.nextafter(thr, np.float32(np.inf))
        rtab, rpad = cpu_buckets.radius_table(rs, np.float32), cpu_buckets.padded_radii(rs)
    else:
        thr = rmax
    cur_flat = np.full(s_n * (sizes[0] if sizes else 0), np.inf, dt)
    cur = cur_flat.reshape(s_n, sizes[0] if sizes else 0)
    spare, run = np.empty(0, dt), np.empty(0, dt)
    _place_sources(cur, src_s, lvl_s, off, 0)
    threads = numba_threads()
    isa = minplus_isa()
    cols = tile_cols(isa, dt.itemsize)
    intmin = f32 and intmin_enabled()
    amb: dict[int, tuple[np.ndarray, ...]] = {}
    pbuf = np.empty(0, dt)  # panels of blocks that provide them, reused from level to level
    same: dict[Any, list[tuple[int, int, int, int, np.ndarray]]] = {}  # content_key -> rectangles
    spill = None
    stats: dict[str, Any] = {"build_cpu_s": 0.0, "minplus_cpu_s": 0.0, "bucket_cpu_s": 0.0, "spill_cpu_s": 0.0, "kernel_cpu_s": 0.0, "panel_levels": 0}
    try:
        if f32:
            from mfa_engine.kernels.stream_resolve import bucket_panel

            spill = PanelSpill(spill_dir)
        it = iter(blocks)
        for lv in range(len(sizes) - 1):
            t = time.process_time()
            blk = next(it, None)
            if blk is None or blk.level != lv:
                raise ValueError(f"stream_counts: expected the block of level {lv}, got {None if blk is None else blk.level}")
            na, nb = sizes[lv], sizes[lv + 1]
            panels = getattr(blk, "panels", None) if isa else None
            if panels is not None and tuple(blk.shape) != (na, nb):
                raise ValueError(f"stream_counts: block {lv} has shape {tuple(blk.shape)}, expected ({na}, {nb})")
            wp = None
            if panels is not None and not blk.structural:  # straight into the micro-kernel's layout
                if pbuf.size < na * nb:
                    pbuf = np.empty(max(na * nb, _largest_block(sizes)), dt)
                wp = panels(cols, pbuf)
                stats["panel_levels"] += wp is not None
            key = getattr(blk, "content_key", None)
            if wp is not None:
                if wp.dtype != dt or wp.size != na * nb:
                    raise ValueError(f"stream_counts: panels of block {lv} are {wp.dtype} [{wp.size}], expected {dt} [{na * nb}]")
                work = [(0, na, 0, nb, wp)]
            elif key is not None and (key, na, nb) in same:  # the same values as an earlier block
                work = same[key, na, nb]
            else:
                w = np.ascontiguousarray(blk.weights, dt)
                if w.shape != (na, nb):
                    raise ValueError(f"stream_counts: block {lv} has shape {w.shape}, expected ({na}, {nb})")
                work = [(r0, nr, c0, nc, _tile_weights(w[r0 : r0 + nr, c0 : c0 + nc], cols, isa, dt)) for r0, nr, c0, nc in _rectangles(w)]
                del w
                if key is not None:
                    same[key, na, nb] = work
            stats["build_cpu_s"] += time.process_time() - t
            t = time.process_time()
            active = int(np.searchsorted(lvl_s, lv, side="right"))  # sources at levels <= l
            row = na + nb
            if run.size < active * row:  # the row buffer of the largest level pair, kept (no fresh pages per level)
                run = np.empty(s_n * max(a + b for a, b in zip(sizes[:-1], sizes[1:])), dt)
            buf = run[: active * row]
            view = buf.reshape(active, row)
            view[:, :na] = cur[:active]
            view[:, na:] = np.inf
            chunk = max(1, -(-active // threads))
            for r0, nr, c0, nc, wt in work:
                tk = time.process_time()
                cpu_minplus.minplus_rows(buf, active, row, r0, nr, wt, na + c0, nc, thr, dt.type(np.inf), dt.type(0.0), chunk, isa, intmin, bool(isa))
                stats["kernel_cpu_s"] += time.process_time() - tk
            spare, cur_flat = cur_flat, spare  # the two level panels alternate
            if cur_flat.size < s_n * nb:
                cur_flat = np.empty(s_n * max(sizes), dt)
            nxt = cur_flat[: s_n * nb].reshape(s_n, nb)
            nxt[:active] = view[:, na:]
            nxt[active:] = np.inf
            del buf, view, wp, work
            stats["minplus_cpu_s"] += time.process_time() - t
            t = time.process_time()
            if f32 and active:
                entries = bucket_panel(nxt[:active], lvl_s[:active], lv + 1, rs, rpad, rtab, thr, _EPS32, hist, threads)
                if entries[0].size:
                    amb[lv + 1] = entries
            elif active:  # counted before the next level's own sources are placed
                nxt[nxt > rmax] = np.inf
                _count_rows(nxt[:active], rs, hist)
            stats["bucket_cpu_s"] += time.process_time() - t
            if spill is not None and active and lv + 1 < len(sizes) - 1:
                t = time.process_time()
                spill.write(lv + 1, nxt[:active])
                stats["spill_cpu_s"] += time.process_time() - t
            _place_sources(nxt, src_s, lvl_s, off, lv + 1)
            cur = nxt
            if progress is not None:
                progress("levels", lv + 1, len(sizes) - 1)
        if f32:
            pos_s = src_s - off[lvl_s]
            resolve_counts(list(sizes), amb, spill, columns_at or _columns_of(block_at, sizes), pos_s, lvl_s.astype(np.int64), rs, hist, thr, _EPS32, stats, progress)
            stats["spill_bytes"] = spill.bytes
    finally:
        if spill is not None:
            spill.close()
    LAST_STATS.clear()
    LAST_STATS.update(stats, ambiguous=int(sum(a[0].size for a in amb.values())), ambiguous_levels=sorted(amb))
    cum = np.cumsum(hist[:, :-1], axis=1)  # sorted sources x sorted radii
    out = np.empty((s_n, rs.size), np.int64)
    out[np.ix_(order, order_r)] = cum  # original source and radius order
    return out


def _tile_weights(rect: np.ndarray, cols: int, isa: int, dt: np.dtype) -> np.ndarray:
    """A rectangle of a block as the micro-kernel reads it: contiguous column panels (one
    copy), or row-major without the micro-kernel."""
    from mfa_engine.kernels import cpu_minplus

    if isa:
        return cpu_minplus.panels_into(rect, cols, np.empty(rect.size, dt))
    return np.ascontiguousarray(rect).ravel()


def _largest_block(sizes: list[int]) -> int:
    """Cells of the largest block."""
    return max((a * b for a, b in zip(sizes[:-1], sizes[1:])), default=0)


def _columns_of(block_at: Callable[[int], np.ndarray], sizes: list[int]) -> Callable[[int, np.ndarray], np.ndarray]:
    """``columns_at`` from ``block_at``: the whole float64 block, checked, then its columns."""

    def columns(lv: int, cols: np.ndarray) -> np.ndarray:
        w = np.asarray(block_at(lv))
        if w.shape != (sizes[lv], sizes[lv + 1]):
            raise ValueError(f"block_at({lv}) gave shape {w.shape}, expected ({sizes[lv]}, {sizes[lv + 1]})")
        return w[:, cols]

    return columns


def _count_rows(d: np.ndarray, rs: np.ndarray, hist: np.ndarray) -> None:
    """Add each row's bucket counts (bucket k: first radius >= d) to ``hist``'s rows."""
    active = d.shape[0]
    k = np.searchsorted(rs, d, side="left")
    k[~np.isfinite(d)] = rs.size
    flat = (k + (np.arange(active, dtype=np.int64) * (rs.size + 1))[:, None]).ravel()
    hist[:active] += np.bincount(flat, minlength=active * (rs.size + 1)).reshape(active, rs.size + 1)


def _place_sources(panel: np.ndarray, src_s: np.ndarray, lvl_s: np.ndarray, off: np.ndarray, level: int) -> None:
    """Distance 0 for the sources of level ``level`` in their own rows of the panel."""
    idx = np.flatnonzero(lvl_s == level)
    panel[idx, src_s[idx] - off[level]] = 0.0
