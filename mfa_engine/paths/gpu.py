"""GPU backends (Triton, CuPy): drive the kernels over source batches; exact on the device.

DAG path: sources of all levels in one batch (sorted by level) over a padded node-major
``[nodes, sources]`` buffer; one register-tiled min-plus launch per block (a, b), on the prefix
of sources at levels <= a, with fused counting after the last block into b. The float32 pass
flags sources whose distances land within the per-level rounding bound of a radius; those are
recomputed with the float64 variant of the same kernel on the device, so counts match float64
Dijkstra. General path: exact float64 frontier relaxation (64-bit atomic min on the bit
pattern, only the out-edges of improved nodes, a host check every few rounds), then fused
counting. Nothing is sent to the CPU paths. See docs/gpu.md.

Under ``TRITON_INTERPRET=1`` (no GPU) the Triton kernels run on CPU torch tensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mfa_engine.paths.cpu import gamma_for
from mfa_engine.paths.dag import DagLevels

__all__ = ["histogram", "needs_float64", "batch_sources", "launch_waves", "device_budget", "device_sms",
           "last_stats"]

_EPS32 = 2.0**-24
#: Sources per program of the CSR relaxation, and rounds between two checks of ``changed``.
_CSR_BLOCK_S = 32
_CHECK_EVERY = 4
#: Level and source padding of the node-major layout: a multiple of every kernel tile (128).
_PAD = 128
#: The float32 pass runs only when every positive weight and every positive finite radius lies
#: in [_F32_LO, _F32_HI] (float32 normal numbers with a wide margin: no subnormal, no overflow
#: of a path sum, relative rounding bounds hold); otherwise the whole DAG runs in float64.
_F32_LO = 2.0**-100
_F32_HI = 2.0**100
#: Fraction of the free device memory a pass may use (blocks + distance buffer + histogram).
_MEM_FRACTION = 0.6
#: Device-memory budget in bytes when there is no CUDA device (the interpreter runs on CPU).
_HOST_BUDGET = 1 << 28
#: Blocks stay resident when they take at most this share of the budget (the rest holds the
#: distance buffer of a batch); else they are streamed level by level.
_RESIDENT_SHARE = 0.75
#: CTA waves a launch should fill at least (model: docs/gpu.md, "Launch shape").
_MIN_WAVES = 2

#: Statistics of the last DAG run on this process (device scripts read them).
last_stats: dict[str, Any] = {}


def _device() -> Any:
    import torch

    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def _arch_major() -> int:
    import torch

    return torch.cuda.get_device_capability()[0] if torch.cuda.is_available() else 9


def device_budget(dev: Any) -> int:
    """Bytes a pass may allocate on ``dev``: :data:`_MEM_FRACTION` of the free memory (CUDA), or
    :data:`_HOST_BUDGET` (CPU tensors under the interpreter)."""
    import torch

    if dev.type == "cuda":
        free, _total = torch.cuda.mem_get_info(dev)
        return int(free * _MEM_FRACTION)
    return _HOST_BUDGET


def device_sms(dev: Any) -> int:
    """Streaming multiprocessors of ``dev`` (132 for the model when there is no device)."""
    import torch

    return int(torch.cuda.get_device_properties(dev).multi_processor_count) if dev.type == "cuda" else 132


def needs_float64(levels: DagLevels, radii: np.ndarray) -> bool:
    """True when float32 cannot be trusted on this input: a positive weight or a positive finite
    radius outside ``[2^-100, 2^100]`` (subnormals, float32 overflow, or values whose float32
    rounding is not a small relative error). Such inputs run in float64 from the start."""
    small, big = levels.weight_range()
    if (np.isfinite(small) and small < _F32_LO) or big > _F32_HI:
        return True
    r = radii[np.isfinite(radii) & (radii > 0)]
    return bool(r.size) and (float(r.min()) < _F32_LO or float(r.max()) > _F32_HI)


def _thr32(x: float) -> float:
    """The smallest float32 >= x (the kernels' cutoff is a float32 argument; rounding it down
    would cut off distances in (thr32, x])."""
    if not np.isfinite(x):
        return x
    if x > float(np.finfo(np.float32).max):
        return float("inf")
    f = np.float32(x)
    return float(np.nextafter(f, np.float32(np.inf))) if float(f) < x else float(f)


class _DagPlan:
    """Padded node-major layout of a DAG on the device (one per dtype and device).

    Level l occupies rows ``[poff[l], poff[l] + size_l)`` of a ``[Np, B]`` distance buffer,
    ``poff[l]`` a multiple of :data:`_PAD`; each block (a, b) is a +inf-padded ``[Ka_pad, Jb_pad]``
    tensor. Padding rows are +inf and never counted. When the blocks fit the device budget they
    are uploaded once and the plan is kept with the DAG (``resident``: later calls on the same
    prepared graph upload nothing); otherwise each target level's blocks are uploaded just
    before its steps and freed after them (streamed level by level).
    """

    def __init__(self, levels: DagLevels, dtype: Any, dev: Any, budget: int) -> None:
        import torch

        sizes = np.diff(levels.lvl_off).astype(np.int64)
        self.levels, self.dtype, self.dev = levels, dtype, dev
        self.sizes = sizes
        self.psize = -(-sizes // _PAD) * _PAD
        self.poff = np.zeros(sizes.size + 1, np.int64)
        self.poff[1:] = np.cumsum(self.psize)
        self.itemsize = torch.empty((), dtype=dtype).element_size()
        self._src: dict[int, list[tuple[int, np.ndarray]]] = {}
        for a, b, blk in levels.blocks:
            self._src.setdefault(int(b), []).append((int(a), blk))
        self.block_bytes = int(sum(self.psize[a] * self.psize[b] for b, lst in self._src.items() for a, _ in lst))
        self.block_bytes *= self.itemsize
        self.resident = self.block_bytes <= int(budget * _RESIDENT_SHARE)
        self._up: dict[int, list[tuple[int, Any]]] = {}
        if self.resident:
            self._up = {b: [(a, self._upload(a, b, blk)) for a, blk in lst] for b, lst in self._src.items()}
        self.uploads = 0

    def _upload(self, a: int, b: int, blk: np.ndarray) -> Any:
        import torch

        w = torch.full((int(self.psize[a]), int(self.psize[b])), float("inf"), dtype=self.dtype, device=self.dev)
        w[: blk.shape[0], : blk.shape[1]] = torch.as_tensor(blk, dtype=self.dtype, device=self.dev)
        return w

    def incoming(self, b: int, live: np.ndarray) -> list[tuple[int, Any]]:
        """(a, block tensor) of the blocks into level b from levels a with ``live[a]`` sources."""
        if self.resident:
            return [(a, w) for a, w in self._up.get(b, []) if live[a]]
        out = [(a, self._upload(a, b, blk)) for a, blk in self._src.get(b, []) if live[a]]
        self.uploads += len(out)
        return out

    def rows(self, pos: np.ndarray, lvl: np.ndarray, lvl_off: np.ndarray) -> np.ndarray:
        """Padded row of each level-order position."""
        return self.poff[lvl] + (pos - lvl_off[lvl])

    def max_block_bytes(self) -> int:
        """Bytes of the largest target level's incoming blocks (what streaming holds at once)."""
        per = [sum(int(self.psize[a] * self.psize[b]) for a, _ in lst) for b, lst in self._src.items()]
        return max(per, default=0) * self.itemsize


def _plan(levels: DagLevels, dtype: Any, dev: Any, budget: int) -> _DagPlan:
    """The plan of ``levels`` for ``dtype`` on ``dev``, kept with the DAG while it is resident."""
    key = ("gpu-plan", str(dtype), str(dev))
    plan = levels._packed.get(key)
    if plan is None:
        plan = _DagPlan(levels, dtype, dev, budget)
        others = [k for k in levels._packed if isinstance(k, tuple) and k[0] == "gpu-plan" and k[2] == str(dev)]
        if not plan.resident and others:  # make room: the other dtype's blocks leave the device
            for k in others:
                del levels._packed[k]
            if dev.type == "cuda":
                import torch

                torch.cuda.empty_cache()
            plan = _DagPlan(levels, dtype, dev, device_budget(dev) if dev.type == "cuda" else budget)
        if plan.resident:
            levels._packed[key] = plan
    return plan


def batch_sources(n_p: int, s_n: int, itemsize: int, free_bytes: int, r_n: int) -> int:
    """Sources per batch: as many as the memory left after the blocks holds (distance buffer
    ``[Np, B]`` of ``itemsize`` plus the int32 histogram ``[B, R + 1]``), a multiple of
    :data:`_PAD`, never more than the padded source count, at least one tile."""
    per_source = n_p * itemsize + (r_n + 1) * 4 + 8
    cap = max(_PAD, (free_bytes // max(per_source, 1)) // _PAD * _PAD)
    return int(min(cap, -(-max(s_n, 1) // _PAD) * _PAD))


def launch_waves(j_tiles: np.ndarray, batch: int, sms: int, ctas_per_sm: int) -> np.ndarray:
    """CTA waves of each step (``j_tiles`` [steps] output tiles of the target level) on a device
    with ``sms`` SMs holding ``ctas_per_sm`` CTAs each, for a batch of ``batch`` sources."""
    ctas = np.asarray(j_tiles, np.int64) * -(-batch // _PAD)
    return ctas / float(sms * ctas_per_sm)


def _dag_pass(levels, pos, lvl, radii, backend, dtype, thr, with_flags, want_dist):
    """One device pass over sources sorted by level (float32 with flags, or exact float64).

    Sources of all levels share one batch (M large); the step of block (a, b) runs only on the
    prefix of sources at levels <= a (the other columns are +inf there: all-inf tiles skipped).
    The first block into a level overwrites it (those columns are still +inf), later ones take
    the minimum; the last finalises (cutoff) and counts.

    Returns:
        (hist int64 [S, R + 1], flags bool [S], dist [S, N] in level order or None).
    """
    import torch

    dev = _device()
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    plan = _plan(levels, tdt, dev, device_budget(dev))
    s_n, r_n, n_p = pos.size, radii.size, int(plan.poff[-1])
    hist = np.zeros((s_n, r_n + 1), np.int64)
    flags = np.zeros(s_n, bool)
    dist = np.full((s_n, levels.n_nodes), np.inf, np.float32) if want_dist else None
    radii_t = torch.as_tensor(radii, dtype=tdt, device=dev)
    prow = plan.rows(pos, lvl, levels.lvl_off)
    b0 = int(np.searchsorted(radii, 0.0, side="left"))  # bucket of the source itself (d = 0)
    # memory left for the batch: the free memory after a resident upload (CUDA), less the
    # blocks a streamed level holds at once; on CPU tensors a fixed budget less what is held
    held = 0 if plan.resident else plan.max_block_bytes()
    if dev.type != "cuda" and plan.resident:
        held = plan.block_bytes
    left = max(device_budget(dev) - held, 0) if dev.type == "cuda" else max(_HOST_BUDGET - held, 0)
    batch = batch_sources(n_p, s_n, plan.itemsize, left, r_n)
    launch = _launcher(backend, dtype)
    real = torch.as_tensor(plan.rows(np.arange(levels.n_nodes), levels.level_of_position(np.arange(levels.n_nodes)),
                                     levels.lvl_off), device=dev)  # fmt: skip
    n_batches = 0
    for start in range(0, s_n, batch):
        n_batches += 1
        sl = slice(start, min(start + batch, s_n))
        b_n = sl.stop - sl.start
        b_p = -(-b_n // _PAD) * _PAD
        buf = torch.full((n_p, b_p), float("inf"), dtype=tdt, device=dev)
        cols = torch.arange(b_n, device=dev)
        if thr >= 0:
            buf[torch.as_tensor(prow[sl], device=dev), cols] = 0.0
            if b0 < r_n:
                hist[sl, b0] += 1
        h_t = torch.zeros((b_p, r_n + 1), dtype=torch.int32, device=dev)
        f_t = torch.zeros(b_p, dtype=torch.int8, device=dev)
        g_t = torch.zeros(b_p, dtype=torch.float32, device=dev)
        g_t[:b_n] = torch.as_tensor(lvl[sl] * _EPS32, dtype=torch.float32, device=dev)
        upto = np.searchsorted(lvl[sl], np.arange(levels.n_levels), side="right")  # sources at levels <= a
        for b in range(1, levels.n_levels):
            incoming = plan.incoming(b, upto > 0)
            out = buf[plan.poff[b] : plan.poff[b + 1]]
            for i, (a, w) in enumerate(incoming):
                last = i == len(incoming) - 1
                launch(
                    buf[plan.poff[a] : plan.poff[a + 1]], w, out, int(upto[a]), int(plan.psize[b]),
                    thr=thr, accumulate=i > 0, finalize=last, hist=h_t if last else None,
                    flags=f_t if (last and with_flags) else None, gsrc=g_t, radii=radii_t,
                    gamma=(b + 2) * _EPS32,
                )  # fmt: skip
            del incoming
        hist[sl] += h_t[:b_n].cpu().numpy()
        flags[sl] = f_t[:b_n].cpu().numpy() != 0
        if want_dist:
            dist[sl] = buf[real, :b_n].T.to(torch.float32).cpu().numpy()
    j_tiles = plan.psize[1:] // _PAD
    waves = launch_waves(j_tiles, min(batch, -(-s_n // _PAD) * _PAD), device_sms(dev), 2) if j_tiles.size else [0.0]
    last_stats.setdefault("passes", []).append(
        {"dtype": np.dtype(dtype).name, "sources": int(s_n), "batch": int(batch), "batches": n_batches,
         "resident": bool(plan.resident), "block_bytes": int(plan.block_bytes), "stream_uploads": int(plan.uploads),
         "waves_min": float(np.min(waves)), "waves_max": float(np.max(waves)),
         "fills_device": bool(np.min(waves) >= _MIN_WAVES)}
    )  # fmt: skip
    return hist, flags, dist


def _launcher(backend: str, dtype: Any):
    """``launch(d, w, out, s_n, j_n, **kw)`` on aligned tensors for the backend."""
    if backend == "triton":
        from mfa_engine.kernels.layered_minplus import launch_aligned, tile_config

        cfg = tile_config(_arch_major(), dtype == np.float64)
        return lambda *a, **kw: launch_aligned(*a, cfg=cfg, **kw)
    from mfa_engine.kernels.cupy_paths import layered_minplus_aligned

    return layered_minplus_aligned


def _dag(levels: DagLevels, src: np.ndarray, radii: np.ndarray, backend: str, want_dist: bool):
    """float32 pass with per-level rounding flags, then the flagged sources exactly in float64
    on the device; inputs outside float32's safe range (:func:`needs_float64`) run in float64
    from the start. Returns (hist int64 [S, R + 1], dist float32 [S, N] or None)."""
    s_n = src.size
    rmax = float(radii[-1])
    pos = src if levels.inv is None else levels.inv[src]
    lvl = levels.level_of_position(pos).astype(np.int64)
    order = np.argsort(lvl, kind="stable")
    hist = np.zeros((s_n, radii.size + 1), np.int64)
    dist = np.full((s_n, levels.n_nodes), np.inf, np.float32) if want_dist else None
    last_stats.clear()
    all64 = needs_float64(levels, radii)
    last_stats.update(sources=int(s_n), float64_only=bool(all64))
    if all64:
        redo = order
    else:
        gamma = gamma_for(levels, np.dtype(np.float32))
        thr = _thr32(rmax * (1.0 + gamma)) if rmax > 0 else rmax
        h, f, d = _dag_pass(levels, pos[order], lvl[order], radii, backend, np.float32, thr, True, want_dist)
        hist[order] = h
        if want_dist:
            dist[order] = d
        redo = order[f]
    last_stats["flagged"] = int(redo.size)
    if redo.size:  # exact computation on the device, float64 end to end
        o2 = np.argsort(lvl[redo], kind="stable")
        redo = redo[o2]
        h64, _, d64 = _dag_pass(levels, pos[redo], lvl[redo], radii, backend, np.float64, _thr32(rmax), False,
                                want_dist)  # fmt: skip
        hist[redo] = h64
        if want_dist:
            dist[redo] = d64
    if want_dist:
        dist[dist > rmax] = np.inf
        if levels.perm is not None:
            out = np.empty_like(dist)
            out[:, levels.perm] = dist
            dist = out
    return hist, dist


def _csr_launchers(backend: str):
    if backend == "triton":
        from mfa_engine.kernels.csr_relax import count_distances, csr_relax_round
    else:
        from mfa_engine.kernels.cupy_paths import count_distances, csr_relax_round
    return csr_relax_round, count_distances


def _csr(m, src: np.ndarray, radii: np.ndarray, cutoff: float, backend: str, want_dist: bool):
    """Exact float64 frontier relaxation on the device, then fused counting.

    Returns:
        (hist int64 [S, R + 1], dist float32 [S, N] or None).
    """
    import torch

    relax, count = _csr_launchers(backend)
    dev = _device()
    s_n, n, r_n = src.size, m.shape[0], radii.size
    indptr = torch.as_tensor(m.indptr.astype(np.int64), device=dev)
    cols = torch.as_tensor(m.indices.astype(np.int32 if n < 2**31 else np.int64), device=dev)
    w = torch.as_tensor(m.data, dtype=torch.float64, device=dev)
    cut = torch.tensor([cutoff], dtype=torch.float64, device=dev)
    radii_t = torch.as_tensor(radii, dtype=torch.float64, device=dev)
    hist = np.zeros((s_n, r_n + 1), np.int64)
    dist = np.full((s_n, n), np.inf, np.float32) if want_dist else None
    # 8 bytes of distance + 2 frontier bytes per entry, in the device budget
    batch = max(1, device_budget(dev) // (10 * max(n, 1)))
    inf_bits = 0x7FF0000000000000
    for start in range(0, s_n, batch):
        sl = slice(start, min(start + batch, s_n))
        b_n = sl.stop - sl.start
        nb = -(-b_n // _CSR_BLOCK_S)
        bits = torch.full((n, b_n), inf_bits, dtype=torch.int64, device=dev)
        act = [torch.zeros((n, b_n), dtype=torch.int8, device=dev) for _ in range(2)]
        node = [torch.zeros((n, nb), dtype=torch.int8, device=dev) for _ in range(2)]
        if cutoff >= 0:
            rows, cols_s = torch.as_tensor(src[sl], device=dev), torch.arange(b_n, device=dev)
            bits[rows, cols_s] = 0
            act[0][rows, cols_s] = 1
            node[0][rows, cols_s // _CSR_BLOCK_S] = 1
        changed = torch.zeros(1, dtype=torch.int32, device=dev)
        for r in range(n + 1):  # a shortest path has at most n - 1 edges
            relax(indptr, cols, w, bits, act[r % 2], act[(r + 1) % 2], node[r % 2], node[(r + 1) % 2], changed, cut,
                  block_s=_CSR_BLOCK_S)  # fmt: skip
            if r % _CHECK_EVERY == _CHECK_EVERY - 1:  # one host sync every few rounds
                if int(changed.item()) == 0:
                    break
                changed.zero_()
        h = torch.zeros((b_n, r_n + 1), dtype=torch.int32, device=dev)
        count(bits, h, radii_t)
        hist[sl] = h.cpu().numpy()
        if want_dist:
            d = bits.view(torch.float64).T.to(torch.float32).cpu().numpy()
            d[d > cutoff] = np.inf
            dist[sl] = d
    return hist, dist


def histogram(
    prepared: Any, src: np.ndarray, radii_sorted: np.ndarray, cutoff: float, *, backend: str, want_dist: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Histogram int64 [S, R + 1] (and float32 [S, N] distances) on a GPU backend.

    Args:
        prepared: ("dag", DagLevels) or ("csr", CSR) from ``prepare_graph``.
        src: int64 [S] sources.
        radii_sorted: float64 [R] ascending.
        cutoff: Inclusive cutoff (``radii_sorted[-1]`` when counting).
        backend: "triton" or "cupy".
        want_dist: Also return distances.
    """
    kind, obj = prepared
    if kind == "dag":
        return _dag(obj, src, radii_sorted, backend, want_dist)
    return _csr(obj, src, radii_sorted, cutoff, backend, want_dist)
