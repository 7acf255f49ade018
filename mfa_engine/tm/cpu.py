"""CPU path of the fused TM loss (also the fallback on any device without Triton).

Same memory behaviour as the Triton kernels. CPU tensors use the numba kernels of
:mod:`mfa_engine.kernels.tm_cpu` (one parallel pass over rows; fp32 hidden states are read in
place, bf16 / fp16 are converted to fp32 ``chunk_elements`` at a time). Other devices, or CPU
without numba, use torch ops on chunks of about ``chunk_elements`` elements. Either way the
extra memory is a few chunk-sized temporaries (plus the gradient itself in the backward)
instead of several full-size tensors.
"""

from __future__ import annotations

import torch

from mfa_engine.tm.states import unpack_byte_range

__all__ = ["DEFAULT_CHUNK_ELEMENTS", "USE_NUMBA", "tm_loss_forward_chunked", "tm_loss_backward_chunked"]

#: Elements per chunk (about 1 MiB per fp32 temporary).
DEFAULT_CHUNK_ELEMENTS = 1 << 18

#: Use the numba kernels for CPU tensors when numba is importable (tests switch it off to check
#: the torch-chunk fallback).
USE_NUMBA = True


def _numba_ok(hidden: torch.Tensor) -> bool:
    if not USE_NUMBA or hidden.device.type != "cpu":
        return False
    try:
        import mfa_engine.kernels.tm_cpu  # noqa: F401
    except ImportError:
        return False
    return True


def _np_args(states: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, row_mask: torch.Tensor | None, N: int):
    import numpy as np

    st = states.view(torch.uint8).numpy() if states.dtype == torch.int8 else states.numpy()
    m = row_mask.numpy() if row_mask is not None else np.ones(N, dtype=np.int8)
    return st, pos.numpy(), neg.numpy(), m


def _numba_forward(hidden, states, pos, neg, row_mask, packed, chunk_elements):
    import numpy as np

    from mfa_engine.kernels.tm_cpu import tm_fwd_rows

    N, H = hidden.shape
    st, p, n, m = _np_args(states, pos, neg, row_mask, N)
    row_sum = np.empty(N, dtype=np.float64)
    row_nnz = np.empty(N, dtype=np.int64)
    row_valid = np.empty(N, dtype=np.int64)
    spans = [(0, N)] if hidden.dtype == torch.float32 else list(_chunks(N, H, chunk_elements))
    for r0, r1 in spans:
        h = hidden[r0:r1].detach().float().numpy()
        tm_fwd_rows(h, st, bool(packed), p, n, m, r0, row_sum[r0:r1], row_nnz[r0:r1], row_valid[r0:r1])
    return (
        torch.tensor(row_sum.sum(), dtype=torch.float64).to(torch.float32),
        torch.tensor(int(row_nnz.sum()), dtype=torch.int64),
        torch.tensor(int(row_valid.sum()), dtype=torch.int64),
    )


def _numba_backward(hidden, states, pos, neg, row_mask, packed, scale, chunk_elements):
    import numpy as np

    from mfa_engine.kernels.tm_cpu import tm_bwd_rows

    N, H = hidden.shape
    st, p, n, m = _np_args(states, pos, neg, row_mask, N)
    s = np.float32(scale.item())
    grad = torch.empty_like(hidden)
    if hidden.dtype == torch.float32:
        tm_bwd_rows(hidden.detach().numpy(), st, bool(packed), p, n, m, 0, s, grad.numpy())
        return grad
    for r0, r1 in _chunks(N, H, chunk_elements):
        g32 = np.empty((r1 - r0, H), dtype=np.float32)
        tm_bwd_rows(hidden[r0:r1].detach().float().numpy(), st, bool(packed), p, n, m, r0, s, g32)
        grad[r0:r1] = torch.from_numpy(g32)
    return grad


def _bounds(pos: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Upper and lower bound tables ``[4, H]`` indexed by state code (0 neg .. 3 padding)."""
    inf = torch.full_like(pos, float("inf"))
    upper = torch.stack([neg, pos, inf, inf])
    lower = torch.stack([-inf, neg, pos, -inf])
    return upper, lower


def _n_rows(hidden: torch.Tensor) -> int:
    """Number of rows (0 for empty inputs, which take the torch path)."""
    return int(hidden.shape[0]) if hidden.numel() else 0


def _chunks(N: int, H: int, chunk_elements: int):
    rows = max(1, int(chunk_elements) // max(H, 1))
    for r0 in range(0, N, rows):
        yield r0, min(N, r0 + rows)


def _chunk_codes(
    states: torch.Tensor, packed: bool, mask: torch.Tensor | None, r0: int, r1: int, H: int
) -> torch.Tensor:
    """int64 codes ``[r1 - r0, H]`` of a chunk of rows, masked rows set to padding (3)."""
    if packed:
        c = unpack_byte_range(states, r0 * H, r1 * H).view(r1 - r0, H).to(torch.int64)
    else:
        c = states[r0 * H : r1 * H].view(r1 - r0, H).to(torch.int64)
    if mask is not None:
        c.masked_fill_((mask[r0:r1] == 0).unsqueeze(1), 3)
    return c


def tm_loss_forward_chunked(
    hidden: torch.Tensor,
    states: torch.Tensor,
    pos: torch.Tensor,
    neg: torch.Tensor,
    row_mask: torch.Tensor | None,
    packed: bool,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Loss sum, nonzero count and valid count of the TM loss, chunk by chunk.

    Args:
        hidden: ``[N, H]`` contiguous, fp32 / bf16 / fp16 (computed in fp32).
        states: packed ``uint8 [ceil(N*H/4)]`` when ``packed`` else flat int8 codes ``[N*H]``.
        pos, neg: ``fp32 [H]`` thresholds.
        row_mask: ``[N]`` (nonzero = token) or None.
        packed: whether ``states`` is packed.
        chunk_elements: approximate elements per chunk.

    Returns:
        ``(loss_sum fp32 [], nonzero_count int64 [], valid_count int64 [])``.
    """
    if _numba_ok(hidden) and _n_rows(hidden):
        return _numba_forward(hidden, states, pos, neg, row_mask, packed, chunk_elements)
    N, H = hidden.shape
    upper, lower = _bounds(pos, neg)
    total = torch.zeros((), dtype=torch.float64, device=hidden.device)
    nnz = torch.zeros((), dtype=torch.int64, device=hidden.device)
    nvalid = torch.zeros((), dtype=torch.int64, device=hidden.device)
    for r0, r1 in _chunks(N, H, chunk_elements):
        c = _chunk_codes(states, packed, row_mask, r0, r1, H)
        h = hidden[r0:r1].float()
        over = h - torch.gather(upper, 0, c)
        under = torch.gather(lower, 0, c).sub_(h)
        loss = over.clamp_min_(0.0).add_(under.clamp_min_(0.0))
        total += loss.sum(dtype=torch.float64)
        nnz += torch.count_nonzero(loss)
        nvalid += torch.count_nonzero(c != 3)
    return total.to(torch.float32), nnz, nvalid


def tm_loss_backward_chunked(
    hidden: torch.Tensor,
    states: torch.Tensor,
    pos: torch.Tensor,
    neg: torch.Tensor,
    row_mask: torch.Tensor | None,
    packed: bool,
    scale: torch.Tensor,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> torch.Tensor:
    """Gradient ``sign * scale`` of the TM loss sum, chunk by chunk.

    Args:
        hidden, states, pos, neg, row_mask, packed: as :func:`tm_loss_forward_chunked`.
        scale: fp32 scalar, ``grad_output / denominator``.

    Returns:
        ``[N, H]`` gradient in hidden's dtype (0 for padding and ties).
    """
    if _numba_ok(hidden) and _n_rows(hidden):
        return _numba_backward(hidden, states, pos, neg, row_mask, packed, scale, chunk_elements)
    N, H = hidden.shape
    upper, lower = _bounds(pos, neg)
    grad = torch.empty_like(hidden)
    s = scale.to(torch.float32)
    for r0, r1 in _chunks(N, H, chunk_elements):
        c = _chunk_codes(states, packed, row_mask, r0, r1, H)
        h = hidden[r0:r1].float()
        sign = torch.gt(h, torch.gather(upper, 0, c)).to(torch.float32)
        sign -= torch.lt(h, torch.gather(lower, 0, c)).to(torch.float32)
        grad[r0:r1] = sign.mul_(s)
    return grad
