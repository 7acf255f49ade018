"""Triton: exact multi-source frontier relaxation over a CSR graph, and fused radius counting.

Distances are float64, laid out node-major ``[N, S]`` (the S sources of node ``u`` contiguous)
and stored as their int64 bit patterns: non-negative doubles order like int64, so an atomic
``min`` on the bits is an exact float64 minimum. One round (:func:`csr_relax_round`):

* program ``(u, source block)`` does nothing unless node ``u`` improved for some source of the
  block in the previous round (``node_in[u, block]``, cleared as it is consumed);
* it walks only ``u``'s out-edges (``indptr[u] .. indptr[u + 1]``), and for each edge
  ``u -> v`` and each source whose ``d[u, s]`` improved (``act_in[u, s]``, cleared as consumed)
  proposes ``d[u, s] + w`` (<= cutoff). The current ``d[v, s]`` is read first; only a smaller
  candidate issues the 64-bit ``atomic_min``, and a real improvement marks ``act_out[v, s]``,
  ``node_out[v, block]`` and ``changed``.

The frontier buffers are consumed and cleared in place, so the host only swaps them between
rounds (no memset, no host sync per round; it reads ``changed`` every few rounds). Float64 path
sums in path order and exact minima give the same distances as float64 Dijkstra.
:func:`count_distances` then buckets ``[N, S]`` into the radius grid (+inf never counted) with
relaxed atomics into an int32 ``[S, R + 1]`` histogram.

Grid of a round: ``(N, cdiv(S, BLOCK_S))`` (nodes on axis 0). Offsets are int64; column
indices int32.
"""

from __future__ import annotations

import triton
import triton.language as tl

from mfa_engine.kernels.launch_checks import check_count, check_csr_round
from mfa_engine.kernels.layered_minplus import _bucket

__all__ = ["csr_relax_round", "count_distances", "AOT_SPECS"]

_INF_BITS = 0x7FF0000000000000


@triton.jit
def _csr_relax_kernel(
    indptr_ptr, cols_ptr, w_ptr, bits_ptr, act_in_ptr, act_out_ptr, node_in_ptr, node_out_ptr, changed_ptr,
    cutoff_ptr, S, n_blocks, BLOCK_S: tl.constexpr,
):  # fmt: skip
    u = tl.program_id(0).to(tl.int64)
    blk = tl.program_id(1).to(tl.int64)
    flag = tl.load(node_in_ptr + u * n_blocks + blk)
    if flag != 0:
        tl.store(node_in_ptr + u * n_blocks + blk, 0)
        offs_s = blk * BLOCK_S + tl.arange(0, BLOCK_S).to(tl.int64)
        mask_s = offs_s < S
        a = tl.load(act_in_ptr + u * S + offs_s, mask=mask_s, other=0) != 0
        tl.store(act_in_ptr + u * S + offs_s, tl.zeros((BLOCK_S,), tl.int8), mask=a)
        du = tl.load(bits_ptr + u * S + offs_s, mask=a, other=0x7FF0000000000000).to(tl.float64, bitcast=True)
        cutoff = tl.load(cutoff_ptr)
        start = tl.load(indptr_ptr + u)
        end = tl.load(indptr_ptr + u + 1)
        for e in range(start, end):
            v = tl.load(cols_ptr + e).to(tl.int64)
            cand = du + tl.load(w_ptr + e)
            cbits = cand.to(tl.int64, bitcast=True)
            ok = a & (cand <= cutoff)
            dst = bits_ptr + v * S + offs_s
            old = tl.load(dst, mask=ok, other=0)
            ok = ok & (cbits < old)  # read before the atomic: most candidates lose
            prev = tl.atomic_min(dst, cbits, mask=ok, sem="relaxed")
            better = ok & (cbits < prev)
            tl.store(act_out_ptr + v * S + offs_s, tl.full((BLOCK_S,), 1, tl.int8), mask=better)
            hit = tl.max(better.to(tl.int32), axis=0)
            tl.store(node_out_ptr + v * n_blocks + blk, hit.to(tl.int8), mask=hit > 0)
            tl.store(changed_ptr, hit, mask=hit > 0)


@triton.jit
def _count_kernel(bits_ptr, hist_ptr, radii_ptr, N, S, R, n_search, BLOCK_N: tl.constexpr, BLOCK_S: tl.constexpr):
    offs_n = tl.program_id(0).to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N).to(tl.int64)
    offs_s = tl.program_id(1).to(tl.int64) * BLOCK_S + tl.arange(0, BLOCK_S).to(tl.int64)
    ok = (offs_n < N)[:, None] & (offs_s < S)[None, :]
    bits = tl.load(bits_ptr + offs_n[:, None] * S + offs_s[None, :], mask=ok, other=0x7FF0000000000000)
    v = bits.to(tl.float64, bitcast=True)
    live = ok & (v < float("inf"))  # +inf is never counted, even for an infinite radius
    b = _bucket(v, radii_ptr, R, n_search)
    cell = hist_ptr + offs_s[None, :] * (R + 1) + b
    tl.atomic_add(cell, tl.full(v.shape, 1, tl.int32), mask=live & (b < R), sem="relaxed")


def csr_relax_round(indptr, cols, w, bits, act_in, act_out, node_in, node_out, changed, cutoff, *, block_s: int = 32) -> None:
    """Launch one exact relaxation round (torch tensors on one device, current stream).

    Args:
        indptr: int64 [N + 1] CSR row pointer. cols: int32 [E] heads. w: float64 [E] lengths (>= 0).
        bits: int64 [N, S] float64 distance bit patterns (+inf = 0x7FF0...).
        act_in, act_out: int8 [N, S] improved-last-round / improved-this-round (act_in is cleared).
        node_in, node_out: int8 [N, cdiv(S, block_s)] the same per node and source block.
        changed: int32 [1], set to 1 when anything improved (never cleared by the kernel).
        cutoff: float64 [1] inclusive cutoff.
        block_s: Sources per program.
    """
    check_csr_round(indptr, cols, w, bits, act_in, act_out, node_in, node_out, block_s)
    n, s_n = bits.shape
    if n == 0 or s_n == 0:
        return
    grid = (n, triton.cdiv(s_n, block_s))
    _csr_relax_kernel[grid](
        indptr, cols, w, bits, act_in, act_out, node_in, node_out, changed, cutoff, s_n, grid[1], BLOCK_S=block_s,
        enable_fp_fusion=False,
    )


def count_distances(bits, hist, radii, *, block_n: int = 32, block_s: int = 32) -> None:
    """Add the radius histogram of ``bits`` (int64 [N, S] float64 bits) to ``hist`` (int32 [S, R + 1]).

    Args:
        radii: float64 [R] ascending. Bucket of ``d`` = number of radii < d; d beyond the grid
            and +inf are not counted.
    """
    check_count(bits, hist, radii)
    n, s_n = bits.shape
    r_n = int(radii.shape[0])
    if n == 0 or s_n == 0 or r_n == 0:
        return
    grid = (triton.cdiv(n, block_n), triton.cdiv(s_n, block_s))
    _count_kernel[grid](bits, hist, radii, n, s_n, r_n, r_n.bit_length(), BLOCK_N=block_n, BLOCK_S=block_s,
                        enable_fp_fusion=False)


_RELAX_SIG = {
    "indptr_ptr": "*i64", "cols_ptr": "*i32", "w_ptr": "*fp64", "bits_ptr": "*i64", "act_in_ptr": "*i8",
    "act_out_ptr": "*i8", "node_in_ptr": "*i8", "node_out_ptr": "*i8", "changed_ptr": "*i32",
    "cutoff_ptr": "*fp64", "S": "i32", "n_blocks": "i32", "BLOCK_S": "constexpr",
}  # fmt: skip
_COUNT_SIG = {
    "bits_ptr": "*i64", "hist_ptr": "*i32", "radii_ptr": "*fp64", "N": "i32", "S": "i32", "R": "i32",
    "n_search": "i32", "BLOCK_N": "constexpr", "BLOCK_S": "constexpr",
}  # fmt: skip


def _aligned(sig: dict[str, str]) -> dict:
    """Torch allocations are 16-byte aligned: the launcher specialises every pointer that way."""
    names = list(sig)
    return {(names.index(n),): [["tt.divisibility", 16]] for n, t in sig.items() if t.startswith("*")}


#: Ahead-of-time compilation specs (consumed by ``mfa kernels check``).
AOT_SPECS = [
    {"name": "csr_relax[exact]", "fn": _csr_relax_kernel, "signature": dict(_RELAX_SIG),
     "constexprs": {"BLOCK_S": 32}, "attrs": _aligned(_RELAX_SIG), "num_warps": 1},
    {"name": "csr_count", "fn": _count_kernel, "signature": dict(_COUNT_SIG),
     "constexprs": {"BLOCK_N": 32, "BLOCK_S": 32}, "attrs": _aligned(_COUNT_SIG), "num_warps": 4},
]  # fmt: skip
