"""``backend="auto"``: CPU without a device; with one, Triton until benchmarks/gpu_suite.py has
measured CuPy exact (and faster) on a device of the same name."""

from __future__ import annotations

import builtins
import json
import sys
import types
from pathlib import Path

import pytest

from mfa_engine import _device
from mfa_engine.paths import dispatch


def test_auto_is_cpu_without_a_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_device, "cuda_available", lambda: False)
    assert dispatch.resolve_backend("auto") == "cpu"


def _fake_gpu(monkeypatch: pytest.MonkeyPatch, has_cupy: bool, name: str = "NVIDIA H100 80GB HBM3") -> None:
    monkeypatch.setattr(_device, "cuda_available", lambda: True)
    monkeypatch.setattr(_device, "_installed", lambda module: True)
    real_import = builtins.__import__
    fake_torch = types.SimpleNamespace(cuda=types.SimpleNamespace(get_device_name=lambda i=0: name))

    def fake_import(nm, *a, **k):
        if nm == "cupy":
            if not has_cupy:
                raise ImportError("no cupy")
            return object()
        if nm == "torch":
            return fake_torch
        return real_import(nm, *a, **k)

    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)


@pytest.mark.parametrize("has_cupy", [True, False])
def test_auto_is_triton_until_cupy_is_measured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, has_cupy: bool) -> None:
    monkeypatch.setenv("MFA_GPU_SUITE_JSON", str(tmp_path / "none.json"))
    _fake_gpu(monkeypatch, has_cupy)
    assert dispatch.resolve_backend("auto") == "triton"


@pytest.mark.parametrize(
    "rec,want",
    [
        ({"device": "NVIDIA H100 80GB HBM3", "cupy_exact": True, "triton_exact": True, "cupy_faster": True}, "cupy"),
        ({"device": "NVIDIA H100 80GB HBM3", "cupy_exact": True, "triton_exact": True, "cupy_faster": False}, "triton"),
        ({"device": "NVIDIA H100 80GB HBM3", "cupy_exact": False, "triton_exact": True, "cupy_faster": True}, "triton"),
        ({"device": "NVIDIA H200", "cupy_exact": True, "triton_exact": True, "cupy_faster": True}, "triton"),
        ("not a record", "triton"),
    ],
)
def test_auto_follows_the_suite_verdict(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rec, want: str) -> None:
    path = tmp_path / "verdict.json"
    path.write_text(json.dumps(rec))
    monkeypatch.setenv("MFA_GPU_SUITE_JSON", str(path))
    _fake_gpu(monkeypatch, True)
    assert dispatch.resolve_backend("auto") == want


def test_corrupt_verdict_is_triton(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "verdict.json"
    path.write_text("{not json")
    monkeypatch.setenv("MFA_GPU_SUITE_JSON", str(path))
    _fake_gpu(monkeypatch, True)
    assert dispatch.resolve_backend("auto") == "triton"
