"""Naive plain-torch TM loss (GeRe, arXiv 2508.04676): the oracle every backend is tested against."""

from __future__ import annotations

from typing import Any

import torch

from mfa_engine.errors import ConfigError

__all__ = ["REDUCTIONS", "naive_tm_loss", "eager_tm_loss_from_codes"]

REDUCTIONS = ("nonzero_mean", "mean", "sum")


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ConfigError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _reduce(elem: torch.Tensor, n_valid: torch.Tensor, reduction: str) -> torch.Tensor:
    total = elem.sum()
    if reduction == "sum":
        return total
    if reduction == "mean":
        return total / n_valid.clamp(min=1)
    count = (elem > 0).sum().detach()
    return total / (count + 1e-8)


def naive_tm_loss(
    hidden: torch.Tensor,
    ref_hidden: torch.Tensor,
    pos_thr: Any,
    neg_thr: Any,
    mask: torch.Tensor | None = None,
    reduction: str = "nonzero_mean",
) -> torch.Tensor:
    """Eager TM loss straight from GeRe's definition (materialises several full-size tensors).

    States from the reference activation: neg (ref <= neg_thr; wins a double tie), pos
    (ref >= pos_thr), neutral otherwise. Element loss: neg: relu(h - neg), neutral:
    relu(h - pos) + relu(neg - h), pos: relu(pos - h). Masked (padding) tokens contribute 0.

    Args:
        hidden: ``[B, T, H]`` (or ``[..., H]``) current hidden states, differentiable.
        ref_hidden: reference hidden states, same shape.
        pos_thr: ``[H]`` upper thresholds (mu + k sigma).
        neg_thr: ``[H]`` lower thresholds (mu - k sigma).
        mask: ``[B, T]`` (``hidden.shape[:-1]``), 1 = token, 0 = padding; None = all tokens.
        reduction: "nonzero_mean" (sum / (number of elements with loss > 0 + 1e-8), the count
            detached), "mean" (sum / number of unmasked elements; 0 if there are none) or "sum".

    Returns:
        Scalar loss in the promoted dtype of ``hidden`` and the thresholds.
    """
    _check_reduction(reduction)
    pos = torch.as_tensor(pos_thr, device=hidden.device)
    neg = torch.as_tensor(neg_thr, device=hidden.device)
    is_neg = ref_hidden <= neg
    is_pos = (ref_hidden >= pos) & ~is_neg
    is_neu = ~is_neg & ~is_pos
    elem = (
        is_neg * torch.relu(hidden - neg)
        + is_neu * (torch.relu(hidden - pos) + torch.relu(neg - hidden))
        + is_pos * torch.relu(pos - hidden)
    )
    n_valid = _valid_count(hidden, mask)
    if mask is not None:  # select, not multiply: NaN or inf at a masked token must not leak (NaN * 0 is NaN)
        elem = torch.where((mask != 0).unsqueeze(-1), elem, torch.zeros((), dtype=elem.dtype, device=elem.device))
    return _reduce(elem, n_valid, reduction)


def _valid_count(hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    H = hidden.shape[-1]
    if mask is None:
        return torch.tensor(hidden.numel(), device=hidden.device)
    return (mask != 0).sum() * H


def eager_tm_loss_from_codes(
    hidden: torch.Tensor,
    codes: torch.Tensor,
    pos_thr: torch.Tensor,
    neg_thr: torch.Tensor,
    mask: torch.Tensor | None = None,
    reduction: str = "nonzero_mean",
) -> torch.Tensor:
    """Eager TM loss from state codes (the ``backend="torch"`` path; autograd does the backward).

    Args:
        hidden: ``[..., H]``.
        codes: integer codes of hidden's shape (0 neg, 1 neutral, 2 pos, 3 padding).
        pos_thr, neg_thr: ``[H]`` thresholds.
        mask: ``hidden.shape[:-1]`` token mask or None.
        reduction: as :func:`naive_tm_loss`; "mean" counts unmasked non-padding elements.
    """
    _check_reduction(reduction)
    h = hidden.float()
    c = codes.to(torch.int64)
    pos = pos_thr.float()
    neg = neg_thr.float()
    over = torch.where(c == 0, h - neg, torch.where(c == 1, h - pos, torch.zeros_like(h)))
    under = torch.where(c == 2, pos - h, torch.where(c == 1, neg - h, torch.zeros_like(h)))
    elem = torch.relu(over) + torch.relu(under)
    valid = c != 3
    if mask is not None:
        valid = valid & (mask != 0).unsqueeze(-1)
    elem = torch.where(valid, elem, torch.zeros((), dtype=elem.dtype, device=elem.device))  # NaN * 0 is NaN
    return _reduce(elem, valid.sum(), reduction)
