"""Device probes and backend resolution shared by the paths and TM-loss backends.

Importing this module is light: torch and triton are imported only when a probe needs them
(never when the machine has no NVIDIA device nodes and torch is not loaded yet).
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from mfa_engine.errors import BackendError, ConfigError

__all__ = [
    "PATH_BACKENDS",
    "cuda_available",
    "cuda_device_count",
    "torch_device",
    "triton_interpret",
    "resolve_backend",
    "suite_record_path",
]

#: Backends of the path API (``multi_source_counts``, ``analyze_checkpoint(backend=...)``).
PATH_BACKENDS = ("auto", "triton", "cupy", "cpu", "torch")

#: Values of ``TRITON_INTERPRET`` that Triton reads as true (lower-cased, as Triton does).
_TRUE = ("1", "true", "on")


def _no_device_nodes() -> bool:
    return not glob.glob("/dev/nvidia[0-9]*") and not os.path.exists("/dev/nvidiactl")


def cuda_device_count() -> int:
    """Number of CUDA devices torch can use (0 without device nodes, torch, a driver or CUDA)."""
    if "torch" not in sys.modules and _no_device_nodes():
        return 0  # no device nodes: skip importing torch
    try:
        import torch

        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    except Exception:  # torch missing or a broken driver
        return 0


def cuda_available() -> bool:
    """True when at least one CUDA device is usable."""
    return cuda_device_count() > 0


def torch_device() -> Any:
    """``torch.device("cuda")`` when a CUDA device is usable, else ``torch.device("cpu")``."""
    import torch

    return torch.device("cuda" if cuda_available() else "cpu")


def triton_interpret() -> bool:
    """True when Triton kernels run in the interpreter (``TRITON_INTERPRET`` set to 1/true/on).

    Once triton is imported, its own setting is read, so both always agree.
    """
    if "triton" in sys.modules:
        import triton

        return bool(triton.knobs.runtime.interpret)
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in _TRUE


def _installed(module: str) -> bool:
    """True when ``module`` can be imported (found on the path; not imported here)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _cupy_usable() -> bool:
    try:
        import cupy  # noqa: F401
    except Exception:
        return False
    return True


def suite_record_path() -> Path:
    """Where ``benchmarks/gpu_suite.py`` records its backend verdict: ``$MFA_GPU_SUITE_JSON``, else
    ``$XDG_CACHE_HOME/mfa-engine/gpu_suite_verdict.json`` (``~/.cache`` by default)."""
    env = os.environ.get("MFA_GPU_SUITE_JSON")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mfa-engine" / "gpu_suite_verdict.json"


def _measured_cupy_ok() -> bool:
    """True when the suite's verdict file says CuPy was measured exact on every case on a device
    of this one's name, and faster than Triton there."""
    try:
        import torch

        name = torch.cuda.get_device_name(0)
        rec = json.loads(suite_record_path().read_text())
    except Exception:  # no torch device name, no file, not JSON
        return False
    if not isinstance(rec, dict):
        return False
    return (rec.get("device") == name and rec.get("cupy_exact") is True
            and rec.get("triton_exact") is True and rec.get("cupy_faster") is True)  # fmt: skip


def resolve_backend(backend: str, allowed: tuple[str, ...], what: str, cuda: bool | None = None) -> str:
    """Resolve ``backend`` to a concrete one and check that it can run here (the one definition).

    ``"auto"`` is: on a CUDA device with triton installed, ``"triton"`` (executed exactly under
    the interpreter; the first GPU runs it), unless ``"cupy"`` is in ``allowed``, CuPy imports and
    ``benchmarks/gpu_suite.py`` has measured CuPy exact on every case on a device of this name
    and faster than Triton (its verdict file, :func:`suite_record_path`): then ``"cupy"``;
    without a CUDA device, ``"cpu"``.
    The checks need no GPU library import on a machine without a CUDA device, so a backend that
    cannot run fails at once.

    Args:
        backend: A name in ``allowed``.
        allowed: The backends of the caller (e.g. the paths or TM-loss ``BACKENDS``).
        what: The operation, for messages (e.g. "paths", "TM loss").
        cuda: Whether the data lives on a CUDA device (the TM loss's tensors); None = probe the
            machine (:func:`cuda_available`).

    Returns:
        "triton", "cupy", "cpu" or "torch".

    Raises:
        ConfigError: Unknown backend name.
        BackendError: A GPU backend without a CUDA device (triton is allowed under
            ``TRITON_INTERPRET=1``), or triton / CuPy missing.
    """
    if backend not in allowed:
        raise ConfigError(f"unknown {what} backend {backend!r}; expected one of {', '.join(allowed)}")
    if backend in ("cpu", "torch"):
        return backend
    on_cuda = cuda_available() if cuda is None else cuda
    if backend == "auto":
        if not (on_cuda and _installed("triton")):
            return "cpu"
        return "cupy" if "cupy" in allowed and _cupy_usable() and _measured_cupy_ok() else "triton"
    if backend == "triton":
        if not on_cuda and not triton_interpret():
            raise BackendError(
                f"{what} backend 'triton' needs a CUDA device and none is available "
                "(set TRITON_INTERPRET=1 to run the Triton interpreter on CPU, or use backend='cpu')"
            )
        if not _installed("triton"):
            raise BackendError(f"{what} backend 'triton' requested but triton is not installed")
    if backend == "cupy":
        if not on_cuda:
            raise BackendError(
                f"{what} backend 'cupy' needs a CUDA device and none is available; use backend='cpu'"
            )
        try:
            import cupy  # noqa: F401
        except Exception as exc:
            raise BackendError(
                f"{what} backend 'cupy' needs CuPy and a CUDA device; importing cupy failed "
                f"({exc.__class__.__name__}); use backend='cpu' or 'triton'"
            ) from None
    return backend
