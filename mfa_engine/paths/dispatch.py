"""Backend resolution and dispatch of the path API to the kernels."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from mfa_engine import _device
from mfa_engine.paths.counting import sorted_radii
from mfa_engine.paths.prepare import prepare_graph

__all__ = ["BACKENDS", "suite_record_path", "resolve_backend", "run_counts", "run_distances", "histogram"]

BACKENDS = _device.PATH_BACKENDS

#: Float32 distance entries materialised at once when distances are requested.
_DIST_BATCH_ELEMS = 1 << 25


def suite_record_path() -> Path:
    """Where ``benchmarks/gpu_suite.py`` records its backend verdict: ``$MFA_GPU_SUITE_JSON``, else
    ``$XDG_CACHE_HOME/mfa-engine/gpu_suite_verdict.json`` (``~/.cache`` by default)."""
    env = os.environ.get("MFA_GPU_SUITE_JSON")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mfa-engine" / "gpu_suite_verdict.json"


def _measured_cupy_ok(device_name: str) -> bool:
    """True when the suite's verdict file says CuPy was measured exact on every case on a device
    of this name, and faster than Triton there."""
    try:
        rec = json.loads(suite_record_path().read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(rec, dict):
        return False
    return (rec.get("device") == device_name and rec.get("cupy_exact") is True
            and rec.get("triton_exact") is True and rec.get("cupy_faster") is True)  # fmt: skip


def _auto_gpu_backend() -> str:
    """``triton`` (executed exactly under the interpreter; the first GPU runs it by default),
    unless ``benchmarks/gpu_suite.py`` has measured CuPy exact on every case on a device of this
    name and faster than Triton (its verdict file, :func:`suite_record_path`): then ``cupy``."""
    try:
        import cupy  # noqa: F401
    except Exception:
        return "triton"
    try:
        import torch

        name = torch.cuda.get_device_name(0)
    except Exception:
        return "triton"
    return "cupy" if _measured_cupy_ok(name) else "triton"


def resolve_backend(backend: str) -> str:
    """Resolve a paths ``backend`` (one of :data:`BACKENDS`) to "triton", "cupy", "cpu" or
    "torch" (see :func:`mfa_engine._device.resolve_backend`); on CUDA, "auto" takes Triton
    unless the GPU suite measured CuPy exact and faster on this device (:func:`_auto_gpu_backend`)."""
    be = _device.resolve_backend(backend, BACKENDS, "paths")
    if backend == "auto" and be == "triton":
        return _auto_gpu_backend()
    return be


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
    kind, obj = prepared
    if backend == "cpu":
        from mfa_engine.paths import cpu

        if kind == "dag":
            return cpu.dag_histogram(obj, src, radii_sorted, want_dist=want_dist)
        return cpu.csr_histogram(obj, src, radii_sorted, cutoff, want_dist=want_dist)
    if backend == "torch":
        from mfa_engine.paths import torch_backend

        return torch_backend.histogram(prepared, src, radii_sorted, cutoff, want_dist=want_dist)
    from mfa_engine.paths import gpu

    return gpu.histogram(prepared, src, radii_sorted, cutoff, backend=backend, want_dist=want_dist)


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
