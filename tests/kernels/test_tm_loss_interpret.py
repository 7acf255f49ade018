"""Triton TM loss kernels under the Triton interpreter (tiny fp32 shapes) against the reference.

Triton reads TRITON_INTERPRET when ``triton`` (and each ``@triton.jit`` module) is imported, so
these cases only run in a process started with TRITON_INTERPRET=1; test_tm_loss_triton.py
starts such a subprocess. In an ordinary test process this module skips without importing
triton, so it cannot disturb other kernel tests.
"""

import os

import pytest

if os.environ.get("TRITON_INTERPRET") != "1":
    pytest.skip("runs only with TRITON_INTERPRET=1 (see test_tm_loss_triton.py)", allow_module_level=True)

import torch  # noqa: E402

pytest.importorskip("triton")

from mfa_engine.tm import naive_tm_loss, pack_states, tm_loss  # noqa: E402
from mfa_engine.tm.states import codes_from_reference  # noqa: E402


def _problem(B, T, H, seed, mask):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(H, generator=g) * 0.3
    sigma = torch.rand(H, generator=g) * 0.5 + 0.5
    pos, neg = mu + sigma, mu - sigma
    ref = mu + sigma * torch.randn(B, T, H, generator=g) * 1.2
    h = mu + sigma * torch.randn(B, T, H, generator=g) * 1.2
    sel = torch.rand(B, T, H, generator=g)
    h = torch.where(sel < 0.1, pos.expand_as(h), torch.where(sel > 0.9, neg.expand_as(h), h))  # exact ties
    m = None
    if mask != "none":
        m = (torch.rand(B, T, generator=g) > 0.3).to(torch.int64)
        if mask == "padrow":
            m[0] = 0
    return h.contiguous(), ref, pos, neg, m


CASES = [
    # every reduction x mask x state format on one odd shape ...
    *[((2, 3, 5), mask, red, packed) for mask in ("none", "padrow") for red in ("nonzero_mean", "mean", "sum")
      for packed in (True, False)],
    # ... and odd / multi-block shapes (H = 2100 loops over two BLOCK_H = 2048 blocks)
    ((1, 1, 1), "none", "nonzero_mean", True),
    ((1, 4, 37), "padrow", "nonzero_mean", True),
    ((1, 4, 37), "random", "mean", False),
    ((1, 2, 2100), "padrow", "nonzero_mean", True),
    ((1, 2, 2100), "none", "sum", False),
    # rows that start on a byte (H % 4 == 0): packed codes unpacked in registers, partial last block
    ((2, 3, 12), "padrow", "nonzero_mean", True),
    ((1, 2, 8), "random", "sum", True),
]


@pytest.mark.parametrize("shape,mask,reduction,packed", CASES)
def test_triton_matches_reference(shape, mask, reduction, packed):
    h, ref, pos, neg, m = _problem(*shape, seed=sum(shape), mask=mask)
    codes = codes_from_reference(ref, pos, neg)
    states = pack_states(codes) if packed else codes
    x = h.clone().requires_grad_(True)
    loss = tm_loss(x, states, pos, neg, m, reduction, backend="triton")
    (g,) = torch.autograd.grad(loss, x, grad_outputs=torch.tensor(2.5))
    y = h.clone().requires_grad_(True)
    ref_loss = naive_tm_loss(y, ref, pos, neg, m, reduction)
    (ref_g,) = torch.autograd.grad(ref_loss, y, grad_outputs=torch.tensor(2.5))
    torch.testing.assert_close(loss, ref_loss.detach(), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(g, ref_g, rtol=1e-6, atol=0)


def test_triton_ties_and_all_neutral():
    pos, neg = torch.ones(4), -torch.ones(4)
    codes = torch.tensor([[[0, 1, 1, 2]]], dtype=torch.int8)
    x = torch.tensor([[[-1.0, 1.0, -1.0, 1.0]]], requires_grad=True)
    loss = tm_loss(x, pack_states(codes), pos, neg, reduction="sum", backend="triton")
    (g,) = torch.autograd.grad(loss, x)
    assert loss.item() == 0.0 and not g.any()
    neutral = torch.ones(2, 3, 4, dtype=torch.int8)
    x = (torch.rand(2, 3, 4) * 1.8 - 0.9).requires_grad_(True)
    loss = tm_loss(x, neutral, pos, neg, backend="triton")
    (g,) = torch.autograd.grad(loss, x)
    assert loss.item() == 0.0 and not g.any()


def test_triton_matches_cpu_backend():
    h, ref, pos, neg, m = _problem(2, 3, 19, seed=4, mask="random")
    states = pack_states(codes_from_reference(ref, pos, neg))
    a = tm_loss(h, states, pos, neg, m, backend="triton")
    b = tm_loss(h, states, pos, neg, m, backend="cpu")
    torch.testing.assert_close(a, b, rtol=1e-6, atol=0)
