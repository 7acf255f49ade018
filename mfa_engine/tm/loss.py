"""Fused TM loss: functional ``tm_loss``, the ``TMLoss`` module and backend dispatch.

Backends: "triton" (fused kernels of ``mfa_engine.kernels.tm_loss``; CUDA tensors, or CPU
tensors when the process runs the Triton interpreter, ``TRITON_INTERPRET=1``), "cpu" (fused numba
kernels on CPU, torch on row chunks elsewhere; same memory behaviour), "torch" (eager formula + autograd, the
baseline) and "auto" (triton for CUDA tensors when Triton is installed, else cpu).

Gradient convention: for "nonzero_mean" the count of nonzero elements is a constant (detached,
as in GeRe's code), so d loss / d h = sign / (count + 1e-8), where sign = +1 above the band,
-1 below it, and 0 inside it, at a tie, on padding and on masked tokens.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mfa_engine import _device
from mfa_engine.errors import ConfigError
from mfa_engine.tm.cpu import DEFAULT_CHUNK_ELEMENTS, tm_loss_backward_chunked, tm_loss_forward_chunked
from mfa_engine.tm.naive import REDUCTIONS, eager_tm_loss_from_codes
from mfa_engine.tm.states import PackedStates, unpack_states

__all__ = ["BACKENDS", "tm_loss", "TMLoss", "resolve_backend"]

BACKENDS = ("auto", "triton", "cpu", "torch")


def resolve_backend(backend: str, device: torch.device) -> str:
    """Backend actually used for tensors on ``device`` ("triton", "cpu" or "torch"; see
    :func:`mfa_engine._device.resolve_backend`)."""
    return _device.resolve_backend(backend, BACKENDS, "TM loss", cuda=device.type == "cuda")


class _TMLossFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, hidden, states, pos, neg, row_mask, packed, reduction, impl, chunk):  # type: ignore[override]
        if impl == "triton":
            from mfa_engine.kernels.tm_loss import tm_loss_forward

            total, nnz, nvalid = tm_loss_forward(hidden, states, pos, neg, row_mask, packed)
        else:
            total, nnz, nvalid = tm_loss_forward_chunked(hidden, states, pos, neg, row_mask, packed, chunk)
        if reduction == "sum":
            denom = torch.ones((), dtype=torch.float32, device=hidden.device)
        elif reduction == "mean":
            denom = nvalid.clamp(min=1).to(torch.float32)
        else:
            denom = nnz + 1e-8
            denom = denom.to(torch.float32)
        ctx.save_for_backward(hidden, states, pos, neg, row_mask if row_mask is not None else states, denom)
        ctx.has_mask = row_mask is not None
        ctx.packed, ctx.reduction, ctx.impl, ctx.chunk = packed, reduction, impl, chunk
        return total / denom

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor):  # type: ignore[override]
        hidden, states, pos, neg, row_mask, denom = ctx.saved_tensors
        row_mask = row_mask if ctx.has_mask else None
        if ctx.impl == "triton":
            from mfa_engine.kernels.tm_loss import tm_loss_backward

            grad = tm_loss_backward(
                hidden, states, pos, neg, row_mask, ctx.packed, grad_output, denom, ctx.reduction
            )
        else:
            scale = grad_output.to(torch.float32) / denom
            grad = tm_loss_backward_chunked(hidden, states, pos, neg, row_mask, ctx.packed, scale, ctx.chunk)
        return grad, None, None, None, None, None, None, None, None


def _as_thresholds(thr: Any, H: int, device: torch.device, name: str) -> torch.Tensor:
    t = torch.as_tensor(thr).to(device=device, dtype=torch.float32).reshape(-1).contiguous()
    if t.numel() != H:
        raise ConfigError(f"{name} must have hidden size {H} elements, got {t.numel()}")
    return t


def tm_loss(
    hidden: torch.Tensor,
    states: PackedStates | torch.Tensor,
    pos_thr: Any,
    neg_thr: Any,
    mask: torch.Tensor | None = None,
    reduction: str = "nonzero_mean",
    backend: str = "auto",
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> torch.Tensor:
    """Threshold-margin loss of GeRe, fused (no full-size temporaries), differentiable in ``hidden``.

    Args:
        hidden: ``[B, T, H]`` (any ``[..., H]``) fp32 / bf16 / fp16 current hidden states.
        states: :class:`PackedStates` of hidden's shape, or integer codes of hidden's shape
            (0 neg, 1 neutral, 2 pos, 3 padding = ignored).
        pos_thr: ``[H]`` upper thresholds (tensor or array; used as fp32).
        neg_thr: ``[H]`` lower thresholds.
        mask: ``[B, T]`` (``hidden.shape[:-1]``) with 1 = token, 0 = padding, or None.
        reduction: "nonzero_mean" (sum / (count of elements with loss > 0 + 1e-8), count
            detached), "mean" (sum / unmasked non-padding elements, 0 when there are none) or "sum".
        backend: "auto", "triton", "cpu" or "torch" (see module docstring).
        chunk_elements: chunk size of the "cpu" backend.

    Returns:
        fp32 scalar loss (accumulated in fp32 per row / chunk, fp64 across them).

    Raises:
        ConfigError: on shape, dtype or option mismatches.
        BackendError: if the backend is unavailable for these tensors (unknown: ConfigError).
    """
    if reduction not in REDUCTIONS:
        raise ConfigError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if not hidden.dtype.is_floating_point:
        raise ConfigError(f"hidden must be floating point, got {hidden.dtype}")
    if hidden.dim() < 1:
        raise ConfigError("hidden must have a last (hidden size) dimension")
    shape = tuple(hidden.shape)
    H = shape[-1]
    N = hidden.numel() // H if H else 0
    impl = resolve_backend(backend, hidden.device)
    if isinstance(states, PackedStates):
        if tuple(states.shape) != shape:
            raise ConfigError(f"states have shape {tuple(states.shape)}, hidden has {shape}")
        packed = True
        st = states.data.to(hidden.device)
    elif isinstance(states, torch.Tensor):
        if tuple(states.shape) != shape:
            raise ConfigError(f"state codes have shape {tuple(states.shape)}, hidden has {shape}")
        if states.dtype.is_floating_point or states.dtype == torch.bool:
            raise ConfigError(f"state codes must be an integer tensor, got {states.dtype}")
        if states.numel():
            lo, hi = int(states.min()), int(states.max())
            if lo < 0 or hi > 3:
                raise ConfigError(
                    f"state codes must be in 0..3 (0 neg, 1 neutral, 2 pos, 3 padding), got a "
                    f"code {lo if lo < 0 else hi}"
                )
        packed = False
        st = states.to(device=hidden.device, dtype=torch.int8).reshape(-1).contiguous()
    else:
        raise TypeError(f"states must be PackedStates or an int8 tensor, got {type(states).__name__}")
    pos = _as_thresholds(pos_thr, H, hidden.device, "pos_thr")
    neg = _as_thresholds(neg_thr, H, hidden.device, "neg_thr")
    row_mask = None
    if mask is not None:
        if tuple(mask.shape) != shape[:-1]:
            raise ConfigError(f"mask must have shape {shape[:-1]}, got {tuple(mask.shape)}")
        row_mask = (mask.reshape(-1) != 0).to(device=hidden.device, dtype=torch.int8).contiguous()
    if impl == "torch":
        codes = unpack_states(PackedStates(st, shape)) if packed else st.view(shape)
        return eager_tm_loss_from_codes(hidden, codes, pos, neg, mask, reduction)
    h2 = hidden.reshape(N, H)
    if not h2.is_contiguous():
        h2 = h2.contiguous()
    return _TMLossFunction.apply(h2, st, pos, neg, row_mask, packed, reduction, impl, int(chunk_elements))


class TMLoss(nn.Module):
    """Module form of :func:`tm_loss` with fixed thresholds (registered as buffers).

    Args:
        pos_thr: ``[H]`` upper thresholds.
        neg_thr: ``[H]`` lower thresholds.
        reduction: "nonzero_mean", "mean" or "sum".
        backend: "auto", "triton", "cpu" or "torch".
    """

    def __init__(self, pos_thr: Any, neg_thr: Any, reduction: str = "nonzero_mean", backend: str = "auto") -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ConfigError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.register_buffer("pos_thr", torch.as_tensor(pos_thr).to(torch.float32).reshape(-1).clone())
        self.register_buffer("neg_thr", torch.as_tensor(neg_thr).to(torch.float32).reshape(-1).clone())
        self.reduction = reduction
        self.backend = backend

    def forward(
        self, hidden: torch.Tensor, states: PackedStates | torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Loss of ``hidden [B, T, H]`` against ``states`` with token ``mask [B, T]``."""
        return tm_loss(hidden, states, self.pos_thr, self.neg_thr, mask, self.reduction, self.backend)

    def extra_repr(self) -> str:
        return f"hidden={self.pos_thr.numel()}, reduction={self.reduction!r}, backend={self.backend!r}"
