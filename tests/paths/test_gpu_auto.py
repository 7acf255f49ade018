"""``backend="auto"``: CPU without a device; with one, the backend the static SASS model ranks first."""

from __future__ import annotations

import builtins
import sys

import pytest

from mfa_engine import _device
from mfa_engine.paths import dispatch


def test_auto_is_cpu_without_a_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_device, "cuda_available", lambda: False)
    assert dispatch.resolve_backend("auto") == "cpu"


@pytest.mark.parametrize("has_cupy", [True, False])
def test_auto_prefers_cuda_kernel_when_cupy_imports(monkeypatch: pytest.MonkeyPatch, has_cupy: bool) -> None:
    monkeypatch.setattr(_device, "cuda_available", lambda: True)
    monkeypatch.setattr(_device, "_installed", lambda module: True)
    real_import = builtins.__import__

    def fake_import(name, *a, **k):
        if name == "cupy":
            if not has_cupy:
                raise ImportError("no cupy")
            return object()
        return real_import(name, *a, **k)

    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    assert dispatch.resolve_backend("auto") == ("cupy" if has_cupy else "triton")
