"""Every GPU launcher refuses shapes and alignments that would drop rows or read out of bounds
(checked before any kernel or CuPy is touched, so these run on CPU tensors)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mfa_engine.kernels import cupy_paths
from mfa_engine.kernels.launch_checks import (
    check_count,
    check_csr_round,
    check_minplus_aligned,
)


def _t(k: int, s: int, j: int, dtype=torch.float32):
    return torch.full((k, s), 1.0, dtype=dtype), torch.full((k, j), 1.0, dtype=dtype), torch.empty((j, s), dtype=dtype)


def test_aligned_shapes_pass() -> None:
    d, w, o = _t(16, 128, 256)
    check_minplus_aligned(d, w, o, 100, 200, k_tile=16, s_tile=128, j_tile=128)


@pytest.mark.parametrize("k,s,j,s_n,j_n", [(12, 128, 128, 1, 1), (17, 128, 128, 1, 1), (16, 130, 128, 1, 1),
                                            (16, 128, 100, 1, 1), (16, 128, 128, 129, 1), (16, 128, 128, 1, 200)])  # fmt: skip
def test_bad_shapes_are_refused(k: int, s: int, j: int, s_n: int, j_n: int) -> None:
    d, w, o = _t(k, s, j)
    with pytest.raises(ValueError):
        check_minplus_aligned(d, w, o, s_n, j_n, k_tile=16, s_tile=128, j_tile=128)


def test_misaligned_or_mixed_tensors_are_refused() -> None:
    d, w, o = _t(16, 128, 128)
    big = torch.ones(17, 129)
    with pytest.raises(ValueError, match="16-byte"):
        check_minplus_aligned(big[1:, 1:], w, o, 1, 1, k_tile=16, s_tile=128, j_tile=128)
    with pytest.raises(ValueError, match="dtype"):
        check_minplus_aligned(d.double(), w, o, 1, 1, k_tile=16, s_tile=128, j_tile=128)
    with pytest.raises(ValueError, match="match"):
        check_minplus_aligned(d, w, torch.empty(128, 256), 1, 1, k_tile=16, s_tile=128, j_tile=128)


def test_triton_launcher_refuses_a_k_tail() -> None:
    from mfa_engine.kernels.layered_minplus import launch_aligned, tile_config

    cfg = tile_config(9)
    d, w, o = _t(12, 128, 128)  # K = 12: not a multiple of UNROLL = 8, the last 4 rows would be dropped
    with pytest.raises(ValueError, match="multiple of 8"):
        launch_aligned(d, w, o, 1, 1, thr=1.0, accumulate=False, finalize=True, hist=None, flags=None, gsrc=None,
                       radii=None, gamma=0.0, cfg=cfg)  # fmt: skip


@pytest.mark.parametrize("dtype,k", [(torch.float32, 8), (torch.float32, 24), (torch.float64, 4)])
def test_cuda_launcher_refuses_k_not_a_multiple_of_its_k_tile(dtype, k: int) -> None:
    """The CUDA kernel's K tile is 16 (float) / 8 (double): it used to drop the tail silently."""
    d, w, o = _t(k, 128, 128, dtype)
    with pytest.raises(ValueError, match="multiple of"):
        cupy_paths.layered_minplus_aligned(d, w, o, 1, 1, thr=1.0, accumulate=False, finalize=True)


def test_csr_and_count_checks() -> None:
    n, s_n = 5, 40
    bits = torch.zeros((n, s_n), dtype=torch.int64)
    act = torch.zeros((n, s_n), dtype=torch.int8)
    node = torch.zeros((n, 2), dtype=torch.int8)
    indptr, cols, w = torch.zeros(n + 1), torch.zeros(3), torch.zeros(3)
    check_csr_round(indptr, cols, w, bits, act, act, node, node, 32)
    with pytest.raises(ValueError, match="node_in"):
        check_csr_round(indptr, cols, w, bits, act, act, torch.zeros((n, 1)), node, 32)
    with pytest.raises(ValueError, match="indptr"):
        check_csr_round(torch.zeros(n), cols, w, bits, act, act, node, node, 32)
    check_count(bits, torch.zeros((s_n, 4)), np.zeros(3))
    with pytest.raises(ValueError, match="hist"):
        check_count(bits, torch.zeros((s_n, 3)), np.zeros(3))
