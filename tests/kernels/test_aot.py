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
        assert set(row) == {"kernel", "arch", "registers", "spill_bytes", "ok", "kind", "useful_share", "loop",
                            "load_widths", "shared_bytes", "ctas_per_sm", "k_offsets"}  # fmt: skip
        assert row["ok"] and row["spill_bytes"] == 0 and 0 < row["registers"] <= 255, row
        if row["kind"] == "minplus":  # the acceptance gate: >= 80% FADD + FMNMX in the K loop
            assert row["useful_share"] >= 0.80 and row["ctas_per_sm"] >= 2, row
        if row["kind"] == "minplus_fp64" and row["arch"] >= 90:  # DADD + DSETP + FSEL
            assert row["useful_share"] >= 0.80, row
        if row["kernel"].startswith("layered_minplus:"):  # 64-bit K-loop offsets in the compiled IR
            assert row["k_offsets"] == "i64", row
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


    selftest = [r for r in rows if r["kind"] == "selftest"]
    assert selftest and all(r["load_widths"].startswith("rejected:") for r in selftest)  # the decoy failed the gate
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
        assert rep.ok is ok and (ok or "useful (< 80%)" in rep.error)


def test_decoy_loop_fails_the_gate_but_would_pass_the_old_rule(tmp_path: Path) -> None:
    """The decoy kernel: a never-run loop of pure FADD/FMNMX (99.7%) and the real loop far below the
    bar. "Most useful instructions" picks the decoy; the gate on the loop holding the loads fails."""
    from mfa_engine import sass
    from mfa_engine.kernels.gate_decoy import DECOY_SPEC

    rep = aot.compile_triton_spec("gate_decoy", DECOY_SPEC, 90, tmp_path)
    assert rep.registers > 0 and not rep.ok and "SASS gate" in rep.error, rep
    assert rep.useful_share < 0.5
    (cubin,) = tmp_path.glob("*.cubin")
    instrs = next(iter(sass.disassemble(cubin, aot.find_tool("cuobjdump")).values()))
    old = sass.hottest_loop(instrs)
    assert old.share > 0.95 and old.loads == 0  # what the old gate scored
    self_test = aot.gate_self_test(90, tmp_path)
    assert self_test.ok and self_test.load_widths.startswith("rejected:")


def test_k_loop_offsets_reads_the_ttir() -> None:
    loop = """    %r:2 = scf.for %k = %c0_i32 to %K step %c8_i32 iter_args(%a = %x, %p = %q) -> (f32, !tt.ptr<f32>)  : i32 {
      %o = arith.muli %k, %stride : i32 loc(#loc1)
      %s = tt.splat %o : i32 -> tensor<8x16xi32> loc(#loc2)
      %v = tt.addptr %p0, %s : tensor<8x16x!tt.ptr<f32>>, tensor<8x16xi32> loc(#loc3)
      %l = tt.load %v : tensor<8x16x!tt.ptr<f32>> loc(#loc4)
      scf.yield %a, %p : f32, !tt.ptr<f32> loc(#loc5)
    } loc(#loc6)
"""
    assert aot.k_loop_offsets(loop) == "i32"
    ok = loop.replace("arith.muli %k, %stride : i32", "arith.muli %k, %stride : i64").replace("xi32>", "xi64>")
    assert aot.k_loop_offsets(ok) == "i64"
    assert aot.k_loop_offsets("tt.func @f() {\n  tt.return\n}") == ""


@pytest.mark.parametrize("regs,threads,smem,arch,want", [(128, 256, 8192, 90, 2), (152, 256, 8192, 90, 1),
                                                         (110, 256, 0, 90, 2), (128, 256, 120_000, 90, 1),
                                                         (40, 32, 0, 90, 32), (-1, 256, 0, 90, -1)])  # fmt: skip
def test_ctas_per_sm_model(regs: int, threads: int, smem: int, arch: int, want: int) -> None:
    assert aot.ctas_per_sm(regs, threads, smem, arch) == want
