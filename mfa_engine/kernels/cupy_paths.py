"""CuPy RawKernel loader and launchers for the CUDA sources in ``cuda/``.

The sources are plain CUDA C++ (``cuda/layered_minplus.cu``, ``cuda/csr_relax.cu``); CuPy compiles
them with NVRTC on first use. ``mfa kernels check`` compiles the same files with ``nvcc`` for
sm_80 and sm_90 (see :data:`CUDA_SOURCES`). Launchers accept CuPy arrays or CUDA torch tensors
(zero-copy through ``__cuda_array_interface__``). CuPy is imported lazily.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "CUDA_SOURCES", "CUDA_KINDS", "CUDA_USEFUL_PER_TRIP", "CUDA_THREADS", "cuda_source", "layered_minplus_aligned", "csr_relax_round", "count_distances",
]  # fmt: skip

#: CUDA source files (relative to this package) and the kernels each defines.
CUDA_SOURCES: dict[str, list[str]] = {
    "cuda/layered_minplus.cu": ["layered_minplus_f32", "layered_minplus_f64"],
    "cuda/csr_relax.cu": ["csr_relax_exact", "csr_count"],
}

#: SASS gate of each kernel for ``mfa kernels check`` (see docs/gpu.md).
CUDA_KINDS: dict[str, str] = {"layered_minplus_f32": "minplus", "layered_minplus_f64": "minplus_fp64"}
#: Useful instructions per trip of the K loop (the SASS gate checks the count against the tile):
#: 8 x 8 micro-tile x 16 k (one K tile) x (FADD + FMNMX).
CUDA_USEFUL_PER_TRIP: dict[str, int] = {"layered_minplus_f32": 2 * 8 * 8 * 16}
#: Threads per block of each kernel (the occupancy model of ``mfa kernels check``).
CUDA_THREADS: dict[str, int] = {"layered_minplus_f32": 256, "layered_minplus_f64": 256, "csr_relax_exact": 32,
                                "csr_count": 256}  # fmt: skip

_TILE = 128
_STATIC_SMEM = 32 * 1024  # two stages of w and d K tiles (see cuda/layered_minplus.cu)


def cuda_source(path: str) -> str:
    """Text of a CUDA source shipped with the package (e.g. ``"cuda/csr_relax.cu"``).

    The sources live in the repository's top-level ``kernels/cuda/`` (not a Python package) and
    are installed as data of ``mfa_engine.kernels.cuda``; in a clone that is not installed they are
    read from the repository itself.
    """
    sub, _, name = path.rpartition("/")
    if sub != "cuda" or not name.endswith(".cu") or "/" in name:
        raise ValueError(f"not a shipped CUDA source: {path!r} (expected 'cuda/NAME.cu')")
    try:
        res = resources.files("mfa_engine.kernels.cuda").joinpath(name)
        if res.is_file():
            return res.read_text()
    except (ModuleNotFoundError, TypeError):
        pass
    repo_copy = Path(__file__).resolve().parents[2] / "kernels" / "cuda" / name
    return repo_copy.read_text()


@functools.cache
def _kernel(path: str, name: str) -> Any:
    import cupy

    return cupy.RawKernel(cuda_source(path), name, options=("--std=c++17",))


def _cp(x: Any) -> Any:
    import cupy

    return cupy.asarray(x)


def _stream(x: Any) -> Any:
    """Context that launches on torch's current stream for torch tensors (else CuPy's)."""
    import contextlib

    import cupy

    if type(x).__module__.startswith("torch"):
        import torch

        return cupy.cuda.ExternalStream(torch.cuda.current_stream(x.device).cuda_stream)
    return contextlib.nullcontext()


def layered_minplus_aligned(
    d, w, out, s_n: int, j_n: int, *, thr: float, accumulate: bool, finalize: bool, hist=None, flags=None,
    gsrc=None, radii=None, gamma: float = 0.0,
) -> None:
    """Launch ``layered_minplus_f32``/``_f64`` on tile-aligned tensors (the GPU driver's layout).

    Same contract as :func:`mfa_engine.kernels.layered_minplus.launch_aligned`: ``d`` [K, Sp],
    ``w`` [K, Jp], ``out`` [Jp, Sp] (Sp, Jp multiples of 128, K of 16), torch CUDA tensors or
    CuPy arrays; ``hist`` int32 [>= s_n, R + 1]; ``flags`` int8 and ``gsrc`` float32 [>= s_n] or
    None. The histogram lives in shared memory when it fits (opting in above 48 KB), else the
    kernel adds straight to the global one (any R).
    """
    from mfa_engine.kernels.launch_checks import check_minplus_aligned

    f64 = str(d.dtype).endswith("float64")
    check_minplus_aligned(d, w, out, s_n, j_n, k_tile=8 if f64 else 16, s_tile=_TILE, j_tile=_TILE,
                          what="layered_minplus_aligned")  # fmt: skip
    count_ok = hist is not None
    if count_ok and (hist.shape[0] < s_n or radii is None or hist.shape[1] != int(radii.shape[0]) + 1):
        raise ValueError("layered_minplus_aligned: hist must be at least [s_n, R + 1] for radii [R]")
    if count_ok and flags is not None and (flags.shape[0] < s_n or gsrc is None or gsrc.shape[0] < s_n):
        raise ValueError(f"layered_minplus_aligned: flags and gsrc need at least {s_n} entries")
    if s_n == 0 or j_n == 0:
        return
    import cupy
    import numpy as np

    with _stream(d):
        dc, wc, oc = _cp(d), _cp(w), _cp(out)
        kern = _kernel("cuda/layered_minplus.cu", "layered_minplus_f64" if f64 else "layered_minplus_f32")
        count = hist is not None
        with_flags = count and flags is not None
        r_n = int(radii.shape[0]) if count else 0
        hc = _cp(hist) if count else cupy.zeros((1, 1), cupy.int32)
        rc = _cp(radii) if count else cupy.zeros(1, dc.dtype)
        fc = _cp(flags) if with_flags else cupy.zeros(1, cupy.int8)
        gc = _cp(gsrc) if with_flags else cupy.zeros(1, cupy.float32)
        smem = (-(-_TILE * (r_n + 1) * 4 // 16) * 16 + r_n * dc.itemsize) if count else 0
        dev = cupy.cuda.Device()
        limit = dev.attributes.get("MaxSharedMemoryPerBlockOptin", 48 * 1024) - _STATIC_SMEM
        hist_smem = count and smem <= limit
        if hist_smem and kern.max_dynamic_shared_size_bytes < smem:
            kern.max_dynamic_shared_size_bytes = smem
        item = dc.itemsize
        kern(
            (-(-j_n // _TILE), -(-s_n // _TILE)), (16, 16),
            (dc, wc, oc, hc, fc, gc, rc, np.int64(s_n), np.int64(dc.shape[0]), np.int64(j_n), np.int64(r_n),
             np.int64(dc.strides[0] // item), np.int64(wc.strides[0] // item), np.int64(oc.strides[0] // item),
             (np.float64 if f64 else np.float32)(thr), np.float32(gamma), np.int32(accumulate),
             np.int32(finalize), np.int32(count), np.int32(with_flags), np.int32(hist_smem)),
            shared_mem=smem if hist_smem else 0,
        )  # fmt: skip


def csr_relax_round(
    indptr, cols, w, bits, act_in, act_out, node_in, node_out, changed, cutoff, *, block_s: int = 32
) -> None:
    """Launch ``csr_relax_exact`` (same contract as :func:`mfa_engine.kernels.csr_relax.csr_relax_round`;
    ``block_s`` must be 32, one warp per node and source block)."""
    import numpy as np

    n, s_n = bits.shape
    if n == 0 or s_n == 0:
        return
    if block_s != 32:
        from mfa_engine.errors import ConfigError

        raise ConfigError(f"csr_relax_round: block_s must be 32 for the CUDA kernel, got {block_s}")
    from mfa_engine.kernels.launch_checks import check_csr_round

    check_csr_round(indptr, cols, w, bits, act_in, act_out, node_in, node_out, 32)
    nb = -(-s_n // 32)
    with _stream(bits):
        args = [_cp(x) for x in (indptr, cols, w, bits, act_in, act_out, node_in, node_out, changed, cutoff)]
        _kernel("cuda/csr_relax.cu", "csr_relax_exact")((n, nb), (32,), (*args, np.int64(s_n), np.int64(nb)))


def count_distances(bits, hist, radii) -> None:
    """Launch ``csr_count``: add the radius histogram of ``bits`` (int64 [N, S] float64 bits) to
    ``hist`` (int32 [S, R + 1]); ``radii`` float64 [R] ascending."""
    import numpy as np

    from mfa_engine.kernels.launch_checks import check_count

    check_count(bits, hist, radii, "count_distances (CUDA)")
    n, s_n = bits.shape
    r_n = int(radii.shape[0])
    if n == 0 or s_n == 0 or r_n == 0:
        return
    blocks = int(min(65535 * 16, -(-n * s_n // 256)))
    with _stream(bits):
        _kernel("cuda/csr_relax.cu", "csr_count")(
            (blocks,), (256,), (_cp(bits), _cp(hist), _cp(radii), np.int64(n), np.int64(s_n), np.int64(r_n))
        )
