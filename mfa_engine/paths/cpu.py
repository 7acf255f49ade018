"""CPU backend driver: prepares inputs for the numba kernels in ``mfa_engine.kernels.cpu_*``
(layered DAGs) and ``mfa_engine.kernels.cpu_sssp`` (general graphs).

The DAG path runs in float32 (twice the SIMD width of float64); every (source, target) entry
whose float32 distance lands within the rounding bound of a radius is resolved in float64 inside
the kernel, from the row's float32 distances and the float64 weights of its few possible
predecessors, so counts are exactly those of float64 Dijkstra (SciPy) without re-running any
source (``resolve=False`` gives the earlier scheme: flagged sources re-run in float64).
Sparse level blocks run on their non-empty tiles (:meth:`mfa_engine.paths.dag.DagLevels.tiles`). The general CSR path is a float64 bounded Dijkstra
that touches only each ball.
"""

from __future__ import annotations

import os

import numpy as np
import scipy.sparse as sp

from mfa_engine.paths.csr_kernel_graph import KernelGraph, kernel_graph
from mfa_engine.paths.dag import DagLevels
from mfa_engine.paths.threads import numba_threads

__all__ = ["dag_histogram", "csr_histogram", "group_sources", "choose_dtype", "gamma_for", "minplus_isa"]

_EPS32 = 2.0**-24
#: Most bytes of per-row exact-distance memos (all workers) the resolution keeps for a whole
#: source group (else it keeps them per row and level).
_MEMO_BYTES = 256 << 20
#: Statistics of the last DAG kernel call: entries resolved in place, sources flagged.
LAST_STATS: dict[str, int] = {}


def intmin_enabled() -> bool:
    """Whether the float32 min-plus takes its minima on the bit patterns (integer pipes):
    on unless ``MFA_MINPLUS_INTMIN=0``. Exact for non-negative distances and +inf; numba
    compiles for the host CPU at run time, so the widest vector ISA the host has is used."""

    return os.environ.get("MFA_MINPLUS_INTMIN", "1") != "0"


def minplus_isa() -> int:
    """ISA level of the register-blocked min-plus micro-kernel
    (:func:`mfa_engine.kernels.minplus_tile.isa_level`: the widest the host has, probed at run
    time). ``MFA_MINPLUS_TILE=0`` turns it off (the loop-vectorised kernel, for comparison);
    ``avx2`` / ``avx512`` force a tile shape (512-bit vectors run, split in two, on a host
    without AVX-512: for tests)."""
    from mfa_engine.kernels import minplus_tile

    forced = {"0": 0, "avx2": minplus_tile.ISA_AVX2, "avx512": minplus_tile.ISA_AVX512}
    val = os.environ.get("MFA_MINPLUS_TILE", "")
    return forced[val] if val in forced else minplus_tile.isa_level()

#: Sources per worker at or below which they run in mixed-level groups (the float64 recomputation).
_FEW_SOURCES = 16
#: Most bytes of the workers' distance-row buffers: source groups are cut below SRC_BLOCK (not
#: below 32) on wide DAGs with many threads.
_BUF_BYTES = 512 << 20
#: Above this many bytes of float64 blocks, flagged sources are recomputed one block at a time.
_STREAM_BYTES = 64 << 20


def choose_dtype(levels: DagLevels) -> np.dtype:
    """float32 unless the DAG is deep or its weights leave float32's comfortable range."""
    if levels.n_levels > 64:
        return np.dtype(np.float64)
    small, big = levels.weight_range()
    if big > 1e30 or small < 1e-30:
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def gamma_for(levels: DagLevels, dtype: np.dtype) -> float:
    """Relative error bound of any float32 path distance over this DAG (0 for float64).

    A path has m <= L - 1 edges. Each weight is rounded once to float32 (relative error <= u,
    u = 2**-24) and the m - 1 additions of non-negative terms add at most (m - 1) u (standard
    recursive-summation bound, first order), so the float32 sum is within m u of the exact sum;
    the float64 reference is within (m - 1) 2**-53 of it, and a minimum over paths keeps the
    bound. We use ``(L + 1) u`` (one u of margin for the second-order terms and the reference).
    It sets the propagation cutoff; the CPU kernel flags with the same bound per target level,
    ``(b - a + 2) u`` for a target at level b from a source at level a (paths have at most
    b - a edges), which flags fewer sources.
    """
    if dtype == np.float64:
        return 0.0
    return (levels.n_levels + 1) * _EPS32


def group_sources(level: np.ndarray, block: int, by_level: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Sort sources by level and cut them into groups of at most ``block``.

    Args:
        level: int64 [S] level of each source.
        block: Maximum group size.
        by_level: Also cut at every level change (each group then starts all its rows at its
            own level; mixed groups suit a few sources, e.g. the float64 recomputation).

    Returns:
        (order int64 [S] sorting the sources, grp_start int64 [G + 1]).
    """
    s = level.shape[0]
    order = np.argsort(level, kind="stable").astype(np.int64)
    lv = level[order]
    if s == 0:
        return order, np.zeros(1, np.int64)
    if not by_level:
        return order, np.append(np.arange(0, s, block), s).astype(np.int64)
    new_run = np.ones(s, bool)
    new_run[1:] = lv[1:] != lv[:-1]
    run_start = np.maximum.accumulate(np.where(new_run, np.arange(s), 0))
    rank = np.arange(s) - run_start
    starts = np.flatnonzero(new_run | (rank % block == 0))
    return order, np.append(starts, s).astype(np.int64)


#: Cost of bucketing one new distance, in relaxations (measured: about 3 ns against 0.06 ns).
_BUCKET_COST = 50.0


def _schedule(levels: DagLevels, lvl_sorted: np.ndarray, grp: np.ndarray) -> np.ndarray:
    """Order in which the workers take source groups: largest estimated work first (the
    longest-processing-time rule of list scheduling, which the kernel's work queue follows).

    Work of a group at level l = its size x (the area of the blocks leaving levels above l, plus
    :data:`_BUCKET_COST` per node at levels >= l). Blocks leaving level l itself are nearly free:
    only the weight rows of the group's own sources are finite there, and the kernel skips
    all-+inf reduction steps.

    Returns:
        grp_order int64 [G].
    """
    sizes = np.diff(levels.lvl_off)
    nlev = levels.n_levels
    down = np.zeros(nlev + 1)
    for a, b in levels.pairs:
        down[:a] += float(sizes[a] * sizes[b])  # full blocks for sources at levels < a
    down[:nlev] += _BUCKET_COST * np.cumsum(sizes[::-1])[::-1]  # nodes at levels >= l
    work = np.diff(grp) * down[lvl_sorted[grp[:-1]]] if grp.size > 1 else np.zeros(0)
    return np.argsort(-work, kind="stable").astype(np.int64)


def _run_dag(levels, pos, radii_sorted, dtype, thr, want_dist, resolve_ok=True):
    """One pass of the fused min-plus kernel (float32 with ambiguity flags, or exact float64).

    Many sources run in groups of one level; a few (the float64 recomputation) run in mixed
    groups spread over all workers, so each group reuses every weight tile it streams.

    The float32 pass resolves its ambiguous (source, target) entries exactly inside the kernel
    (``resolve_ok``; :func:`mfa_engine.kernels.cpu_resolve._resolve_entry`), so no source is
    flagged for a float64 re-run; ``resolve_ok=False`` gives the earlier flag-and-re-run scheme
    (kept for comparison).

    Returns:
        (hist int64 [S, R + 1], flags bool [S], dist float32 [S, N] in level order or None).
    """
    from mfa_engine.kernels import cpu_buckets, cpu_minplus
    from mfa_engine.kernels.minplus_tile import tile_cols

    s_n = pos.shape[0]
    nthreads = numba_threads()
    lvl = levels.level_of_position(pos).astype(np.int64)
    few = s_n <= nthreads * _FEW_SOURCES
    # groups of SRC_BLOCK sources, fewer where the workers' row buffers would pass _BUF_BYTES
    cap = _BUF_BYTES // max(1, nthreads * levels.n_nodes * dtype.itemsize)
    block = -(-s_n // nthreads) if few else int(min(cpu_minplus.SRC_BLOCK, max(32, cap // 4 * 4)))
    order, grp = group_sources(lvl, block, by_level=not few)
    eps = _EPS32 if dtype == np.float32 else 0.0
    tiles = levels.tiles(dtype)
    flat = tiles.flat
    lvl_sorted = lvl[order]
    grp_order = _schedule(levels, lvl_sorted, grp)
    workers = max(1, min(nthreads, grp_order.size))
    hist = np.zeros((s_n, radii_sorted.shape[0] + 1), np.int64)
    flags = np.zeros(s_n, np.bool_)
    dist = np.full((s_n, levels.n_nodes), np.inf, np.float32) if want_dist else np.zeros((0, 0), np.float32)
    maxb = int(np.diff(grp).max(initial=0))
    # resolving reads float64 weights: blocks gathered from a large CSR are not converted to
    # float64 only for that (the flagged sources then stream their float64 blocks instead)
    resolve = dtype == np.float32 and resolve_ok and (
        levels._blocks is not None or "float64" in levels._packed or flat.size * 8 <= _STREAM_BYTES
    )
    w64 = levels.tiles(np.float64).flat if resolve else np.zeros(0)
    w_t = levels.tiles_transposed(dtype) if resolve else np.zeros(0, dtype)
    resolved = np.zeros(workers, np.int64)
    isa = minplus_isa()
    targs = tiles.args()
    if isa:  # the micro-kernel reads its weights as contiguous column panels
        targs = (levels.tiles_panels(dtype, tile_cols(isa, dtype.itemsize)),) + tuple(targs[1:])
    thr_k = dtype.type(min(thr, float(np.finfo(dtype).max)))
    # every row's rounding bound is at most (L + 1) eps (a target at most L - 1 levels below)
    cells = cpu_buckets.cell_table(radii_sorted, dtype, (levels.n_levels + 1) * eps, float(thr_k))
    cpu_minplus.dag_minplus_counts(
        *targs, levels.lvl_off, pos[order], lvl_sorted, grp,
        radii_sorted, cpu_buckets.padded_radii(radii_sorted), cpu_buckets.radius_table(radii_sorted, dtype),
        *cpu_minplus.row_buffers(workers, maxb * levels.n_nodes, dtype),
        eps, thr_k, dtype.type(np.inf), dtype.type(0.0),
        hist, flags, dist, bool(want_dist),
        grp_order, np.zeros(1, np.int64), w64, bool(resolve), bool(intmin_enabled()), resolved,
        bool(workers * maxb * levels.n_nodes * 16 <= _MEMO_BYTES), w_t, *cells, isa, bool(isa),
    )  # fmt: skip
    LAST_STATS["resolved"] = int(resolved.sum())
    LAST_STATS["flagged"] = int(flags.sum())
    inv = np.empty_like(order)
    inv[order] = np.arange(s_n, dtype=np.int64)
    return hist[inv], flags[inv], (dist[inv] if want_dist else None)


def dag_histogram(
    levels: DagLevels,
    sources: np.ndarray,
    radii_sorted: np.ndarray,
    *,
    want_dist: bool = False,
    exact: bool = False,
    resolve: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Histogram of distances over a radius grid (and optionally the distances) on a DAG.

    Args:
        levels: DAG levels and blocks.
        sources: int64 [S] original node ids.
        radii_sorted: float64 [R] ascending; distances above ``radii_sorted[-1]`` are cut off.
        want_dist: Also return the distances.
        exact: Compute in float64 from the start (no float32 pass).
        resolve: Resolve the float32 pass's ambiguous entries in place (default); False
            re-runs every flagged source in float64 (the earlier scheme, for comparison).

    Returns:
        (hist int64 [S, R + 1] with bucket k = first radius >= d, dist float32 [S, N] in the
        original node numbering or None).
    """
    pos = sources if levels.inv is None else levels.inv[sources]
    pos = np.ascontiguousarray(pos, dtype=np.int64)
    rmax = float(radii_sorted[-1]) if radii_sorted.size else -np.inf
    dtype = np.dtype(np.float64) if exact else choose_dtype(levels)
    gamma = gamma_for(levels, dtype)
    thr = rmax * (1.0 + gamma) if rmax > 0 else rmax
    if dtype == np.float32 and np.isfinite(thr):
        with np.errstate(over="ignore"):  # a cutoff beyond float32's range: +inf (then its largest value)
            thr = float(np.nextafter(np.float32(thr), np.float32(np.inf)))
    hist, flags, dist = _run_dag(levels, pos, radii_sorted, dtype, thr, want_dist, resolve)
    stats = dict(LAST_STATS)
    redo = np.flatnonzero(flags)
    if redo.size:  # exact float64 recomputation of the flagged sources
        big = levels.packed(np.float32)[0].size * 8 > _STREAM_BYTES
        if big and levels.csr is not None and levels._blocks is None and "float64" not in levels._packed:
            h64, d64 = _stream64(levels, pos[redo], radii_sorted, rmax, want_dist)
        else:
            h64, _, d64 = _run_dag(levels, pos[redo], radii_sorted, np.dtype(np.float64), rmax, want_dist)
        hist[redo] = h64
        if want_dist:
            dist[redo] = d64
        LAST_STATS.update(stats)  # the first pass's numbers
    if want_dist and levels.perm is not None:
        out = np.empty_like(dist)
        out[:, levels.perm] = dist
        dist = out
    return hist, dist


def _stream64(levels: DagLevels, pos: np.ndarray, radii_sorted: np.ndarray, cutoff: float, want_dist: bool):
    """Exact float64 rows for a few sources, gathering one dense float64 block at a time.

    Used for the sources the float32 pass flags when the DAG came from a CSR matrix: only one
    block's worth of float64 weights is materialised (fresh memory is expensive), and the
    min-plus products run on the same cache-blocked kernel, in parallel over row chunks.

    Args:
        levels: DAG levels built from a CSR matrix.
        pos: int64 [k] level-order positions of the sources.
        radii_sorted: float64 [R] ascending. cutoff: inclusive cutoff (radii_sorted[-1]).
        want_dist: Also return float32 [k, N] distances (level order).

    Returns:
        (hist int64 [k, R + 1], distances or None).
    """
    from mfa_engine.kernels import cpu_levels, cpu_minplus
    from mfa_engine.kernels.minplus_tile import tile_cols

    m = levels.csr
    n, k = levels.n_nodes, pos.size
    level, lpos, _ = levels._gather
    nodes = levels.perm if levels.perm is not None else np.arange(n, dtype=np.int64)
    sizes = np.diff(levels.lvl_off)
    buf = np.full(k * n, np.inf)
    rows = buf.reshape(k, n)
    if cutoff >= 0:
        rows[np.arange(k), pos] = 0.0
    wbuf = np.empty(max([int(sizes[a] * sizes[b]) for a, b in levels.pairs] + [1]))
    chunk = max(1, -(-k // max(1, numba_threads())))
    isa = minplus_isa()
    cols = tile_cols(isa, 8)
    for q, (a, b) in enumerate(levels.pairs):
        na, nb = int(sizes[a]), int(sizes[b])
        w = wbuf[: na * nb]
        w.fill(np.inf)
        a0, c0 = int(levels.lvl_off[a]), int(levels.lvl_off[b])
        cpu_levels.gather_level_block(m.indptr, m.indices, m.data, nodes[a0 : a0 + na], level, lpos, b, nb, w)
        if isa:  # the micro-kernel reads contiguous column panels
            w = cpu_minplus.panel_layout(w, np.zeros(1, np.int64), np.array([na]), np.array([nb]), cols)
        cpu_minplus.minplus_rows(buf, k, n, a0, na, w, c0, nb, float(cutoff), np.inf, 0.0, chunk, isa, False, bool(isa))
        if q + 1 == len(levels.pairs) or levels.pairs[q + 1][1] != b:
            block = rows[:, c0 : c0 + nb]
            block[block > cutoff] = np.inf
    bucket = np.searchsorted(radii_sorted, rows, side="left")
    bucket[~np.isfinite(rows) | (rows > cutoff)] = radii_sorted.size
    r1 = radii_sorted.size + 1
    flat = (bucket + (np.arange(k, dtype=np.int64) * r1)[:, None]).ravel()
    hist = np.bincount(flat, minlength=k * r1).reshape(k, r1).astype(np.int64)
    dist = np.where(rows > cutoff, np.inf, rows).astype(np.float32) if want_dist else None
    return hist, dist


def csr_histogram(
    m: sp.csr_array, sources: np.ndarray, radii_sorted: np.ndarray, cutoff: float, *, want_dist: bool = False,
    kg: KernelGraph | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Bounded Dijkstra histogram (and optionally distances) on a directed CSR graph.

    Runs :func:`mfa_engine.kernels.cpu_sssp.ball_histogram` (float64, exact): a bucket queue
    when every edge is positive and the cutoff spans at most ``DIAL_MAX_BUCKETS`` of the
    shortest edge, else a 4-ary heap. The kernel arrays (large graphs renumbered breadth-first so
    that each ball occupies few cache lines) come from ``kg``, or are built for this call
    (:func:`mfa_engine.paths.csr_kernel_graph.kernel_graph`).

    Args:
        m: Canonical float64 CSR [N, N] (for undirected graphs: already symmetrised).
        sources: int64 [S].
        radii_sorted: float64 [R] ascending.
        cutoff: Inclusive cutoff (>= radii_sorted[-1] when counting).
        want_dist: Also return float32 [S, N] distances.
        kg: The kernel arrays of ``m`` when already built (a prepared graph keeps them).

    Returns:
        (hist int64 [S, R + 1], dist float32 [S, N] or None).
    """
    from mfa_engine.kernels import cpu_sssp

    s_n, n = sources.shape[0], m.shape[0]
    hist = np.zeros((s_n, radii_sorted.shape[0] + 1), np.int64)
    dist = np.full((s_n, n), np.inf, np.float32) if want_dist else np.zeros((0, 0), np.float32)
    if not s_n:
        return hist, (dist if want_dist else None)
    if kg is None:
        kg = kernel_graph(m)
    src = np.ascontiguousarray(sources, np.int64)
    if kg.inv is not None:
        src = kg.inv[src]
    # sources in id order: consecutive searches of a worker touch nearby parts of the graph
    by_id = np.argsort(src, kind="stable")
    src = src[by_id]
    workers = max(1, min(numba_threads(), s_n))
    inv_delta = cpu_sssp.dial_width_from(kg.min_weight, float(cutoff))
    out = np.zeros_like(hist)
    cpu_sssp.ball_histogram(
        kg.indptr, kg.indices, kg.data, src, radii_sorted, float(cutoff), workers, out, dist, bool(want_dist), inv_delta
    )
    hist[by_id] = out
    if want_dist:
        dist[by_id] = dist.copy()
        if kg.inv is not None:
            dist = dist[:, kg.inv]
    return hist, (dist if want_dist else None)
