"""benchmarks/gpu_suite.py: skips cleanly without a GPU; its stress shapes are what it claims."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
gpu_suite = pytest.importorskip("gpu_suite")


def test_skips_cleanly_without_a_gpu(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():  # pragma: no cover - GPU machines run the real suite
        pytest.skip("a CUDA device is present")
    out = tmp_path / "s.json"
    assert gpu_suite.main(["--out", str(out)]) == 0
    assert "skipped" in json.loads(out.read_text())


def test_stress_cases_cover_inf_radii_r256_and_a_wide_level() -> None:
    cases = {c.name: c for c in gpu_suite.stress_cases(False)}
    assert np.isinf(cases["inf_radii"].radii).any()
    assert cases["r256"].radii.size == 256
    assert cases["wide_level"].graph.shape[0] == 8192 + 2
    assert "flagship_2p8b_scaled" in cases
