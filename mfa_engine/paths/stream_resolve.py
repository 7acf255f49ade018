"""Exact counts for the float32 streamed pass: spilled panels and a backward/forward resolution.

The float32 streamed pass (:func:`mfa_engine.paths.stream.stream_counts` with ``block_at``)
buckets every float32 distance and lists the ambiguous entries (within their rounding bound of
a radius, :func:`mfa_engine.kernels.stream_resolve.bucket_panel`); it writes each level's
thresholded panel rows to a temporary file (:class:`PanelSpill`, plain positioned writes: a
memory map's pages would count as resident memory). :func:`resolve_counts` then makes the
counts exact without re-running any source:

1. Backward over the levels, deepest first (the float64 block, or only its marked columns,
   read once per level that has marks): the marks of level ``l + 1`` (its ambiguous entries
   and the predecessors marked from level ``l + 2``) select their possible predecessors at
   level ``l`` with the in-memory
   resolution's test (:data:`mfa_engine.kernels.cpu_minplus._PRED_MARGIN`), reading the
   source's spilled row of level ``l``; the selected (source, predecessor) entries become marks
   of level ``l`` and the edges are kept with their float64 weights. A mark one level below
   its source has the source itself as its only predecessor (``d64 = w64(s, v)``).
2. Forward in level order over the kept edges: the float64 distances of every mark, by the
   additions float64 Dijkstra makes (``d(p) + w(p, v)``, minimum over the kept predecessors;
   a predecessor left out has a float32 candidate above the margin, so its float64 candidate is
   above the float64 distance).
3. Each ambiguous entry's count moves from its float32 bucket to its float64 bucket.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["PanelSpill", "resolve_counts"]


#: Write each level out (``fdatasync``) and drop the file's pages before the next level is
#: written, so the page cache reuses warm pages: on a VM whose free memory is returned to the
#: host, fresh page-cache pages cost a host fault each (whole 2.8B model: spill 3.1-3.3 CPU-s
#: without, 0.7-0.8 with; the resolution then reads its rows from disk, +0.7-1.0 s).
RECYCLE = True


class PanelSpill:
    """Per-level float32 panel rows in an unlinked temporary file (deleted on :meth:`close`,
    and by the OS if the process dies).

    Args:
        directory: Where the file goes (default: :func:`tempfile.gettempdir`).
    """

    def __init__(self, directory: str | None = None) -> None:
        self._f = tempfile.TemporaryFile(prefix="mfa-stream-", dir=directory, buffering=0)
        self._fd = self._f.fileno()
        self._pos = 0
        self._where: dict[int, tuple[int, int, int]] = {}  # level -> (offset, rows, width)
        self.bytes = 0

    def write(self, level: int, panel: np.ndarray) -> None:
        """Append the rows ``panel`` (float32 [A, n], C-contiguous) of level ``level``."""
        mv = memoryview(np.ascontiguousarray(panel, np.float32)).cast("B")
        done = 0
        while done < len(mv):
            done += os.pwrite(self._fd, mv[done:], self._pos + done)
        self._where[level] = (self._pos, panel.shape[0], panel.shape[1])
        advise = getattr(os, "posix_fadvise", None)
        if RECYCLE and self._pos and advise is not None:  # written out and dropped: its pages serve the next writes
            os.fdatasync(self._fd)
            advise(self._fd, 0, self._pos, os.POSIX_FADV_DONTNEED)
        self._pos += len(mv)
        self.bytes = self._pos

    def read_rows(self, level: int, rows: np.ndarray) -> np.ndarray:
        """float32 [len(rows), n] rows of level ``level`` (ascending rows below the rows
        written; runs of consecutive rows are read with one positioned read)."""
        off, n_rows, n = self._where[level]
        r = np.asarray(rows, np.int64)
        out = np.empty((r.size, n), np.float32)
        if r.size == 0:
            return out
        if r[0] < 0 or r[-1] >= n_rows or (r.size > 1 and not bool(np.all(np.diff(r) > 0))):
            raise IndexError(f"spilled panel of level {level} has {n_rows} rows; asked for rows {r.tolist()[:8]}...")
        brk = np.flatnonzero(np.diff(r) != 1) + 1
        starts = np.concatenate([[0], brk]).tolist()
        ends = np.concatenate([brk, [r.size]]).tolist()
        for a, b in zip(starts, ends):
            mv = memoryview(out[a:b]).cast("B")
            pos = off + int(r[a]) * n * 4
            got = 0
            while got < len(mv):
                m = os.preadv(self._fd, [mv[got:]], pos + got)
                if m <= 0:
                    raise OSError(f"short read of the spilled panel of level {level}")
                got += m
        return out

    def close(self) -> None:
        """Delete the file."""
        self._f.close()


def _unique_rows_cols(rows: np.ndarray, cols: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keys = np.unique(rows * width + cols)
    return keys, keys // width, keys % width


def resolve_counts(
    sizes: list[int], amb: dict[int, tuple[np.ndarray, ...]], spill: PanelSpill,
    columns: Callable[[int, np.ndarray], np.ndarray], src_pos: np.ndarray, src_lvl: np.ndarray, radii: np.ndarray,
    hist: np.ndarray, thr: np.float32, eps: float, stats: dict[str, Any],
    progress: Callable[[str, int, int], None] | None = None,
) -> None:
    """Move each ambiguous entry's count to the bucket of its float64 distance (in place).

    Args:
        sizes: Level sizes.
        amb: level b -> (row, column, float32 bucket, float32 distance) of its ambiguous
            entries (rows index the level-sorted sources).
        spill: The thresholded float32 panels of levels 1 .. L - 1.
        columns: ``(level, cols) -> float64 [n_l, len(cols)]`` distances of those target
            columns of the block (called once per level that has marks, deepest first).
        src_pos: int64 [S] each sorted source's position in its level. src_lvl: int64 [S].
        radii: float64 [R] ascending.
        hist: int64 [S, R + 1] bucket counts of the sorted sources (updated).
        thr: float32 cutoff of the pass. eps: 2**-24.
        stats: Receives ``resolved``, ``moved`` (entries whose bucket changed), ``marks``,
            ``edges``, ``mark_levels`` (levels holding marks), ``resolve_cpu_s``,
            ``block_at_cpu_s`` (CPU seconds in ``columns``).
        progress: ``callback("resolution", done, total)`` after each level of the backward pass.
    """
    from mfa_engine.kernels.cpu_minplus import _PRED_MARGIN
    from mfa_engine.kernels.stream_resolve import exact_level, scan_preds

    t0 = time.process_time()
    t_blocks = 0.0
    n_lev = len(sizes)
    marks: dict[int, np.ndarray] = {}  # level -> sorted keys row * n_b + col
    edges: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # block l -> (child, parent key, w)
    pending: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # level -> (key, d32) preds
    n_edges = 0
    for lv in range(n_lev - 2, -1, -1):
        if progress is not None:
            progress("resolution", n_lev - 2 - lv, n_lev - 1)
        b = lv + 1
        nb, na = sizes[b], sizes[lv]
        parts_k, parts_d = [], []
        if b in amb:
            r, c, _, d = amb[b]
            parts_k.append(r * nb + c)
            parts_d.append(d)
        if b in pending:
            parts_k.append(pending[b][0])
            parts_d.append(pending[b][1])
        if not parts_k:
            continue
        allk = np.concatenate(parts_k)
        keys, first = np.unique(allk, return_index=True)
        d32 = np.concatenate(parts_d)[first].astype(np.float32)
        marks[b] = keys
        rows, cols = keys // nb, keys % nb
        uv, vk = np.unique(cols, return_inverse=True)
        tb = time.process_time()
        wc = np.asarray(columns(lv, uv), np.float64)  # float64 [n_l, len(uv)]: the marked columns
        t_blocks += time.process_time() - tb
        if wc.shape != (na, uv.size):
            raise ValueError(f"columns of block {lv} have shape {wc.shape}, expected ({na}, {uv.size})")
        at_src = src_lvl[rows] == lv  # one hop below the source: its own weight row
        child = [np.flatnonzero(at_src)]
        parent_key = [np.full(child[0].size, -1, np.int64)]
        wts = [wc[src_pos[rows[at_src]], vk[at_src]]]
        deep = np.flatnonzero(~at_src)
        if deep.size:
            w_t = np.ascontiguousarray(wc.T)
            ur, rk = np.unique(rows[deep], return_inverse=True)
            rows32 = spill.read_rows(lv, ur)
            m, p, w = scan_preds(d32[deep], src_lvl[rows[deep]].astype(np.int64), rk.astype(np.int64), vk[deep].astype(np.int64),
                                 rows32, w_t, b, thr, eps, _PRED_MARGIN)
            pr = rows[deep][m]
            child.append(deep[m])
            parent_key.append(pr * na + p)
            wts.append(w)
            pending[lv] = (pr * na + p, rows32[rk[m], p])
            del w_t, rows32
        del wc
        ch = np.concatenate(child)
        edges[lv] = (ch, np.concatenate(parent_key), np.concatenate(wts))
        n_edges += ch.size
    if progress is not None:
        progress("resolution", n_lev - 1, n_lev - 1)
    exact: dict[int, np.ndarray] = {}
    for lv in sorted(edges):
        b = lv + 1
        ch, pk, w = edges[lv]
        par = np.full(pk.size, -1, np.int64)
        has = pk >= 0
        if has.any():
            par[has] = np.searchsorted(marks[lv], pk[has])
        exact[b] = exact_level(marks[b].size, ch, par, w, exact.get(lv, np.zeros(0)))
    resolved = moved = 0
    for b, (r, c, k32, _) in amb.items():
        if r.size == 0:
            continue
        e = exact[b][np.searchsorted(marks[b], r * sizes[b] + c)]
        k64 = np.searchsorted(radii, e, side="left")
        diff = k64 != k32
        np.add.at(hist, (r[diff], k32[diff]), -1)
        np.add.at(hist, (r[diff], k64[diff]), 1)
        resolved += r.size
        moved += int(diff.sum())
    stats.update(resolved=resolved, moved=moved, marks=int(sum(k.size for k in marks.values())), edges=n_edges,
                 mark_levels=sorted(b for b, k in marks.items() if k.size),
                 resolve_cpu_s=time.process_time() - t0, block_at_cpu_s=t_blocks)
