"""Triton: one min-plus step of a layered DAG, register-tiled, with fused radius counting.

Layout is node-major (distances ``[nodes, sources]``, source index contiguous), so a step is

``out[j, s] = min(out[j, s] if ACCUMULATE else inf, min_k w[k, j] + d[k, s])``

and row ``k`` of both ``w`` and ``d`` is a contiguous vector: the K loop is an outer-product
accumulation ``acc[j, s] = min(acc, a_k[j] + b_k[s])`` with no 3-D temporary and no
cross-thread reduction. The tile is held as a 4-D tensor ``[TJ, TS, NJ, NS]``: Triton's default
layout puts the ``NJ x NS`` thread grid on the last two axes, so each thread owns a ``TJ x TS``
(8 x 8) micro-tile of contiguous ``j`` and contiguous ``s``, loads ``TJ + TS`` values per k (two
128-bit loads each when aligned) and issues ``2 TJ TS`` add/min instructions.

Entries of ``d`` must be finalised (``<= thr`` or +inf); with ``FINALIZE`` the result is. With
``COUNT``, every finished finite value ``v`` is placed by a binary search in the radius table
(bucket = number of radii ``< v``) and added with a relaxed atomic to the global histogram
``hist[s, bucket]`` (int32 ``[S, R + 1]``, never the cumulative counts); +inf is never counted,
even for an infinite radius. With ``FLAGS``, ``flags[s]`` is set when ``v`` lies within a relative
``gamma - gsrc[s]`` of a positive radius (per-source rounding bound; the caller recomputes those
sources exactly in float64 with the same kernel). No barrier or reduction in the epilogue.

Grid: ``(cdiv(J, BJ), cdiv(S, BS))`` with ``BJ = TJ * NJ``, ``BS = TS * NS`` (J on axis 0).
The K loop has no bound checks: S and J are padded to the tile and K to UNROLL with +inf.
Offsets are int64 (the K loop advances 64-bit pointers; `mfa kernels check` verifies the IR). See docs/gpu.md for the SASS analysis of the K loop.
"""

from __future__ import annotations

import triton
import triton.language as tl

from mfa_engine.kernels.launch_checks import check_minplus_aligned

__all__ = ["layered_minplus_step", "launch_aligned", "check_aligned", "tile_config", "AOT_SPECS"]

#: Tile per (architecture major, float64): (TJ, TS, NJ, NS, UNROLL, num_warps, maxnreg). float32:
#: 8 x 8 micro-tiles in 128 x 128 tiles (256 threads); float64 (twice the registers): 4 x 4 in
#: 64 x 64, K unrolled 8x like float32 (4x left the loop at 74-80% useful). ``maxnreg`` 128 (256 threads x 128 = half the register file of an SM) lets two CTAs
#: share an SM with no spill (``mfa kernels check`` verifies both); 0 = the compiler's choice.
_TILES = {
    (8, False): (8, 8, 16, 16, 8, 8, 128),
    (9, False): (8, 8, 16, 16, 8, 8, 128),
    (8, True): (4, 4, 16, 16, 8, 8, 128),
    (9, True): (4, 4, 16, 16, 8, 8, 128),
}


def tile_config(arch_major: int = 9, fp64: bool = False) -> dict[str, int]:
    """Tile constants for a compute-capability major (sm_80 and sm_90 share one config)."""
    tj, ts, nj, ns, un, nw, mr = _TILES.get((arch_major, bool(fp64)), _TILES[(9, bool(fp64))])
    return {"TJ": tj, "TS": ts, "NJ": nj, "NS": ns, "UNROLL": un, "num_warps": nw, "maxnreg": mr}


def check_aligned(d, w, out, s_n: int, j_n: int, cfg: dict[str, int]) -> None:
    """Refuse a launch that breaks :func:`launch_aligned`'s contract (see
    :func:`mfa_engine.kernels.launch_checks.check_minplus_aligned`; raises ValueError)."""
    check_minplus_aligned(d, w, out, s_n, j_n, k_tile=cfg["UNROLL"], s_tile=cfg["TS"] * cfg["NS"],
                          j_tile=cfg["TJ"] * cfg["NJ"])  # fmt: skip


@triton.jit
def _bucket(v, radii_ptr, R, n_search):
    """Number of radii < v (branch-free lower bound over the sorted table)."""
    lo = tl.zeros(v.shape, tl.int32)
    hi = tl.zeros(v.shape, tl.int32) + R
    for _ in range(n_search):
        mid = (lo + hi) // 2
        live = lo < hi
        rm = tl.load(radii_ptr + mid, mask=live, other=0.0)
        go = live & (rm < v)
        lo = tl.where(go, mid + 1, lo)
        hi = tl.where(live & ~go, mid, hi)
    return lo


@triton.jit
def _count_epilogue(out_ptr, j0, s0, J, S, stride_o, hist_ptr, flags_ptr, gsrc_ptr, radii_ptr, R, n_search, gamma,
                    BJ: tl.constexpr, BS: tl.constexpr, SLAB: tl.constexpr, FLAGS: tl.constexpr):
    """Histogram (relaxed atomics) and ambiguity flags of the finished tile, re-read from ``out``
    in slabs of SLAB rows (few registers per thread; one barrier before, none per radius)."""
    offs_s = s0 + tl.arange(0, BS).to(tl.int64)
    mask_s = offs_s < S
    if FLAGS:
        g = gamma - tl.load(gsrc_ptr + offs_s, mask=mask_s, other=0.0)[None, :]
    for t in range(0, BJ, SLAB):
        offs_j = j0 + t + tl.arange(0, SLAB).to(tl.int64)
        ok = (offs_j < J)[:, None] & mask_s[None, :]
        v = tl.load(out_ptr + offs_j[:, None] * stride_o + offs_s[None, :], mask=ok, other=float("inf"))
        live = ok & (v < float("inf"))  # +inf is never counted, even for an infinite radius
        b = _bucket(v, radii_ptr, R, n_search)
        counted = live & (b < R)
        cell = hist_ptr + offs_s[None, :] * (R + 1) + b
        tl.atomic_add(cell, tl.full(v.shape, 1, tl.int32), mask=counted, sem="relaxed")
        if FLAGS:
            r_hi = tl.load(radii_ptr + b, mask=counted, other=0.0)
            r_lo = tl.load(radii_ptr + b - 1, mask=live & (b > 0), other=0.0)
            near = counted & (r_hi > 0.0) & (v >= r_hi * (1.0 - g))
            near = near | (live & (r_lo > 0.0) & (v <= r_lo * (1.0 + g)))
            s_idx = offs_s[None, :] + tl.zeros(v.shape, tl.int64)
            tl.store(flags_ptr + s_idx, tl.full(v.shape, 1, tl.int8), mask=near)


@triton.jit
def _layered_minplus_kernel(
    d_ptr, w_ptr, out_ptr, hist_ptr, flags_ptr, gsrc_ptr, radii_ptr,
    S, K, J, R, stride_d, stride_w, stride_o, thr, gamma, n_search,
    TJ: tl.constexpr, TS: tl.constexpr, NJ: tl.constexpr, NS: tl.constexpr, UNROLL: tl.constexpr,
    ACCUMULATE: tl.constexpr, FINALIZE: tl.constexpr, COUNT: tl.constexpr,
    FLAGS: tl.constexpr,
):  # fmt: skip
    FP64: tl.constexpr = d_ptr.dtype.element_ty == tl.float64
    pid_j = tl.program_id(0).to(tl.int64)
    pid_s = tl.program_id(1).to(tl.int64)
    jj = tl.arange(0, NJ)[None, :] * TJ + tl.arange(0, TJ)[:, None]  # [TJ, NJ], thread-contiguous in j
    ss = tl.arange(0, NS)[None, :] * TS + tl.arange(0, TS)[:, None]  # [TS, NS], thread-contiguous in s
    offs_j = pid_j * (TJ * NJ) + jj.to(tl.int64)
    offs_s = pid_s * (TS * NS) + ss.to(tl.int64)
    mask_j = offs_j < J
    mask_s = offs_s < S
    ok = mask_j[:, None, :, None] & mask_s[None, :, None, :]
    o_ptrs = out_ptr + offs_j[:, None, :, None] * stride_o + offs_s[None, :, None, :]
    acc = tl.full((TJ, TS, NJ, NS), float("inf"), d_ptr.dtype.element_ty)
    w_ptrs = w_ptr + offs_j
    d_ptrs = d_ptr + offs_s
    # 64-bit row steps: the pointers advance by UNROLL rows per trip, so no K x stride product
    # is ever formed in 32 bits (K x stride may pass 2^31 elements).
    sw = stride_w.to(tl.int64)
    sd = stride_d.to(tl.int64)
    # No bounds checks in the K loop: the launcher pads S and J to the tile and K to UNROLL
    # (padding is +inf, which never wins a minimum), so every load here is in bounds.
    for _k0 in range(0, K, UNROLL):
        for kk in tl.static_range(UNROLL):
            a = tl.load(w_ptrs + kk * sw)
            b = tl.load(d_ptrs + kk * sd)
            cand = a[:, None, :, None] + b[None, :, None, :]
            if FP64:  # compare + select: float64 has no min instruction, and no NaN occurs here
                acc = tl.where(cand < acc, cand, acc)
            else:
                acc = tl.minimum(acc, cand)
        w_ptrs += UNROLL * sw
        d_ptrs += UNROLL * sd
    if ACCUMULATE:  # after the loop, so the K loop keeps its own register layout
        acc = tl.minimum(acc, tl.load(o_ptrs, mask=ok, other=float("inf")))
    if FINALIZE:
        acc = tl.where(acc > thr, float("inf"), acc)
    tl.store(o_ptrs, acc, mask=ok)
    if COUNT:
        tl.debug_barrier()  # the tile is re-read by other threads of this CTA
        _count_epilogue(out_ptr, pid_j * (TJ * NJ), pid_s * (TS * NS), J, S, stride_o, hist_ptr, flags_ptr,
                        gsrc_ptr, radii_ptr, R, n_search, gamma, TJ * NJ, TS * NS, TJ, FLAGS)  # fmt: skip


def _padded(x, rows: int, cols: int, fill: float):
    """``x`` itself when already ``[rows, cols]`` (unit column stride, 16-byte aligned rows), else a
    copy into a ``fill``-padded tensor."""
    item = x.element_size()
    if tuple(x.shape) == (rows, cols) and x.stride(1) == 1 and (x.stride(0) * item) % 16 == 0 \
            and x.data_ptr() % 16 == 0:  # fmt: skip
        return x
    import torch

    y = torch.full((rows, cols), fill, dtype=x.dtype, device=x.device)
    y[: x.shape[0], : x.shape[1]] = x
    return y


def launch_aligned(
    d, w, out, s_n: int, j_n: int, *, thr: float, accumulate: bool, finalize: bool, hist, flags, gsrc, radii,
    gamma: float, cfg: dict[str, int],
) -> None:
    """Launch on tile-aligned tensors without copies (the GPU driver's padded layout).

    ``d`` [K, Sp], ``w`` [K, Jp], ``out`` [Jp, Sp] with Sp, Jp multiples of the tile and K of
    UNROLL; only the first ``s_n`` sources and ``j_n`` targets are stored and counted. ``hist``,
    ``flags``, ``gsrc`` as in :func:`layered_minplus_step` (at least ``s_n`` rows), or None.
    """
    check_aligned(d, w, out, s_n, j_n, cfg)
    bj, bs = cfg["TJ"] * cfg["NJ"], cfg["TS"] * cfg["NS"]
    count = hist is not None
    with_flags = count and flags is not None
    r_n = int(radii.shape[0]) if count else 0
    if count and (hist.shape[0] < s_n or hist.shape[1] != r_n + 1):
        raise ValueError(f"launch_aligned: hist {tuple(hist.shape)} must be at least [{s_n}, {r_n + 1}]")
    if with_flags and (flags.shape[0] < s_n or gsrc is None or gsrc.shape[0] < s_n):
        raise ValueError(f"launch_aligned: flags and gsrc need at least {s_n} entries")
    extra = {"maxnreg": cfg["maxnreg"]} if cfg.get("maxnreg") and not _interpreting() else {}
    grid = (triton.cdiv(j_n, bj), triton.cdiv(s_n, bs))
    _layered_minplus_kernel[grid](
        d, w, out, hist if count else out, flags if with_flags else out, gsrc if with_flags else out,
        radii if count else out, s_n, d.shape[0], j_n, r_n, d.stride(0), w.stride(0), out.stride(0),
        float(thr), float(gamma), int(r_n).bit_length(),
        TJ=cfg["TJ"], TS=cfg["TS"], NJ=cfg["NJ"], NS=cfg["NS"], UNROLL=cfg["UNROLL"],
        ACCUMULATE=bool(accumulate), FINALIZE=bool(finalize), COUNT=count, FLAGS=with_flags,
        num_warps=cfg["num_warps"], enable_fp_fusion=False, **extra,
    )  # fmt: skip


def _interpreting() -> bool:
    from mfa_engine._device import triton_interpret

    return triton_interpret()


def layered_minplus_step(
    d,
    w,
    out,
    *,
    thr: float,
    accumulate: bool = False,
    finalize: bool = True,
    hist=None,
    flags=None,
    gsrc=None,
    radii=None,
    gamma: float = 0.0,
    arch_major: int = 9,
) -> None:
    """Launch one min-plus step (torch tensors on the kernel's device, current stream).

    Tile-aligned ``d``, ``w``, ``out`` (S and J multiples of :func:`tile_config`'s tile, K of
    UNROLL) run as they are; other shapes are padded with +inf into temporary copies.

    Args:
        d: float32 or float64 [K, S] finalised distances of the source level (node-major; unit
            column stride, any row stride).
        w: [K, J] edge lengths of the same dtype (inf = no edge).
        out: [J, S] result (read first when ``accumulate``).
        thr: Inclusive cutoff applied to the result when ``finalize``.
        accumulate: Take the minimum with the current ``out`` (several blocks into one level).
        finalize: Apply the cutoff to the result.
        hist: int32 [S, R + 1] histogram to add to (enables fused counting), or None.
        flags: int8 [S] ambiguity flags (set to 1), or None for no flags (exact float64 pass).
        gsrc: float32 [S] per-source part of the rounding bound (flag bound of row s is
            ``gamma - gsrc[s]``), required with ``flags``.
        radii: [R] ascending radius grid of d's dtype, required with ``hist``.
        gamma: Rounding bound of this target level (see ``gsrc``).
        arch_major: Compute-capability major that selects the tile.
    """
    import torch

    k_n, s_n = d.shape
    j_n = w.shape[1]
    if s_n == 0 or j_n == 0:
        return
    cfg = tile_config(arch_major, d.dtype == torch.float64)
    bj, bs, un = cfg["TJ"] * cfg["NJ"], cfg["TS"] * cfg["NS"], cfg["UNROLL"]
    sp, jp, kp = -(-s_n // bs) * bs, -(-j_n // bj) * bj, max(un, -(-k_n // un) * un)
    inf = float("inf")
    dp, wp, op = _padded(d, kp, sp, inf), _padded(w, kp, jp, inf), _padded(out, jp, sp, inf)
    count = hist is not None
    with_flags = count and flags is not None
    launch_aligned(
        dp, wp, op, s_n, j_n, thr=thr, accumulate=accumulate, finalize=finalize, hist=hist,
        flags=flags if with_flags else None, gsrc=gsrc if with_flags else None, radii=radii, gamma=gamma, cfg=cfg,
    )  # fmt: skip
    if op is not out:
        out.copy_(op[:j_n, :s_n])


def _sig(fp: str) -> dict[str, str]:
    sig = {"d_ptr": f"*{fp}", "w_ptr": f"*{fp}", "out_ptr": f"*{fp}", "hist_ptr": "*i32", "flags_ptr": "*i8",
           "gsrc_ptr": "*fp32", "radii_ptr": f"*{fp}"}  # fmt: skip
    sig.update({n: "i32" for n in ("S", "K", "J", "R", "stride_d", "stride_w", "stride_o")})
    sig.update({"thr": "fp32", "gamma": "fp32", "n_search": "i32"})
    sig.update({n: "constexpr" for n in ("TJ", "TS", "NJ", "NS", "UNROLL", "ACCUMULATE", "FINALIZE", "COUNT",
                                         "FLAGS")})  # fmt: skip
    return sig


#: Arguments the run-time launcher specialises as 16-divisible for the driver's padded layout
#: (16-byte aligned pointers; K, J and row strides multiples of the tile). S (the live source
#: prefix, used only in masks), R and n_search vary and are left unspecialised.
_ALIGNED = ("d_ptr", "w_ptr", "out_ptr", "hist_ptr", "flags_ptr", "gsrc_ptr", "radii_ptr",
            "K", "J", "stride_d", "stride_w", "stride_o")  # fmt: skip


def _spec(tag: str, fp: str, acc: bool, fin: bool, cnt: bool, flg: bool) -> dict:
    sig = _sig(fp)
    names = list(sig)
    cfg = tile_config(9, fp == "fp64")
    nw = cfg.pop("num_warps")
    maxnreg = cfg.pop("maxnreg")
    per_relax = 2 if fp == "fp32" else 4  # FADD + FMNMX, or DADD + DSETP + 2 FSEL
    return {
        "name": f"layered_minplus[{tag}]",
        "fn": _layered_minplus_kernel,
        "signature": sig,
        "constexprs": {**cfg, "ACCUMULATE": acc, "FINALIZE": fin, "COUNT": cnt, "FLAGS": flg},
        "attrs": {(names.index(n),): [["tt.divisibility", 16]] for n in _ALIGNED},
        "num_warps": nw,
        "options": {"maxnreg": maxnreg} if maxnreg else {},
        "kind": "minplus" if fp == "fp32" else "minplus_fp64",
        # useful instructions per trip of the K loop: every thread's micro-tile, UNROLL times
        "useful_per_trip": per_relax * cfg["TJ"] * cfg["TS"] * cfg["UNROLL"],
        "k_loop_offsets": True,
    }


#: Ahead-of-time compilation specs (consumed by ``mfa kernels check``): exactly the variants the
#: GPU driver launches (paths/gpu.py: the only block into a level -> ``count``; several blocks ->
#: ``first``, ``partial``..., ``accumulate_count``; the float64 pass the same without flags),
#: with the alignment its padded layout gives at run time and the register cap that gives two
#: CTAs per SM. ``kind`` selects the SASS gate: ``minplus`` (fp32) must reach 80% FADD + FMNMX
#: in the K loop (the loop holding the loads, with ``useful_per_trip`` useful instructions) and
#: two CTAs per SM; ``minplus_fp64`` must reach 80% DADD + DSETP + FSEL (see docs/gpu.md).
AOT_SPECS = [
    _spec("count", "fp32", False, True, True, True),
    _spec("first", "fp32", False, False, False, False),
    _spec("partial", "fp32", True, False, False, False),
    _spec("accumulate_count", "fp32", True, True, True, True),
    _spec("fp64_count", "fp64", False, True, True, False),
    _spec("fp64_first", "fp64", False, False, False, False),
    _spec("fp64_partial", "fp64", True, False, False, False),
    _spec("fp64_accumulate_count", "fp64", True, True, True, False),
]
