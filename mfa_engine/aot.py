"""Ahead-of-time compilation check of every GPU kernel (no GPU needed).

* Triton: every module of ``mfa_engine.kernels`` that defines ``AOT_SPECS`` is imported and each
  spec is compiled with ``triton.compile(ASTSource(fn, signature, constexprs),
  target=GPUTarget("cuda", arch, 32))``.
* CUDA C++ (CuPy RawKernel sources): every file listed in
  ``mfa_engine.kernels.cupy_paths.CUDA_SOURCES`` is compiled with ``nvcc -cubin -arch=sm_XX``.

Registers and local memory (spills) are read from each cubin with ``cuobjdump
--dump-resource-usage`` (Triton ships cuobjdump; the CUDA toolkit has one too); for nvcc builds
the ``ptxas -v`` spill-store bytes are also taken into account. The SASS (``cuobjdump -sass``)
is read too (:mod:`mfa_engine.sass`): for a min-plus kernel the useful-instruction share
(FADD + FMNMX) of its hottest loop, for other kernels the widths of their global loads. A kernel
passes when it compiles, uses no local memory and, for a min-plus kernel on sm_90 and newer,
passes the SASS gate (:func:`mfa_engine.sass.gate_loop`: :data:`MIN_USEFUL_SHARE` in the loop
holding the loads, the tile's count per trip, no rival loop); float32 min-plus kernels also need
:data:`MIN_CTAS_PER_SM` and (Triton) 64-bit K-loop offsets in the compiled IR. The Triton interpreter (``TRITON_INTERPRET=1``) replaces ``@triton.jit``
functions at import, so in that case the check re-runs itself in a clean subprocess.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mfa_engine._device import triton_interpret

__all__ = [
    "ARCHS",
    "MIN_USEFUL_SHARE",
    "KernelReport",
    "discover_specs",
    "find_tool",
    "compile_triton_spec",
    "compile_cuda_source",
    "k_loop_offsets",
    "ctas_per_sm",
    "gate_self_test",
    "check_all",
    "main",
]

#: Compute capabilities checked by default (A100, H100).
ARCHS = (80, 90)
#: Compute capabilities the check accepts (Triton's NVIDIA backend and its bundled ptxas); any
#: other value is refused up front instead of aborting inside LLVM.
KNOWN_ARCHS = (75, 80, 86, 87, 89, 90, 100, 101, 103, 120, 121)


def check_archs(archs: Iterable[int]) -> tuple[int, ...]:
    """Validate compute capabilities (e.g. 80 for sm_80) before any compilation.

    Raises:
        ConfigError: An empty list or a value outside :data:`KNOWN_ARCHS`.
    """
    from mfa_engine.errors import ConfigError

    out = tuple(int(a) for a in archs)
    bad = [a for a in out if a not in KNOWN_ARCHS]
    if not out or bad:
        raise ConfigError(f"--arch {bad[0] if bad else '(none)'} is not a compute capability this check "
                          f"compiles for; expected some of {' '.join(map(str, KNOWN_ARCHS))} (e.g. 80 for sm_80)")
    return out

#: Minimum useful-instruction share of a min-plus kernel's gated loop (sm_90 and newer; for the
#: float64 kernels DADD + DSETP + FSEL count as useful).
MIN_USEFUL_SHARE = 0.80
#: Minimum resident CTAs per SM of a float32 min-plus kernel (registers, threads, shared memory).
MIN_CTAS_PER_SM = 2
#: Shared memory per SM usable by CTAs, by compute capability (bytes); 1 KB is reserved per CTA.
_SMEM_PER_SM = {80: 167936, 86: 102400, 87: 167936, 89: 102400, 90: 233472}
#: Radii assumed for the CUDA kernel's dynamic shared histogram in the occupancy model.
_MODEL_R = 64


@dataclass
class KernelReport:
    """Outcome of compiling one kernel for one architecture.

    Attributes:
        kernel: Kernel name (``module:spec`` for Triton, ``file:function`` for CUDA).
        arch: Compute capability, e.g. 90.
        registers: Registers per thread (-1 if unknown).
        spill_bytes: Local-memory (spill) bytes per thread (-1 if unknown).
        ok: Compiled, no spills, and (float32 min-plus, sm_90+) the useful share reached.
        error: Failure message ('' when ok).
        kind: "minplus", "minplus_fp64" or "" (other kernels).
        useful_share: Useful-instruction share of the hottest loop (min-plus kinds), else None.
        loop: "useful/total" instructions of that loop ('' when not analysed).
        load_widths: Global loads by bit width, e.g. "128:4 32:2" ('' when not analysed).
        shared_bytes: Shared memory per CTA (static, plus the CUDA histogram at R = 64), -1 unknown.
        ctas_per_sm: Resident CTAs per SM by registers, threads and shared memory (-1 unknown).
        k_offsets: Integer width of the K loop's pointer offsets in the compiled IR ("i64", or
            "i32" which fails), '' when not checked.
    """

    kernel: str
    arch: int
    registers: int
    spill_bytes: int
    ok: bool
    error: str = ""
    kind: str = ""
    useful_share: float | None = None
    loop: str = ""
    load_widths: str = ""
    shared_bytes: int = -1
    ctas_per_sm: int = -1
    k_offsets: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON record: ``{"kernel", "arch", "registers", "spill_bytes", "ok", "kind",
        "useful_share", "loop", "load_widths", "shared_bytes", "ctas_per_sm", "k_offsets"}``."""
        d = asdict(self)
        d.pop("error")
        return d


def find_tool(name: str) -> str | None:
    """Locate a CUDA tool: Triton's bundled copy, then PATH, then /usr/local/cuda/bin."""
    try:
        import triton

        bundled = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / name
        if bundled.exists():
            return str(bundled)
    except Exception:  # pragma: no cover - triton is a dependency
        pass
    found = shutil.which(name)
    if found:
        return found
    cand = Path("/usr/local/cuda/bin") / name
    return str(cand) if cand.exists() else None


def _resource_usage(cubin: Path) -> tuple[int, int]:
    """(registers, local bytes) of the first function in a cubin, via cuobjdump."""
    tool = find_tool("cuobjdump")
    if tool is None:
        raise RuntimeError("cuobjdump not found (looked in triton/backends/nvidia/bin, PATH, /usr/local/cuda/bin)")
    res = subprocess.run([tool, "--dump-resource-usage", str(cubin)], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"cuobjdump failed on {cubin.name}: {res.stderr.strip()}")
    regs = re.findall(r"REG:(\d+)", res.stdout)
    local = re.findall(r"LOCAL:(\d+)", res.stdout)
    if not regs or not local:
        raise RuntimeError(f"cuobjdump printed no resource usage for {cubin.name}")
    return max(int(r) for r in regs), max(int(x) for x in local)


def ctas_per_sm(registers: int, threads: int, shared_bytes: int, arch: int) -> int:
    """Resident CTAs per SM: the minimum over registers (64K per SM, allocated per warp in units
    of 256), threads (2048 per SM), shared memory (:data:`_SMEM_PER_SM`, 1 KB reserved per CTA)
    and the 32-CTA limit. -1 when the registers are unknown."""
    if registers <= 0 or threads <= 0:
        return -1
    warps = -(-threads // 32)
    per_warp = -(-registers * 32 // 256) * 256
    by_regs = (65536 // per_warp) // warps
    by_threads = 2048 // (warps * 32)
    smem = _SMEM_PER_SM.get(arch, 102400)
    by_smem = smem // (shared_bytes + 1024) if shared_bytes > 0 else 32
    return int(min(by_regs, by_threads, by_smem, 32))


def k_loop_offsets(ttir: str) -> str:
    """Integer width of the pointer offsets in the K loop of a Triton kernel's TTIR.

    The K loop is the ``scf.for`` whose body holds the most ``tt.load``. Returns "i64" when every
    ``tt.addptr`` in it takes 64-bit offsets and no 32-bit multiply feeds it; "i32" otherwise
    (a K x stride product formed in 32 bits overflows at 2^31 elements); "" without a loop.
    """
    lines = ttir.splitlines()
    depth, best, best_loads = 0, None, -1
    opens: list[tuple[int, int]] = []
    for i, ln in enumerate(lines):
        code = ln.split(" loc(")[0]
        if "scf.for" in code and code.rstrip().endswith("{"):
            opens.append((i, depth))
        depth += code.count("{") - code.count("}")
        while opens and depth <= opens[-1][1] and i > opens[-1][0]:
            start, _ = opens.pop()
            body = lines[start + 1 : i]
            n_loads = sum("tt.load" in b for b in body)
            if n_loads > best_loads:
                best, best_loads = body, n_loads
    if best is None:
        return ""
    for b in best:
        code = b.split(" loc(")[0]
        if "tt.addptr" in code:
            off_type = code.rsplit(",", 1)[-1].strip()
            if not re.search(r"(^|x)i64>?$", off_type):
                return "i32"
        if "arith.muli" in code and re.search(r"(: i32|xi32>)\s*$", code):
            return "i32"
    return "i64"


def _analyse(report: KernelReport, cubin: Path, function: str | None = None,
             useful_per_trip: int | None = None) -> KernelReport:  # fmt: skip
    """Fill the SASS fields of ``report`` from ``cubin`` and apply the min-plus gate."""
    from mfa_engine import sass

    tool = find_tool("cuobjdump")
    if tool is None or report.registers < 0:
        return report
    funcs = sass.disassemble(cubin, tool)
    instrs = funcs.get(function) if function else next(iter(funcs.values()), [])
    instrs = instrs or []
    if report.kind.startswith("minplus"):
        fp32 = report.kind == "minplus"
        useful = sass.MINPLUS_USEFUL if fp32 else sass.MINPLUS_FP64_USEFUL
        gated = report.arch >= 90  # float32 and float64 min-plus loops alike
        res = sass.gate_loop(instrs, useful, min_share=MIN_USEFUL_SHARE if gated else None,
                             useful_per_trip=useful_per_trip)  # fmt: skip
        loop = res.loop
        report.useful_share = round(loop.share, 4) if loop else 0.0
        report.loop = f"{loop.useful}/{loop.total}" if loop else "0/0"
        if gated and not res.ok and report.ok:
            report.ok = False
            report.error = "SASS gate: " + "; ".join(res.problems)
        if fp32 and 0 <= report.ctas_per_sm < MIN_CTAS_PER_SM and report.ok:
            report.ok = False
            report.error = f"{report.ctas_per_sm} CTA per SM (< {MIN_CTAS_PER_SM}): registers or shared memory"
    else:
        report.load_widths = " ".join(f"{w}:{n}" for w, n in sass.global_load_widths(instrs).items())
    return report


def discover_specs() -> list[tuple[str, dict[str, Any]]]:
    """Import every ``mfa_engine.kernels`` module that defines ``AOT_SPECS``.

    Returns:
        (module short name, spec) pairs, in module-name order.
    """
    import importlib
    import pkgutil

    import mfa_engine.kernels as pkg

    out = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.ispkg:
            continue
        path = Path(pkg.__path__[0]) / f"{info.name}.py"
        try:
            if "AOT_SPECS" not in path.read_text():
                continue  # do not import modules (numba, cupy loaders) that define no specs
        except OSError:
            pass
        mod = importlib.import_module(f"mfa_engine.kernels.{info.name}")
        for spec in getattr(mod, "AOT_SPECS", []) or []:
            out.append((info.name, spec))
    return out


def compile_triton_spec(module: str, spec: dict[str, Any], arch: int, workdir: Path) -> KernelReport:
    """Compile one Triton AOT spec for ``sm_<arch>`` and read its resource usage."""
    name = f"{module}:{spec.get('name', getattr(spec['fn'], '__name__', '?'))}"
    try:
        import triton
        from triton.backends.compiler import GPUTarget
        from triton.compiler import ASTSource

        src = ASTSource(
            fn=spec["fn"], signature=spec["signature"], constexprs=spec.get("constexprs", {}),
            attrs=spec.get("attrs") or None,
        )
        options = {"num_warps": int(spec.get("num_warps", 4))}
        if "num_stages" in spec:
            options["num_stages"] = int(spec["num_stages"])
        options["enable_fp_fusion"] = False  # as every launcher (explicit: Triton's default changes in 3.10)
        options.update(spec.get("options", {}))
        kernel = triton.compile(src, target=GPUTarget("cuda", arch, 32), options=options)
        cubin = workdir / f"{re.sub(r'[^A-Za-z0-9_]', '_', name)}_sm{arch}.cubin"
        cubin.write_bytes(kernel.asm["cubin"])
        regs, local = _resource_usage(cubin)
        ok = local == 0
        rep = KernelReport(name, arch, regs, local, ok, "" if ok else f"{local} bytes of local memory (spills)")
        rep.kind = str(spec.get("kind", ""))
        rep.shared_bytes = int(getattr(kernel.metadata, "shared", 0) or 0)
        rep.ctas_per_sm = ctas_per_sm(regs, 32 * int(options["num_warps"]), rep.shared_bytes, arch)
        if spec.get("k_loop_offsets"):
            rep.k_offsets = k_loop_offsets(kernel.asm.get("ttir", "")) or "none"
            if rep.k_offsets != "i64" and rep.ok:
                rep.ok = False
                rep.error = f"K-loop pointer offsets are {rep.k_offsets} in the compiled IR (need i64)"
        return _analyse(rep, cubin, None, spec.get("useful_per_trip"))
    except Exception as exc:  # report, never crash the whole check
        msg = f"{exc.__class__.__name__}: {exc}".splitlines()[0][:300]
        return KernelReport(name, arch, -1, -1, False, msg)


def compile_cuda_source(
    path: str, text: str, arch: int, workdir: Path, kinds: dict[str, str] | None = None,
    useful_per_trip: dict[str, int] | None = None, threads: dict[str, int] | None = None,
) -> list[KernelReport]:
    """Compile one CUDA source with nvcc for ``sm_<arch>``; one report per kernel in the file.

    ``kinds`` maps a kernel name to its SASS gate kind ("minplus", ...), ``useful_per_trip`` to
    the useful instructions per K-loop trip its tile gives, ``threads`` to its block size."""
    kinds = kinds or {}
    useful_per_trip = useful_per_trip or {}
    threads = threads or {}
    base = Path(path).stem
    nvcc = find_tool("nvcc")
    if nvcc is None:
        return [KernelReport(f"{path}", arch, -1, -1, False, "nvcc not found")]
    cu = workdir / f"{base}.cu"
    cu.write_text(text)
    cubin = workdir / f"{base}_sm{arch}.cubin"
    res = subprocess.run(
        [nvcc, "-cubin", f"-arch=sm_{arch}", "-O3", "-std=c++17", "-Xptxas", "-v", str(cu), "-o", str(cubin)],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        msg = (res.stderr.strip().splitlines() or ["nvcc failed"])[0][:300]
        return [KernelReport(f"{path}", arch, -1, -1, False, msg)]
    tool = find_tool("cuobjdump")
    dump = subprocess.run([tool or "cuobjdump", "--dump-resource-usage", str(cubin)], capture_output=True, text=True)
    reports = []
    for fn, body in re.findall(r"Function ([A-Za-z0-9_]+):\s*\n\s*(REG:[^\n]*)", dump.stdout):
        regs = int(re.search(r"REG:(\d+)", body).group(1))
        local = int(re.search(r"LOCAL:(\d+)", body).group(1))
        spill = re.search(rf"Function properties for {fn}\s*\n\s*\d+ bytes stack frame, (\d+) bytes spill stores", res.stderr)
        spill_b = max(local, int(spill.group(1)) if spill else 0)
        ok = spill_b == 0
        rep = KernelReport(f"{path}:{fn}", arch, regs, spill_b, ok, "" if ok else f"{spill_b} bytes spilled")
        rep.kind = kinds.get(fn, "")
        m = re.search(r"SHARED:(\d+)", body)
        rep.shared_bytes = int(m.group(1)) if m else 0
        if rep.kind.startswith("minplus"):  # dynamic shared histogram [128][R + 1] and radii at R = 64
            rep.shared_bytes += 128 * (_MODEL_R + 1) * 4 + _MODEL_R * (8 if "f64" in fn else 4)
        rep.ctas_per_sm = ctas_per_sm(regs, threads.get(fn, 256), rep.shared_bytes, arch)
        reports.append(_analyse(rep, cubin, fn, useful_per_trip.get(fn)))
    if not reports:
        reports.append(KernelReport(f"{path}", arch, -1, -1, False, "no kernels found in cubin"))
    return reports


def _check_in_subprocess(archs: Iterable[int]) -> list[KernelReport]:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    cmd = [sys.executable, "-m", "mfa_engine.aot", "--json", "--arch", *[str(a) for a in archs]]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    try:
        rows = json.loads(res.stdout)
    except json.JSONDecodeError:
        return [KernelReport("aot-subprocess", 0, -1, -1, False, (res.stderr.strip() or "no output")[-300:])]
    return [KernelReport(**r) for r in rows]


def check_all(archs: Iterable[int] = ARCHS) -> list[KernelReport]:
    """Compile every Triton spec and CUDA source for every architecture.

    Args:
        archs: Compute capabilities, e.g. (80, 90).

    Returns:
        One :class:`KernelReport` per kernel and architecture.
    """
    archs = check_archs(archs)
    if triton_interpret():
        return _check_in_subprocess(archs)
    from mfa_engine.kernels.cupy_paths import (
        CUDA_KINDS,
        CUDA_SOURCES,
        CUDA_THREADS,
        CUDA_USEFUL_PER_TRIP,
        cuda_source,
    )

    reports: list[KernelReport] = []
    with tempfile.TemporaryDirectory(prefix="mfa-aot-") as tmp:
        work = Path(tmp)
        try:
            specs = discover_specs()
        except Exception as exc:
            reports.append(KernelReport("discover", 0, -1, -1, False, f"{exc.__class__.__name__}: {exc}"))
            specs = []
        for arch in archs:
            for module, spec in specs:
                reports.append(compile_triton_spec(module, spec, arch, work))
            for path in CUDA_SOURCES:
                reports.extend(compile_cuda_source(path, cuda_source(path), arch, work, CUDA_KINDS,
                                                   CUDA_USEFUL_PER_TRIP, CUDA_THREADS))  # fmt: skip
            if arch >= 90:
                reports.append(gate_self_test(arch, work))
    return reports


def gate_self_test(arch: int, workdir: Path) -> KernelReport:
    """Compile the decoy kernel (:mod:`mfa_engine.kernels.gate_decoy`: a real K loop far below the
    bar plus a never-executed loop of pure FADD/FMNMX) and check that the SASS gate rejects it.

    Returns:
        A report that is ok when the gate rejected the decoy (its error field then says why the
        decoy failed, prefixed "rejected:"), and fails when the decoy passed.
    """
    from mfa_engine.kernels.gate_decoy import DECOY_SPEC

    rep = compile_triton_spec("gate_decoy", DECOY_SPEC, arch, workdir)
    name = "self-test:gate rejects decoy loop"
    if rep.registers < 0:
        return KernelReport(name, arch, -1, -1, False, f"decoy did not compile: {rep.error}", kind="selftest")
    out = KernelReport(name, arch, rep.registers, rep.spill_bytes, not rep.ok, kind="selftest",
                       useful_share=rep.useful_share, loop=rep.loop)  # fmt: skip
    out.error = "" if not rep.ok else "the SASS gate ACCEPTED the decoy kernel"
    out.load_widths = ("rejected: " + rep.error)[:200] if not rep.ok else ""
    return out


def format_table(reports: list[KernelReport]) -> str:
    """Human-readable table of reports."""
    width = max([len(r.kernel) for r in reports] + [6])
    lines = [f"{'kernel':<{width}}  arch  regs  spill  CTA/SM  K-off  useful (loop)        loads (bits:n)  status"]
    for r in reports:
        status = "ok" if r.ok else f"FAIL {r.error}"
        share = f"{r.useful_share:6.1%} ({r.loop})" if r.useful_share is not None else ""
        cta = str(r.ctas_per_sm) if r.ctas_per_sm >= 0 else ""
        lines.append(
            f"{r.kernel:<{width}}  sm_{r.arch:<2}  {r.registers:>4}  {r.spill_bytes:>5}  {cta:>6}  {r.k_offsets:<5}  "
            f"{share:<20} {r.load_widths:<15} {status}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m mfa_engine.aot [--json] [--arch 80 90]``; exit 1 on any failure or spill."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m mfa_engine.aot")
    p.add_argument("--json", action="store_true")
    p.add_argument("--arch", type=int, nargs="+", default=list(ARCHS))
    args = p.parse_args(argv)
    reports = check_all(args.arch)
    if args.json:
        print(json.dumps([{**r.to_dict(), "error": r.error} for r in reports]))
    else:
        print(format_table(reports))
    return 0 if reports and all(r.ok for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
