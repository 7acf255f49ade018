"""Triton kernels: fused threshold-margin (TM) loss of GeRe (arXiv 2508.04676), forward and backward.

The hidden state is viewed as ``[N, H]`` (N = B * T token rows, H = hidden size, contiguous). Each
element has a reference state code: 0 = neg, 1 = neutral, 2 = pos, 3 = padding (ignored). With the
per-dimension thresholds ``pos[H]`` and ``neg[H]`` the element loss is::

    over  = h - neg  (state 0) | h - pos (state 1) | 0 (otherwise)
    under = pos - h  (state 2) | neg - h (state 1) | 0 (otherwise)
    loss  = relu(over) + relu(under)          d loss / d h = [over > 0] - [under > 0]

which is exactly GeRe's neg: relu(h - neg), neutral: relu(h - pos) + relu(neg - h), pos:
relu(pos - h), with relu's derivative 0 at a tie.

* ``_tm_loss_fwd_kernel``: one program per token row; loops over H in ``BLOCK_H`` chunks and
  writes the row's loss sum (fp32), its count of elements with loss > 0 and its count of valid
  (unmasked, non-padding) elements into three ``[N]`` buffers. No full-size temporary exists.
* ``_tm_loss_bwd_kernel``: one program per token row; recomputes the sign from
  ``(h, state, pos, neg)`` and writes ``grad = sign * grad_output / denom`` (``denom`` = 1 for
  ``REDUCTION == 0`` "sum", else the saved denominator of "mean" / "nonzero_mean").

States are either int8 codes with hidden's layout or packed 2 bits per element in row-major
flat order (element ``i`` in byte ``i >> 2`` at bit ``2 * (i & 3)``).

Status: these kernels are verified only under the Triton interpreter (tests, tiny fp32 shapes)
and compiled ahead of time for sm_80 / sm_90 (``AOT_SPECS``; 0 spills). They have never been
run on a GPU: no GPU exists on the development machines.

``triton`` reads ``TRITON_INTERPRET`` when ``triton.language`` and this module are imported
(``@triton.jit`` then builds interpreter functions), so the variable must be set before the
first ``import triton`` of the process; tests run the interpreter in a subprocess for that reason.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

__all__ = ["tm_loss_forward", "tm_loss_backward", "AOT_SPECS", "REDUCTION_CODES"]

#: Reduction name -> ``REDUCTION`` constexpr of the backward kernel.
REDUCTION_CODES = {"sum": 0, "mean": 1, "nonzero_mean": 2}

_MAX_BLOCK_H = 2048


@triton.jit
def _row_width(mask_ptr, row, H, HAS_MASK: tl.constexpr):
    """Columns of this token row that count: H for a token, 0 for padding (mask == 0)."""
    if HAS_MASK:
        return tl.where(tl.load(mask_ptr + row) != 0, H, 0)
    return H


@triton.jit
def _state_codes(states_ptr, idx, start, row, H, in_row, BLOCK_H: tl.constexpr, PACKED: tl.constexpr,
                 BYTE_ROWS: tl.constexpr):
    """2-bit state codes of one block (3 = padding outside the row).

    Packed rows that start on a byte (``BYTE_ROWS``: H % 4 == 0) load ``BLOCK_H / 4`` bytes once
    and unpack the four codes of each byte in registers; otherwise each element reads its byte.
    """
    if PACKED:
        if BYTE_ROWS:
            b_idx = (row * H + start) // 4 + tl.arange(0, BLOCK_H // 4)
            b_ok = (start + tl.arange(0, BLOCK_H // 4) * 4) < H
            byte = tl.load(states_ptr + b_idx, mask=b_ok, other=255).to(tl.int32)
            quad = (byte[:, None] >> (tl.arange(0, 4) * 2)[None, :]) & 3
            code = tl.reshape(quad, (BLOCK_H,))
            code = tl.where(in_row, code, 3)
        else:
            byte = tl.load(states_ptr + (idx >> 2), mask=in_row, other=255).to(tl.int32)
            code = (byte >> ((idx & 3) * 2).to(tl.int32)) & 3
    else:
        code = tl.load(states_ptr + idx, mask=in_row, other=3).to(tl.int32)
    return code


@triton.jit
def _tm_margins(hidden_ptr, states_ptr, pos_ptr, neg_ptr, idx, cols, start, row, H, in_row,
                BLOCK_H: tl.constexpr, PACKED: tl.constexpr, BYTE_ROWS: tl.constexpr):
    """Per element of one block: (valid, over, under) with ``loss = relu(over) + relu(under)``.

    ``over`` is how far ``h`` lies above its upper bound (neg: h - neg, neutral: h - pos) and
    ``under`` how far below its lower bound (pos: pos - h, neutral: neg - h); state 3 (padding)
    and masked-out elements are not valid. Loads are masked by the row only (the mask is
    constant over aligned groups of columns, so they vectorise); validity is applied after.
    """
    code = _state_codes(states_ptr, idx, start, row, H, in_row, BLOCK_H, PACKED, BYTE_ROWS)
    valid = in_row & (code != 3)
    h = tl.load(hidden_ptr + idx, mask=in_row, other=0.0).to(tl.float32)
    p = tl.load(pos_ptr + cols, mask=in_row, other=0.0).to(tl.float32)
    n = tl.load(neg_ptr + cols, mask=in_row, other=0.0).to(tl.float32)
    over = tl.where(code == 0, h - n, tl.where(code == 1, h - p, 0.0))
    under = tl.where(code == 2, p - h, tl.where(code == 1, n - h, 0.0))
    return valid, over, under


@triton.jit
def _tm_loss_fwd_kernel(
    hidden_ptr,
    states_ptr,
    pos_ptr,
    neg_ptr,
    mask_ptr,
    row_sum_ptr,
    row_nnz_ptr,
    row_valid_ptr,
    H,
    BLOCK_H: tl.constexpr,
    PACKED: tl.constexpr,
    HAS_MASK: tl.constexpr,
    BYTE_ROWS: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    base = row * H
    n_cols = _row_width(mask_ptr, row, H, HAS_MASK)
    acc = tl.zeros((BLOCK_H,), dtype=tl.float32)
    nnz = tl.zeros((BLOCK_H,), dtype=tl.int32)
    nvalid = tl.zeros((BLOCK_H,), dtype=tl.int32)
    for start in range(0, H, BLOCK_H):
        cols = start + tl.arange(0, BLOCK_H)
        in_row = cols < n_cols
        idx = base + cols
        valid, over, under = _tm_margins(hidden_ptr, states_ptr, pos_ptr, neg_ptr, idx, cols, start, row, H, in_row,
                                         BLOCK_H, PACKED, BYTE_ROWS)  # fmt: skip
        loss = tl.maximum(over, 0.0) + tl.maximum(under, 0.0)
        loss = tl.where(valid, loss, 0.0)
        acc += loss
        nnz += (loss > 0.0).to(tl.int32)
        nvalid += valid.to(tl.int32)
    tl.store(row_sum_ptr + row, tl.sum(acc, axis=0))
    tl.store(row_nnz_ptr + row, tl.sum(nnz, axis=0))
    tl.store(row_valid_ptr + row, tl.sum(nvalid, axis=0))


@triton.jit
def _tm_loss_bwd_kernel(
    hidden_ptr,
    states_ptr,
    pos_ptr,
    neg_ptr,
    mask_ptr,
    grad_out_ptr,
    denom_ptr,
    grad_ptr,
    H,
    BLOCK_H: tl.constexpr,
    PACKED: tl.constexpr,
    HAS_MASK: tl.constexpr,
    REDUCTION: tl.constexpr,
    BYTE_ROWS: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    base = row * H
    n_cols = _row_width(mask_ptr, row, H, HAS_MASK)
    scale = tl.load(grad_out_ptr).to(tl.float32)
    if REDUCTION != 0:
        scale = scale / tl.load(denom_ptr).to(tl.float32)
    for start in range(0, H, BLOCK_H):
        cols = start + tl.arange(0, BLOCK_H)
        in_bounds = cols < H
        in_row = cols < n_cols
        idx = base + cols
        valid, over, under = _tm_margins(hidden_ptr, states_ptr, pos_ptr, neg_ptr, idx, cols, start, row, H, in_row,
                                         BLOCK_H, PACKED, BYTE_ROWS)  # fmt: skip
        sign = (over > 0.0).to(tl.float32) - (under > 0.0).to(tl.float32)
        sign = tl.where(valid, sign, 0.0)
        tl.store(grad_ptr + idx, (sign * scale).to(grad_ptr.dtype.element_ty), mask=in_bounds)


def _block_h(H: int) -> int:
    return min(triton.next_power_of_2(max(int(H), 1)), _MAX_BLOCK_H)


def _num_warps(block_h: int) -> int:
    return 8 if block_h >= 2048 else (4 if block_h >= 512 else 2 if block_h >= 128 else 1)


def tm_loss_forward(
    hidden: torch.Tensor,
    states: torch.Tensor,
    pos: torch.Tensor,
    neg: torch.Tensor,
    row_mask: torch.Tensor | None,
    packed: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Launch the fused forward kernel.

    Args:
        hidden: ``[N, H]`` contiguous, fp32 / bf16 / fp16.
        states: packed ``uint8 [ceil(N*H/4)]`` when ``packed`` else ``int8 [N, H]`` codes.
        pos: ``fp32 [H]`` upper thresholds.
        neg: ``fp32 [H]`` lower thresholds.
        row_mask: ``int8 [N]`` (1 = token) or None.
        packed: whether ``states`` is packed 2 bits per element.

    Returns:
        ``(loss_sum fp32 [], nonzero_count int64 [], valid_count int64 [])`` as device scalars.
    """
    N, H = hidden.shape
    dev = hidden.device
    row_sum = torch.empty(N, dtype=torch.float32, device=dev)
    row_nnz = torch.empty(N, dtype=torch.int32, device=dev)
    row_valid = torch.empty(N, dtype=torch.int32, device=dev)
    if N > 0:
        block_h = _block_h(H)
        _tm_loss_fwd_kernel[(N,)](
            hidden,
            states,
            pos,
            neg,
            row_mask if row_mask is not None else states,
            row_sum,
            row_nnz,
            row_valid,
            H,
            BLOCK_H=block_h,
            PACKED=bool(packed),
            HAS_MASK=row_mask is not None,
            BYTE_ROWS=H % 4 == 0 and block_h >= 4,
            num_warps=_num_warps(block_h),
            enable_fp_fusion=False,  # no fused multiply-add: the eager torch reference's rounding
        )
    loss_sum = row_sum.sum(dtype=torch.float64).to(torch.float32)
    return loss_sum, row_nnz.sum(dtype=torch.int64), row_valid.sum(dtype=torch.int64)


def tm_loss_backward(
    hidden: torch.Tensor,
    states: torch.Tensor,
    pos: torch.Tensor,
    neg: torch.Tensor,
    row_mask: torch.Tensor | None,
    packed: bool,
    grad_output: torch.Tensor,
    denom: torch.Tensor,
    reduction: str,
) -> torch.Tensor:
    """Launch the fused backward kernel; returns ``grad_hidden`` ``[N, H]`` in hidden's dtype.

    Args:
        hidden, states, pos, neg, row_mask, packed: as in :func:`tm_loss_forward`.
        grad_output: fp32 scalar tensor (d total / d loss).
        denom: fp32 scalar tensor, the forward's denominator (ignored for "sum").
        reduction: "sum", "mean" or "nonzero_mean".
    """
    N, H = hidden.shape
    grad = torch.empty_like(hidden)
    if N > 0:
        block_h = _block_h(H)
        _tm_loss_bwd_kernel[(N,)](
            hidden,
            states,
            pos,
            neg,
            row_mask if row_mask is not None else states,
            grad_output.to(torch.float32).reshape(1),
            denom.to(torch.float32).reshape(1),
            grad,
            H,
            BLOCK_H=block_h,
            PACKED=bool(packed),
            HAS_MASK=row_mask is not None,
            REDUCTION=REDUCTION_CODES[reduction],
            BYTE_ROWS=H % 4 == 0 and block_h >= 4,
            num_warps=_num_warps(block_h),
            enable_fp_fusion=False,  # no fused multiply-add: the eager torch reference's rounding
        )
    return grad


def _run_time_attrs(sig: dict[str, str]) -> dict:
    """The specialisation Triton's launcher gives a model-sized call: every pointer 16-byte
    aligned (fresh torch allocations) and H divisible by 16 (hidden sizes are), which is what
    makes the row-masked loads vectorise. R/denominators are scalars loaded through pointers."""
    names = list(sig)
    keep = [n for n, t in sig.items() if t.startswith("*") or n == "H"]
    return {(names.index(n),): [["tt.divisibility", 16]] for n in keep}


def _with_attrs(spec: dict) -> dict:
    spec["attrs"] = _run_time_attrs(spec["signature"])
    return spec


def _fwd_spec(dtype: str, packed: bool, has_mask: bool, block_h: int) -> dict:
    return {
        "name": f"tm_loss_fwd_{dtype}_{'packed' if packed else 'int8'}{'_mask' if has_mask else ''}_b{block_h}",
        "fn": _tm_loss_fwd_kernel,
        "signature": {
            "hidden_ptr": f"*{dtype}",
            "states_ptr": "*u8" if packed else "*i8",
            "pos_ptr": "*fp32",
            "neg_ptr": "*fp32",
            "mask_ptr": "*i8",
            "row_sum_ptr": "*fp32",
            "row_nnz_ptr": "*i32",
            "row_valid_ptr": "*i32",
            "H": "i32",
            "BLOCK_H": "constexpr",
            "PACKED": "constexpr",
            "HAS_MASK": "constexpr",
            "BYTE_ROWS": "constexpr",
        },
        "constexprs": {"BLOCK_H": block_h, "PACKED": packed, "HAS_MASK": has_mask, "BYTE_ROWS": True},
        "num_warps": _num_warps(block_h),
    }


def _bwd_spec(dtype: str, packed: bool, has_mask: bool, block_h: int, reduction: int) -> dict:
    return {
        "name": f"tm_loss_bwd_{dtype}_{'packed' if packed else 'int8'}{'_mask' if has_mask else ''}"
        f"_b{block_h}_r{reduction}",
        "fn": _tm_loss_bwd_kernel,
        "signature": {
            "hidden_ptr": f"*{dtype}",
            "states_ptr": "*u8" if packed else "*i8",
            "pos_ptr": "*fp32",
            "neg_ptr": "*fp32",
            "mask_ptr": "*i8",
            "grad_out_ptr": "*fp32",
            "denom_ptr": "*fp32",
            "grad_ptr": f"*{dtype}",
            "H": "i32",
            "BLOCK_H": "constexpr",
            "PACKED": "constexpr",
            "HAS_MASK": "constexpr",
            "REDUCTION": "constexpr",
            "BYTE_ROWS": "constexpr",
        },
        "constexprs": {"BLOCK_H": block_h, "PACKED": packed, "HAS_MASK": has_mask, "REDUCTION": reduction,
                       "BYTE_ROWS": True},  # fmt: skip
        "num_warps": _num_warps(block_h),
    }


#: Ahead-of-time compilation specs (docs/architecture.md, "Kernel AOT specs"): the variants
#: that matter (largest block, every dtype, packed and int8 states, with and without a mask).
AOT_SPECS: list[dict] = [
    _with_attrs(_fwd_spec("fp32", True, True, 2048)),
    _with_attrs(_fwd_spec("bf16", True, True, 2048)),
    _with_attrs(_fwd_spec("fp16", False, False, 512)),
    _with_attrs(_bwd_spec("fp32", True, True, 2048, 2)),
    _with_attrs(_bwd_spec("bf16", True, True, 2048, 2)),
    _with_attrs(_bwd_spec("fp16", False, False, 512, 0)),
]
