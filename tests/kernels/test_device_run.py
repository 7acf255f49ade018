"""benchmarks/device_run.sh: runs end to end here under the Triton interpreter (small shapes) and
writes its JSON after every step, so a cut-off run still reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(out: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, OUT=str(out), PYTHON=sys.executable, TRITON_INTERPRET="1")
    return subprocess.run(["bash", str(REPO / "benchmarks" / "device_run.sh"), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def test_budget_skips_steps_but_still_writes_the_document(tmp_path: Path) -> None:
    res = _run(tmp_path, "--only", "env", "install", "--budget", "0")  # deadline 0: every step skipped
    doc = json.loads((tmp_path / "device_run.json").read_text())
    assert res.returncode == 0, res.stderr[-2000:]
    assert doc["done"] and doc["steps"]["env"]["status"] == "skipped"
    assert "interpreter" in doc["mode"]


@pytest.mark.slow
def test_exactness_and_network_steps_under_the_interpreter(tmp_path: Path) -> None:
    res = _run(tmp_path, "--only", "env", "exactness", "network70m", "sanitizer")
    doc = json.loads((tmp_path / "device_run.json").read_text())
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    ex = doc["steps"]["exactness"]
    assert ex["status"] == "ok" and ex["exact_by_backend"] == {"triton": True}
    assert {r["case"] for r in ex["results"]} >= {"edge_1e-46_radius_0", "overflow_edge_1e39", "subnormal_sum"}
    net = doc["steps"]["network70m"]
    assert net["exact_on_sample"] and 0.0 <= net["flagged_fraction"] <= 1.0 and net["passes"]
    assert doc["steps"]["sanitizer"]["status"] == "skipped"


def test_a_step_cut_off_keeps_its_partial_results(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    import device_run

    run = device_run.Run(tmp_path, small=True)

    def slow(live: dict) -> dict:
        live["results"] = [{"case": "first", "exact": True}]
        live["flush"]()
        assert json.loads((tmp_path / "device_run.json").read_text())["steps"]["slow"]["status"] == "running"
        import time

        time.sleep(5)  # past the 1 s limit
        return {}

    run.step("slow", slow, 1)
    run.step("broken", lambda live: 1 / 0, 5)
    doc = json.loads((tmp_path / "device_run.json").read_text())
    assert doc["steps"]["slow"]["status"] == "timeout" and doc["steps"]["slow"]["results"][0]["case"] == "first"
    assert doc["steps"]["broken"]["status"] == "error" and "ZeroDivisionError" in doc["steps"]["broken"]["error"]
