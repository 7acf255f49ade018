"""Shared helpers of the TM tests: random problems with exact ties and all-padding rows."""

from __future__ import annotations

import pytest
import torch


def make_problem(B: int, T: int, H: int, seed: int = 0, mask: str = "none", ties: bool = True):
    """Random hidden / reference / thresholds with ties and optional padding.

    Returns:
        dict with hidden fp32 [B, T, H], ref fp32 [B, T, H], pos / neg fp32 [H], mask ([B, T] or None).
    """
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(H, generator=g) * 0.3
    sigma = torch.rand(H, generator=g) * 0.5 + 0.5
    pos, neg = mu + sigma, mu - sigma
    ref = mu + sigma * torch.randn(B, T, H, generator=g) * 1.2
    hidden = mu + sigma * torch.randn(B, T, H, generator=g) * 1.2
    if ties:
        # exact ties: some hidden elements equal a threshold, some reference elements too
        sel = torch.rand(B, T, H, generator=g)
        hidden = torch.where(sel < 0.1, pos.expand_as(hidden), hidden)
        hidden = torch.where((sel >= 0.1) & (sel < 0.2), neg.expand_as(hidden), hidden)
        sel2 = torch.rand(B, T, H, generator=g)
        ref = torch.where(sel2 < 0.05, pos.expand_as(ref), ref)
        ref = torch.where((sel2 >= 0.05) & (sel2 < 0.1), neg.expand_as(ref), ref)
    m = None
    if mask != "none":
        m = (torch.rand(B, T, generator=g) > 0.3).to(torch.int64)
        if mask == "padrow":
            m[0] = 0  # an all-padding row
    return {"hidden": hidden.contiguous(), "ref": ref.contiguous(), "pos": pos, "neg": neg, "mask": m}


@pytest.fixture
def problem():
    return make_problem
