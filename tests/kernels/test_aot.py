"""``mfa kernels check``: ahead-of-time compilation of every GPU kernel for sm_80 and sm_90."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mfa_engine import aot

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(aot.find_tool("cuobjdump") is None, reason="cuobjdump not available")


@pytest.mark.slow
def test_cli_check_compiles_every_kernel_without_spills() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    res = subprocess.run(
        [sys.executable, "-m", "mfa_engine", "kernels", "check", "--json", "-"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    rows = json.loads(res.stdout)
    assert res.returncode == 0, res.stderr[-3000:]
    for row in rows:
        assert set(row) == {"kernel", "arch", "registers", "spill_bytes", "ok", "kind", "useful_share", "loop", "load_widths"}
        assert row["ok"] and row["spill_bytes"] == 0 and 0 < row["registers"] <= 255, row
        if row["kind"] == "minplus":  # the acceptance gate: >= 80% FADD + FMNMX in the K loop
            assert row["useful_share"] >= 0.80, row
        if row["kind"] == "":
            assert row["useful_share"] is None and row["load_widths"], row
    names = {(r["kernel"], r["arch"]) for r in rows}
    for arch in (80, 90):
        for kernel in (
            "layered_minplus:layered_minplus[count]",
            "layered_minplus:layered_minplus[accumulate_count]",
            "csr_relax:csr_relax[exact]",
            "csr_relax:csr_count",
            "layered_minplus:layered_minplus[fp64_count]",
            "cuda/layered_minplus.cu:layered_minplus_f32",
            "cuda/layered_minplus.cu:layered_minplus_f64",
            "cuda/csr_relax.cu:csr_relax_exact",
            "cuda/csr_relax.cu:csr_count",
            "tm_loss:tm_loss_fwd_fp32_packed_mask_b2048",
            "tm_loss:tm_loss_bwd_fp32_packed_mask_b2048_r2",
            "tm_loss:tm_loss_fwd_fp16_int8_b512",
            "tm_loss:tm_loss_bwd_fp16_int8_b512_r0",
        ):
            assert (kernel, arch) in names


    minplus = {r["kernel"] for r in rows if r["kind"] == "minplus"}
    assert {"layered_minplus:layered_minplus[count]", "cuda/layered_minplus.cu:layered_minplus_f32"} <= minplus


def test_discover_specs_finds_every_module_with_specs() -> None:
    modules = {m for m, _ in aot.discover_specs()}
    assert {"layered_minplus", "csr_relax"} <= modules
    kernels_dir = REPO / "mfa_engine" / "kernels"
    expected = {p.stem for p in kernels_dir.glob("*.py") if "AOT_SPECS" in p.read_text() and p.stem != "__init__"}
    assert modules == expected


@pytest.mark.skipif(aot.find_tool("nvcc") is None, reason="nvcc not available")
def test_broken_cuda_source_is_reported(tmp_path: Path) -> None:
    reports = aot.compile_cuda_source("cuda/broken.cu", 'extern "C" __global__ void k() { int x = ; }', 80, tmp_path)
    assert len(reports) == 1 and not reports[0].ok and reports[0].error
    good = aot.compile_cuda_source(
        "cuda/ok.cu", 'extern "C" __global__ void k(float* a) { a[threadIdx.x] += 1.0f; }', 90, tmp_path
    )
    assert [r.ok for r in good] == [True] and good[0].registers > 0 and good[0].spill_bytes == 0


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["12", "0", "-80", "999"])
def test_unknown_arch_is_a_clear_error_without_a_temp_dir(arch, tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    res = subprocess.run([sys.executable, "-m", "mfa_engine", "kernels", "check", "--arch", arch],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 2, res.stderr[-500:]
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith(f"error: --arch {arch} is not a compute capability") and "80" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(aot.find_tool("nvcc") is None, reason="nvcc not available")
def test_minplus_gate_fails_a_slow_kernel(tmp_path: Path) -> None:
    """A min-plus loop drowned in integer work is reported below 80% and fails on sm_90 only."""
    src = """
    extern "C" __global__ void __launch_bounds__(128) slow(const float* a, const float* b, float* o, int k, int n) {
        float acc = __int_as_float(0x7f800000);
        for (int i = 0; i < k; ++i) acc = fminf(acc, a[(i * 7 + threadIdx.x) % n] + b[(i * 13) % n]);
        o[threadIdx.x] = acc;
    }"""
    for arch, ok in ((80, True), (90, False)):
        (rep,) = aot.compile_cuda_source("cuda/slow.cu", src, arch, tmp_path, {"slow": "minplus"})
        assert rep.useful_share is not None and rep.useful_share < 0.5
        assert rep.ok is ok and (ok or "FADD+FMNMX" in rep.error)
