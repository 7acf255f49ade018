import pytest
import torch

from mfa_engine.errors import ConfigError
from mfa_engine.tm import naive_tm_loss


def test_hand_computed():
    pos = torch.tensor([1.0, 1.0])
    neg = torch.tensor([-1.0, -1.0])
    ref = torch.tensor([[[-2.0, 0.0], [2.0, 0.5]]])  # states: neg, neutral / pos, neutral
    h = torch.tensor([[[0.5, 3.0], [0.25, -1.5]]], requires_grad=True)
    # neg: relu(0.5+1)=1.5; neutral: relu(3-1)+relu(-1-3)=2; pos: relu(1-0.25)=0.75; neutral: relu(-1+1.5)=0.5
    total = 1.5 + 2.0 + 0.75 + 0.5
    assert naive_tm_loss(h, ref, pos, neg, reduction="sum").item() == pytest.approx(total)
    assert naive_tm_loss(h, ref, pos, neg, reduction="mean").item() == pytest.approx(total / 4)
    loss = naive_tm_loss(h, ref, pos, neg)
    assert loss.item() == pytest.approx(total / (4 + 1e-8))
    loss.backward()
    assert h.grad.flatten().tolist() == pytest.approx([0.25, 0.25, -0.25, -0.25])


def test_mask_and_empty():
    pos, neg = torch.ones(3), -torch.ones(3)
    ref = torch.zeros(2, 2, 3)
    h = torch.full((2, 2, 3), 2.0)
    mask = torch.tensor([[1, 0], [0, 0]])
    assert naive_tm_loss(h, ref, pos, neg, mask, "sum").item() == pytest.approx(3.0)
    assert naive_tm_loss(h, ref, pos, neg, mask, "mean").item() == pytest.approx(1.0)
    zero = torch.zeros(2, 2)
    for red in ("sum", "mean", "nonzero_mean"):
        assert naive_tm_loss(h, ref, pos, neg, zero, red).item() == 0.0
    with pytest.raises(ConfigError, match="reduction"):
        naive_tm_loss(h, ref, pos, neg, reduction="max")
