"""tm_loss (cpu and torch backends) against naive_tm_loss + autograd."""

import pytest
import torch

from mfa_engine.errors import ConfigError
from mfa_engine.tm import TMLoss, naive_tm_loss, pack_states, states_from_reference, tm_loss
from mfa_engine.tm.states import codes_from_reference

SHAPES = [(1, 1, 1), (2, 3, 5), (3, 7, 37), (2, 5, 130)]


@pytest.fixture(params=["numba", "torch-chunks"])
def cpu_impl(request, monkeypatch):
    """The "cpu" backend's two implementations: numba kernels and the torch-chunk fallback."""
    import mfa_engine.tm.cpu as cpu

    monkeypatch.setattr(cpu, "USE_NUMBA", request.param == "numba")
    return request.param
REDUCTIONS = ["nonzero_mean", "mean", "sum"]


def _ref_and_grad(p, reduction, grad_out, dtype=torch.float32):
    h = p["hidden"].to(dtype).detach().requires_grad_(True)
    loss = naive_tm_loss(h, p["ref"].to(dtype), p["pos"].to(dtype), p["neg"].to(dtype), p["mask"], reduction)
    (g,) = torch.autograd.grad(loss, h, grad_outputs=torch.tensor(grad_out, dtype=loss.dtype))
    return loss.detach(), g


def _ours_and_grad(p, reduction, grad_out, backend, packed, dtype=torch.float32, chunk=64):
    codes = codes_from_reference(p["ref"], p["pos"], p["neg"])
    states = pack_states(codes) if packed else codes
    h = p["hidden"].to(dtype).detach().requires_grad_(True)
    loss = tm_loss(h, states, p["pos"], p["neg"], p["mask"], reduction, backend, chunk_elements=chunk)
    (g,) = torch.autograd.grad(loss, h, grad_outputs=torch.tensor(grad_out, dtype=loss.dtype))
    return loss.detach(), g


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mask", ["none", "random", "padrow"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize("backend,impl", [("cpu", "numba"), ("cpu", "torch-chunks"), ("torch", None)])
def test_matches_reference_fp32(shape, mask, reduction, packed, backend, impl, problem, monkeypatch):
    import mfa_engine.tm.cpu as cpu

    monkeypatch.setattr(cpu, "USE_NUMBA", impl == "numba")
    p = problem(*shape, seed=sum(shape), mask=mask)
    ref_loss, ref_grad = _ref_and_grad(p, reduction, 2.5)
    loss, grad = _ours_and_grad(p, reduction, 2.5, backend, packed)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, ref_loss, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-6, atol=0)


def test_ties_have_zero_gradient(cpu_impl):
    pos = torch.tensor([1.0, 1.0, 1.0, 1.0])
    neg = torch.tensor([-1.0, -1.0, -1.0, -1.0])
    codes = torch.tensor([[[0, 1, 1, 2]]], dtype=torch.int8)  # neg, neutral, neutral, pos
    h = torch.tensor([[[-1.0, 1.0, -1.0, 1.0]]], requires_grad=True)  # each exactly on its threshold
    for backend in ("cpu", "torch"):
        loss = tm_loss(h, pack_states(codes), pos, neg, reduction="sum", backend=backend)
        (g,) = torch.autograd.grad(loss, h)
        assert loss.item() == 0.0
        assert torch.equal(g, torch.zeros_like(g))
    # nudged off the tie by one ulp the gradient appears
    h2 = torch.nextafter(h.detach(), torch.tensor(float("inf"))).requires_grad_(True)
    (g2,) = torch.autograd.grad(tm_loss(h2, codes, pos, neg, reduction="sum", backend="cpu"), h2)
    assert g2.flatten().tolist() == [1.0, 1.0, 0.0, 0.0]


def test_all_neutral_is_zero(cpu_impl):
    H = 11
    pos, neg = torch.ones(H), -torch.ones(H)
    ref = torch.rand(3, 4, H) - 0.5
    h = (torch.rand(3, 4, H) * 1.8 - 0.9).requires_grad_(True)
    states = states_from_reference(ref, pos, neg)
    assert set(states.unpack().unique().tolist()) == {1}
    for reduction in REDUCTIONS:
        loss = tm_loss(h, states, pos, neg, reduction=reduction, backend="cpu")
        (g,) = torch.autograd.grad(loss, h)
        assert loss.item() == 0.0 and not g.any()


@pytest.mark.parametrize("dtype,grad_rtol", [(torch.bfloat16, 2**-8), (torch.float16, 2**-11)])
@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_half_precision_cpu(dtype, grad_rtol, packed, reduction, problem, cpu_impl):
    """bf16 / fp16 hidden, fp32 accumulation. Tolerances: the loss within 1e-5 relative of the
    float64 reference on the (exactly) upcast inputs; the gradient equal to the reference
    gradient rounded to the input dtype within one rounding (rtol = unit roundoff)."""
    p = problem(3, 5, 37, seed=7, mask="padrow")
    p["hidden"] = p["hidden"].to(dtype).float()  # representable in dtype
    ref_loss, ref_grad = _ref_and_grad(p, reduction, 1.5, dtype=torch.float64)
    loss, grad = _ours_and_grad(p, reduction, 1.5, "cpu", packed, dtype=dtype)
    assert grad.dtype == dtype
    torch.testing.assert_close(loss.double(), ref_loss, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(grad.double(), ref_grad, rtol=grad_rtol, atol=0)


def test_chunking_does_not_change_results(problem, cpu_impl):
    p = problem(4, 9, 23, seed=3, mask="random")
    codes = codes_from_reference(p["ref"], p["pos"], p["neg"])
    base = tm_loss(p["hidden"], codes, p["pos"], p["neg"], p["mask"], "sum", "cpu", chunk_elements=1 << 20)
    for chunk in (1, 23, 50, 100):
        other = tm_loss(p["hidden"], pack_states(codes), p["pos"], p["neg"], p["mask"], "sum", "cpu", chunk_elements=chunk)
        torch.testing.assert_close(other, base, rtol=1e-6, atol=0)


def test_padding_code_is_ignored(problem, cpu_impl):
    p = problem(2, 3, 6, seed=5, ties=False)
    codes = codes_from_reference(p["ref"], p["pos"], p["neg"])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    padded = codes.clone()
    padded[mask == 0] = 3
    for reduction in REDUCTIONS:
        a = tm_loss(p["hidden"], codes, p["pos"], p["neg"], mask, reduction, "cpu")
        b = tm_loss(p["hidden"], pack_states(padded), p["pos"], p["neg"], None, reduction, "cpu")
        torch.testing.assert_close(a, b, rtol=1e-6, atol=0)


def test_module_and_non_contiguous_input(problem):
    p = problem(2, 4, 9, seed=11, mask="random")
    mod = TMLoss(p["pos"], p["neg"], reduction="mean", backend="cpu")
    codes = codes_from_reference(p["ref"], p["pos"], p["neg"])
    h_t = p["hidden"].transpose(0, 1).contiguous().transpose(0, 1).requires_grad_(True)  # non-contiguous
    assert not h_t.is_contiguous()
    loss = mod(h_t, codes, p["mask"])
    loss.backward()
    _, ref_grad = _ref_and_grad(p, "mean", 1.0)
    torch.testing.assert_close(loss, naive_tm_loss(p["hidden"], p["ref"], p["pos"], p["neg"], p["mask"], "mean"))
    torch.testing.assert_close(h_t.grad, ref_grad, rtol=1e-6, atol=0)
    assert "reduction='mean'" in repr(mod)


def test_errors(problem):
    p = problem(2, 3, 5)
    codes = codes_from_reference(p["ref"], p["pos"], p["neg"])
    with pytest.raises(ConfigError, match="shape"):
        tm_loss(p["hidden"], codes[:, :2], p["pos"], p["neg"])
    with pytest.raises(ConfigError, match="hidden size"):
        tm_loss(p["hidden"], codes, p["pos"][:4], p["neg"])
    with pytest.raises(ConfigError, match="mask"):
        tm_loss(p["hidden"], codes, p["pos"], p["neg"], mask=torch.ones(2, 4))
    with pytest.raises(ConfigError, match="reduction"):
        tm_loss(p["hidden"], codes, p["pos"], p["neg"], reduction="avg")
    with pytest.raises(ConfigError, match="unknown"):
        tm_loss(p["hidden"], codes, p["pos"], p["neg"], backend="cuda")


def test_import_is_light():
    import subprocess
    import sys

    code = ("import sys, mfa_engine, mfa_engine.tm; import mfa_engine.cli.tm; "
            "print(sorted(m for m in ('torch', 'triton', 'transformers', 'numba') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("bad", [4, 7, -1, 256, 2**40])
@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_codes_outside_0_to_3_are_refused(problem, bad, backend):
    """Codes are never wrapped to int8 (256 -> 0) nor ignored (7 -> like padding)."""
    p = problem(2, 3, 5)
    codes = codes_from_reference(p["ref"], p["pos"], p["neg"]).to(torch.int64)
    codes[1, 2, 3] = bad
    with pytest.raises(ValueError, match=rf"state codes must be in 0..3 .*got a code {bad}"):
        tm_loss(p["hidden"], codes, p["pos"], p["neg"], backend=backend)
