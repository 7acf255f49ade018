"""CuPy RawKernel loader and launchers for the CUDA sources in ``cuda/``.

The sources are plain CUDA C++ (``cuda/layered_minplus.cu``, ``cuda/csr_relax.cu``); CuPy compiles
them with NVRTC on first use. ``mfa kernels check`` compiles the same files with ``nvcc`` for
sm_80 and sm_90 (see :data:`CUDA_SOURCES`). Launchers accept CuPy arrays or CUDA torch tensors
(zero-copy through ``__cuda_array_interface__``). CuPy is imported lazily.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

__all__ = ["CUDA_SOURCES", "cuda_source", "layered_minplus_step", "csr_relax_round"]

#: CUDA source files (relative to this package) and the kernels each defines.
CUDA_SOURCES: dict[str, list[str]] = {
    "cuda/layered_minplus.cu": ["layered_minplus_step"],
    "cuda/csr_relax.cu": ["csr_relax_round"],
}

_TILE = 64


def cuda_source(path: str) -> str:
    """Text of a CUDA source shipped with the package (e.g. ``"cuda/csr_relax.cu"``)."""
    return resources.files("mfa_engine.kernels").joinpath(path).read_text()


@functools.lru_cache(maxsize=None)
def _kernel(path: str, name: str) -> Any:
    import cupy

    module = cupy.RawModule(code=cuda_source(path), options=("--std=c++17",))
    return module.get_function(name)


def _cp(x: Any) -> Any:
    import cupy

    return cupy.asarray(x)


def layered_minplus_step(
    d, w, out, *, thr: float, accumulate: bool = False, finalize: bool = True, counts=None, flags=None,
    radii=None, gamma: float = 0.0,
) -> None:
    """Launch ``layered_minplus_step`` (same contract as the Triton launcher).

    Args:
        d: float32 [S, K] (unit column stride). w: float32 [K, J]. out: float32 [S, J].
        thr: Inclusive cutoff. accumulate, finalize: Mode flags.
        counts: int64 [S, R] cumulative counts to add to, or None. flags: int8 [S].
        radii: float32 [R]. gamma: Relative rounding bound for the flags.
    """
    import cupy
    import numpy as np

    d, w, out = _cp(d), _cp(w), _cp(out)
    s_n, k_n = d.shape
    j_n = w.shape[1]
    if s_n == 0 or j_n == 0:
        return
    count = counts is not None
    if count:
        counts, flags, radii = _cp(counts), _cp(flags), _cp(radii).astype(cupy.float32)
        r_n = int(radii.shape[0])
    else:
        counts = cupy.zeros((1, 1), cupy.int64)
        flags = cupy.zeros(1, cupy.int8)
        radii = cupy.zeros(1, cupy.float32)
        r_n = 0
    shmem = ((r_n + 1) * _TILE + r_n) * 4 if count else 0
    grid = ((j_n + _TILE - 1) // _TILE, (s_n + _TILE - 1) // _TILE)
    item = d.itemsize
    _kernel("cuda/layered_minplus.cu", "layered_minplus_step")(
        grid, (16, 16),
        (d, w, out, counts, flags, radii, np.int64(s_n), np.int64(k_n), np.int64(j_n), np.int64(r_n),
         np.int64(d.strides[0] // item), np.int64(w.strides[0] // item), np.int64(out.strides[0] // item),
         np.float32(thr), np.float32(gamma), np.int32(accumulate), np.int32(finalize), np.int32(count)),
        shared_mem=shmem,
    )  # fmt: skip


def csr_relax_round(
    rows, cols, w, d, active_in, active_out, changed, *, thr: float, undirected: bool = False
) -> None:
    """Launch ``csr_relax_round`` (same contract as the Triton launcher).

    Args:
        rows, cols: int64 [E]. w: float32 [E]. d: float32 [S, N] contiguous.
        active_in, active_out: int8 [S, N]. changed: int32 [1].
        thr: Inclusive cutoff. undirected: Relax each edge both ways.
    """
    import numpy as np

    rows, cols, w, d = _cp(rows), _cp(cols), _cp(w), _cp(d)
    active_in, active_out, changed = _cp(active_in), _cp(active_out), _cp(changed)
    e_n = int(rows.shape[0])
    s_n, n = d.shape
    if e_n == 0 or s_n == 0:
        return
    grid = ((e_n + 255) // 256, s_n)
    _kernel("cuda/csr_relax.cu", "csr_relax_round")(
        grid, (256,),
        (rows, cols, w, d, active_in, active_out, changed, np.int64(e_n), np.int64(n),
         np.float32(thr), np.int32(undirected)),
    )  # fmt: skip
