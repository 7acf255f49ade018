"""Triton: one round of multi-source frontier relaxation over a CSR graph, with a cutoff.

The graph is given edge-parallel: ``rows[e] -> cols[e]`` with distance ``w[e]`` (the CSR row
pointer expanded once on the host). For each source row ``s`` of the batch and edge ``e`` whose
tail ``u`` is in the frontier (``active_in[s, u]``) and has ``d[s, u] <= thr``, the candidate
``d[s, u] + w[e]`` is merged into ``d[s, v]`` with an atomic minimum on the float's bit pattern
(distances are >= 0, so the int32 order of the bits is the float order). Improved heads join the
next frontier (``active_out``) and ``changed[0]`` is set. With ``UNDIRECTED`` each edge is also
relaxed from ``v`` to ``u``. The host repeats rounds until nothing changes (Bellman-Ford with a
frontier; at most N rounds).

Grid: ``(cdiv(E, BLOCK_E), S)``. All offsets are int64.
"""

from __future__ import annotations

import triton
import triton.language as tl

__all__ = ["csr_relax_round", "AOT_SPECS"]


@triton.jit
def _relax_direction(
    d_ptr, d_bits, active_in_ptr, active_out_ptr, row, tail, head, w, mask_e, thr, BLOCK_E: tl.constexpr
):
    """Relax the edges ``tail -> head`` of one source row; returns how many heads improved."""
    a = tl.load(active_in_ptr + row + tail, mask=mask_e, other=0)
    dt = tl.load(d_ptr + row + tail, mask=mask_e & (a != 0), other=float("inf"))
    cand = dt + w
    ok = mask_e & (a != 0) & (dt <= thr) & (cand <= thr)
    old = tl.atomic_min(d_bits + row + head, cand.to(tl.int32, bitcast=True), mask=ok)
    improved = ok & (cand.to(tl.int32, bitcast=True) < old)
    tl.store(active_out_ptr + row + head, tl.full((BLOCK_E,), 1, tl.int8), mask=improved)
    return tl.sum(improved.to(tl.int32), axis=0)


@triton.jit
def _csr_relax_kernel(
    rows_ptr,
    cols_ptr,
    w_ptr,
    d_ptr,
    active_in_ptr,
    active_out_ptr,
    changed_ptr,
    E,
    N,
    thr,
    BLOCK_E: tl.constexpr,
    UNDIRECTED: tl.constexpr,
):
    pid_e = tl.program_id(0).to(tl.int64)
    s = tl.program_id(1).to(tl.int64)
    offs = pid_e * BLOCK_E + tl.arange(0, BLOCK_E).to(tl.int64)
    mask_e = offs < E
    u = tl.load(rows_ptr + offs, mask=mask_e, other=0)
    v = tl.load(cols_ptr + offs, mask=mask_e, other=0)
    w = tl.load(w_ptr + offs, mask=mask_e, other=float("inf"))
    row = s * N
    d_bits = d_ptr.to(tl.pointer_type(tl.int32))
    n_imp = _relax_direction(d_ptr, d_bits, active_in_ptr, active_out_ptr, row, u, v, w, mask_e, thr, BLOCK_E)
    if UNDIRECTED:
        n_imp += _relax_direction(d_ptr, d_bits, active_in_ptr, active_out_ptr, row, v, u, w, mask_e, thr, BLOCK_E)
    if n_imp > 0:
        tl.store(changed_ptr, 1)


def csr_relax_round(
    rows, cols, w, d, active_in, active_out, changed, *, thr: float, undirected: bool = False,
    block_e: int = 256, num_warps: int = 4,
) -> None:
    """Launch one relaxation round (torch tensors on the kernel's device).

    Args:
        rows: int64 [E] edge tails.
        cols: int64 [E] edge heads.
        w: float32 [E] edge distances (>= 0).
        d: float32 [S, N] contiguous tentative distances (updated in place).
        active_in: int8 [S, N] frontier of this round.
        active_out: int8 [S, N] frontier of the next round (zeroed by the caller).
        changed: int32 [1] set to 1 when any distance improved.
        thr: Inclusive cutoff.
        undirected: Relax each edge both ways.
        block_e, num_warps: Tile size and warps.
    """
    e_n = rows.shape[0]
    s_n, n = d.shape
    if e_n == 0 or s_n == 0:
        return
    grid = (triton.cdiv(e_n, block_e), s_n)
    _csr_relax_kernel[grid](
        rows, cols, w, d, active_in, active_out, changed, e_n, n, float(thr),
        BLOCK_E=block_e, UNDIRECTED=bool(undirected), num_warps=num_warps,
    )  # fmt: skip


_SIG = {
    "rows_ptr": "*i64",
    "cols_ptr": "*i64",
    "w_ptr": "*fp32",
    "d_ptr": "*fp32",
    "active_in_ptr": "*i8",
    "active_out_ptr": "*i8",
    "changed_ptr": "*i32",
    "E": "i64",
    "N": "i64",
    "thr": "fp32",
    "BLOCK_E": "constexpr",
    "UNDIRECTED": "constexpr",
}

#: Ahead-of-time compilation specs (consumed by ``mfa kernels check``).
AOT_SPECS = [
    {
        "name": f"csr_relax[{'undirected' if und else 'directed'}]",
        "fn": _csr_relax_kernel,
        "signature": dict(_SIG),
        "constexprs": {"BLOCK_E": 256, "UNDIRECTED": und},
        "num_warps": 4,
    }
    for und in (False, True)
]
