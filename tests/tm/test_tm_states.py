import pytest
import torch

from mfa_engine.errors import ConfigError
from mfa_engine.tm import PackedStates, pack_states, states_from_reference, unpack_states
from mfa_engine.tm.states import codes_from_reference, packed_nbytes, unpack_byte_range


@pytest.mark.parametrize("shape", [(1,), (3,), (4,), (5,), (2, 3, 7), (3, 1, 384), (2, 5, 13)])
def test_pack_unpack_roundtrip(shape):
    g = torch.Generator().manual_seed(len(shape) * 31 + shape[-1])
    codes = torch.randint(0, 4, shape, generator=g, dtype=torch.int8)
    ps = pack_states(codes)
    assert ps.shape == shape and ps.nbytes == packed_nbytes(codes.numel())
    assert torch.equal(unpack_states(ps), codes)
    assert torch.equal(pack_states(codes.numpy()).data, ps.data)


def test_bit_layout():
    ps = pack_states(torch.tensor([0, 1, 2, 3, 2], dtype=torch.int8))
    # element i at bits 2*(i % 4) of byte i // 4; unused slots are padding (3)
    assert ps.data.tolist() == [0 | 1 << 2 | 2 << 4 | 3 << 6, 2 | 3 << 2 | 3 << 4 | 3 << 6]


def test_unpack_byte_range_unaligned():
    codes = torch.randint(0, 3, (50,), generator=torch.Generator().manual_seed(1), dtype=torch.int8)
    ps = pack_states(codes)
    for a, b in [(0, 50), (3, 17), (5, 6), (13, 49)]:
        assert torch.equal(unpack_byte_range(ps.data, a, b).to(torch.int8), codes[a:b])


def test_states_from_reference_ties():
    pos = torch.tensor([1.0, 1.0, 1.0, 0.5])
    neg = torch.tensor([-1.0, -1.0, -1.0, 0.5])
    ref = torch.tensor([[1.0, -1.0, 0.0, 0.5], [2.0, -3.0, 0.999, 0.6]])
    codes = codes_from_reference(ref, pos, neg)
    # ref == pos -> pos (2); ref == neg -> neg (0); double tie -> neg
    assert codes.tolist() == [[2, 0, 1, 0], [2, 0, 1, 2]]
    assert torch.equal(states_from_reference(ref, pos, neg).unpack(), codes)


def test_packed_is_16x_smaller_than_fp32():
    ps = pack_states(torch.zeros(8, 16, 384, dtype=torch.int8))
    assert ps.nbytes * 16 == 8 * 16 * 384 * 4


def test_invalid_codes_and_sizes():
    with pytest.raises(ConfigError, match="0..3"):
        pack_states(torch.tensor([0, 4]))
    with pytest.raises(TypeError):
        pack_states(torch.tensor([0.0]))
    with pytest.raises(ConfigError, match="needs"):
        PackedStates(torch.zeros(3, dtype=torch.uint8), (2, 8))
