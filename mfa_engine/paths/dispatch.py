"""Backend resolution and dispatch of the path API to the kernels."""

from __future__ import annotations

from typing import Any

import numpy as np

from mfa_engine import _device
from mfa_engine._device import suite_record_path  # where benchmarks/gpu_suite.py records its verdict
from mfa_engine.paths.counting import sorted_radii
from mfa_engine.paths.prepare import prepare_graph

__all__ = ["BACKENDS", "HISTOGRAMS", "suite_record_path", "resolve_backend", "run_counts", "run_distances",
           "histogram"]

BACKENDS = _device.PATH_BACKENDS

#: Float32 distance entries materialised at once when distances are requested.
_DIST_BATCH_ELEMS = 1 << 25


def resolve_backend(backend: str) -> str:
    """Resolve a paths ``backend`` (one of :data:`BACKENDS`) to "triton", "cupy", "cpu" or
    "torch" (:func:`mfa_engine._device.resolve_backend`, the one definition of "auto"); a
    concrete backend is returned as is once it is checked.

    Raises:
        ConfigError: Unknown backend name.
        BackendError: The backend cannot run on this machine.
    """
    return _device.resolve_backend(backend, BACKENDS, "paths")


def _cpu_histogram(prepared: Any, src: np.ndarray, rs: np.ndarray, cutoff: float, backend: str,
                   want_dist: bool) -> tuple[np.ndarray, np.ndarray | None]:
    from mfa_engine.paths import cpu  # numba: imported when first run

    kind, obj = prepared
    if kind == "dag":
        return cpu.dag_histogram(obj, src, rs, want_dist=want_dist)
    return cpu.csr_histogram(obj, src, rs, cutoff, want_dist=want_dist, kg=prepared.kernel_graph())


def _torch_histogram(prepared: Any, src: np.ndarray, rs: np.ndarray, cutoff: float, backend: str,
                     want_dist: bool) -> tuple[np.ndarray, np.ndarray | None]:
    from mfa_engine.paths import torch_backend  # torch: imported when first run

    return torch_backend.histogram(prepared, src, rs, cutoff, want_dist=want_dist)


def _gpu_histogram(prepared: Any, src: np.ndarray, rs: np.ndarray, cutoff: float, backend: str,
                   want_dist: bool) -> tuple[np.ndarray, np.ndarray | None]:
    from mfa_engine.paths import gpu  # torch, triton / cupy: imported when first run

    return gpu.histogram(prepared, src, rs, cutoff, backend=backend, want_dist=want_dist)


#: The one dispatch table: concrete backend -> its histogram runner.
HISTOGRAMS = {"cpu": _cpu_histogram, "torch": _torch_histogram, "triton": _gpu_histogram, "cupy": _gpu_histogram}


def histogram(
    prepared: Any, src: np.ndarray, radii_sorted: np.ndarray, cutoff: float, backend: str, want_dist: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Run one backend: histogram int64 [S, R + 1] over the grid (+ float32 [S, N] distances).

    Args:
        prepared: Output of :func:`mfa_engine.paths.prepare.prepare_graph`.
        src: int64 [S] sources.
        radii_sorted: float64 [R] ascending.
        cutoff: Inclusive cutoff (``radii_sorted[-1]`` when counting).
        backend: Concrete backend.
        want_dist: Also return distances.
    """
    return HISTOGRAMS[backend](prepared, src, radii_sorted, cutoff, backend, want_dist)


def run_counts(
    graph: Any, src: np.ndarray, radii: np.ndarray, *, directed: bool, backend: str
) -> np.ndarray:
    """Counts int64 [S, R] for validated sources and radii (see ``multi_source_counts``)."""
    be = resolve_backend(backend)
    out = np.zeros((src.size, radii.size), np.int64)
    if src.size == 0 or radii.size == 0:
        return out
    rs, order = sorted_radii(radii)
    prepared = prepare_graph(graph, directed)
    hist, _ = histogram(prepared, src, rs, float(rs[-1]), be, False)
    out[:, order] = np.cumsum(hist[:, :-1], axis=1)
    return out


def run_distances(
    graph: Any, src: np.ndarray, cutoff: float, *, directed: bool, backend: str
) -> np.ndarray:
    """Distances float32 [S, N] for validated sources (see ``multi_source_distances``)."""
    be = resolve_backend(backend)
    prepared = prepare_graph(graph, directed)
    n = prepared.n_nodes
    out = np.empty((src.size, n), np.float32)
    grid = np.array([cutoff], np.float64)
    batch = max(1, _DIST_BATCH_ELEMS // max(n, 1))
    for start in range(0, src.size, batch):
        sl = slice(start, min(start + batch, src.size))
        _, dist = histogram(prepared, src[sl], grid, cutoff, be, True)
        out[sl] = dist
    return out
