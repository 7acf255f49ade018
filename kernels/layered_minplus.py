"""Triton: one min-plus step of a layered DAG with inclusive cutoff and fused radius counting.

``out[s, j] = min(out[s, j] if ACCUMULATE else inf, min_k d[s, k] + w[k, j])``, with entries of
``d`` above ``thr`` treated as +inf, and (``FINALIZE``) entries of the result above ``thr`` set to
+inf. With ``COUNT``, the finished tile is bucketed into the radius grid: for every radius
``r_q``, ``counts[s, q] += #{j : out[s, j] <= r_q}`` (cumulative counts; one atomic add per
source row and radius per tile), and ``flags[s]`` is set when a distance lies within a relative
``gamma`` of a positive radius (the caller recomputes those sources in float64).

Grid: ``(cdiv(S, BLOCK_S), cdiv(J, BLOCK_J))``. All offsets are int64.
"""

from __future__ import annotations

import triton
import triton.language as tl

__all__ = ["layered_minplus_step", "AOT_SPECS"]


@triton.jit
def _layered_minplus_kernel(
    d_ptr,
    w_ptr,
    out_ptr,
    counts_ptr,
    flags_ptr,
    radii_ptr,
    S,
    K,
    J,
    R,
    stride_d,
    stride_w,
    stride_o,
    thr,
    gamma,
    BLOCK_S: tl.constexpr,
    BLOCK_J: tl.constexpr,
    BLOCK_K: tl.constexpr,
    ACCUMULATE: tl.constexpr,
    FINALIZE: tl.constexpr,
    COUNT: tl.constexpr,
):
    pid_s = tl.program_id(0).to(tl.int64)
    pid_j = tl.program_id(1).to(tl.int64)
    offs_s = pid_s * BLOCK_S + tl.arange(0, BLOCK_S).to(tl.int64)
    offs_j = pid_j * BLOCK_J + tl.arange(0, BLOCK_J).to(tl.int64)
    mask_s = offs_s < S
    mask_j = offs_j < J
    mask_o = mask_s[:, None] & mask_j[None, :]
    o_ptrs = out_ptr + offs_s[:, None] * stride_o + offs_j[None, :]
    if ACCUMULATE:
        acc = tl.load(o_ptrs, mask=mask_o, other=float("inf"))
    else:
        acc = tl.full((BLOCK_S, BLOCK_J), float("inf"), tl.float32)
    for k0 in range(0, K, BLOCK_K):
        offs_k = k0 + tl.arange(0, BLOCK_K).to(tl.int64)
        mask_k = offs_k < K
        d = tl.load(
            d_ptr + offs_s[:, None] * stride_d + offs_k[None, :],
            mask=mask_s[:, None] & mask_k[None, :],
            other=float("inf"),
        )
        d = tl.where(d > thr, float("inf"), d)
        w = tl.load(
            w_ptr + offs_k[:, None] * stride_w + offs_j[None, :],
            mask=mask_k[:, None] & mask_j[None, :],
            other=float("inf"),
        )
        cand = tl.min(d[:, :, None] + w[None, :, :], axis=1)
        acc = tl.minimum(acc, cand)
    if FINALIZE:
        acc = tl.where(acc > thr, float("inf"), acc)
    tl.store(o_ptrs, acc, mask=mask_o)
    if COUNT:
        amb = tl.zeros((BLOCK_S,), tl.int32)
        for q in range(0, R):
            r = tl.load(radii_ptr + q)
            within = (acc <= r) & mask_o
            n_in = tl.sum(within.to(tl.int64), axis=1)
            tl.atomic_add(counts_ptr + offs_s * R + q, n_in, mask=mask_s & (n_in > 0))
            lo = tl.where(r > 0.0, r * (1.0 - gamma), float("inf"))  # radius 0 is exact
            near = (acc >= lo) & (acc <= r * (1.0 + gamma)) & mask_o
            amb = tl.maximum(amb, tl.max(near.to(tl.int32), axis=1))
        tl.store(flags_ptr + offs_s, amb.to(tl.int8), mask=mask_s & (amb > 0))


def layered_minplus_step(
    d,
    w,
    out,
    *,
    thr: float,
    accumulate: bool = False,
    finalize: bool = True,
    counts=None,
    flags=None,
    radii=None,
    gamma: float = 0.0,
    block_s: int = 16,
    block_j: int = 64,
    block_k: int = 8,
    num_warps: int = 4,
) -> None:
    """Launch one min-plus step (torch tensors on the kernel's device).

    Args:
        d: float32 [S, K] distances of the source layer (row stride arbitrary, unit column stride).
        w: float32 [K, J] edge distances (inf = no edge).
        out: float32 [S, J] result (read first when ``accumulate``).
        thr: Inclusive cutoff: inputs and (``finalize``) outputs above it become +inf.
        accumulate: Take the minimum with the current ``out`` (several blocks into one layer).
        finalize: Apply the cutoff to the result.
        counts: int64 [S, R] cumulative counts to add to (enables fused counting), or None.
        flags: int8 [S] ambiguity flags (set to 1), required with ``counts``.
        radii: float32 [R] radius grid, required with ``counts``.
        gamma: Relative rounding bound for the ambiguity flags.
        block_s, block_j, block_k, num_warps: Tile sizes.
    """
    s_n, k_n = d.shape
    j_n = w.shape[1]
    if s_n == 0 or j_n == 0:
        return
    count = counts is not None
    if not count:
        counts, flags, radii = out, out, out  # unused placeholders
    r_n = radii.shape[0] if count else 0
    grid = (triton.cdiv(s_n, block_s), triton.cdiv(j_n, block_j))
    _layered_minplus_kernel[grid](
        d, w, out, counts, flags, radii,
        s_n, k_n, j_n, r_n, d.stride(0), w.stride(0), out.stride(0),
        float(thr), float(gamma),
        BLOCK_S=block_s, BLOCK_J=block_j, BLOCK_K=block_k,
        ACCUMULATE=bool(accumulate), FINALIZE=bool(finalize), COUNT=count,
        num_warps=num_warps,
    )  # fmt: skip


_SIG = {
    "d_ptr": "*fp32",
    "w_ptr": "*fp32",
    "out_ptr": "*fp32",
    "counts_ptr": "*i64",
    "flags_ptr": "*i8",
    "radii_ptr": "*fp32",
    "S": "i64",
    "K": "i64",
    "J": "i64",
    "R": "i64",
    "stride_d": "i64",
    "stride_w": "i64",
    "stride_o": "i64",
    "thr": "fp32",
    "gamma": "fp32",
    "BLOCK_S": "constexpr",
    "BLOCK_J": "constexpr",
    "BLOCK_K": "constexpr",
    "ACCUMULATE": "constexpr",
    "FINALIZE": "constexpr",
    "COUNT": "constexpr",
}

#: Ahead-of-time compilation specs (consumed by ``mfa kernels check``).
AOT_SPECS = [
    {
        "name": f"layered_minplus[{tag}]",
        "fn": _layered_minplus_kernel,
        "signature": dict(_SIG),
        "constexprs": {
            "BLOCK_S": 16, "BLOCK_J": 64, "BLOCK_K": 8,
            "ACCUMULATE": acc, "FINALIZE": fin, "COUNT": cnt,
        },
        "num_warps": 4,
    }
    for tag, acc, fin, cnt in [
        ("count", False, True, True),
        ("accumulate_count", True, True, True),
        ("partial", True, False, False),
        ("distances", False, True, False),
    ]
]  # fmt: skip
