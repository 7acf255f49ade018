"""Ahead-of-time compilation of the TM loss kernels (AOT_SPECS) for sm_80 and sm_90: no spills.

Until ``mfa kernels check`` exists this test does the same: ``triton.compile(ASTSource(...),
target=GPUTarget("cuda", cc, 32))``, then reads register use and local memory (spills) of the
cubin with the cuobjdump that ships with Triton. No GPU is needed.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest

if os.environ.get("TRITON_INTERPRET") == "1":
    pytest.skip("AOT compilation needs compiled (not interpreted) @triton.jit kernels", allow_module_level=True)

triton = pytest.importorskip("triton")

from triton.backends.compiler import GPUTarget  # noqa: E402

from mfa_engine.kernels import tm_loss  # noqa: E402

CUOBJDUMP = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
_USAGE = re.compile(r"Function (\S+):\s*\n\s*REG:(\d+) STACK:(\d+) SHARED:(\d+) LOCAL:(\d+)")


def resource_usage(cubin: bytes, tmp_path: Path) -> dict[str, dict[str, int]]:
    f = tmp_path / "k.cubin"
    f.write_bytes(cubin)
    out = subprocess.run([str(CUOBJDUMP), "--dump-resource-usage", str(f)], capture_output=True, text=True, check=True).stdout
    return {m[0]: {"reg": int(m[1]), "stack": int(m[2]), "shared": int(m[3]), "local": int(m[4])}
            for m in _USAGE.findall(out)}


def test_aot_specs_follow_the_contract():
    names = [s["name"] for s in tm_loss.AOT_SPECS]
    assert len(names) == len(set(names))
    assert {s["fn"] for s in tm_loss.AOT_SPECS} == {tm_loss._tm_loss_fwd_kernel, tm_loss._tm_loss_bwd_kernel}
    for s in tm_loss.AOT_SPECS:
        assert set(s) == {"name", "fn", "signature", "constexprs", "num_warps"}
        assert list(s["signature"]) == s["fn"].arg_names
        assert {k for k, v in s["signature"].items() if v == "constexpr"} == set(s["constexprs"])


@pytest.mark.skipif(not CUOBJDUMP.exists(), reason="triton's cuobjdump is missing")
@pytest.mark.parametrize("cc", [80, 90])
@pytest.mark.parametrize("spec", tm_loss.AOT_SPECS, ids=lambda s: s["name"])
def test_compiles_without_spills(spec, cc, tmp_path):
    src = triton.compiler.ASTSource(fn=spec["fn"], signature=spec["signature"], constexprs=spec["constexprs"])
    kernel = triton.compile(src, target=GPUTarget("cuda", cc, 32), options={"num_warps": spec["num_warps"], "enable_fp_fusion": False})
    usage = resource_usage(kernel.asm["cubin"], tmp_path)
    assert spec["fn"].__name__ in usage, usage
    u = usage[spec["fn"].__name__]
    assert u["local"] == 0 and u["stack"] == 0, f"{spec['name']} sm_{cc} spills: {u}"
    assert 0 < u["reg"] <= 255
    assert f".target sm_{cc}" in kernel.asm["ptx"]
