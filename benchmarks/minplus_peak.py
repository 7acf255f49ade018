"""Measure this machine's fp32 min-plus peak (relaxations/s).

A relaxation ``acc = min(acc, x + w)`` costs one ``vaddps`` and one ``vminps`` per 8 fp32 lanes
(AVX2). The peak is measured, not taken from a datasheet: ``minplus_peak.c`` runs independent
relaxations on registers only (no loads or stores, so nothing but the execution pipes limits it)
on every core at once. Its ``mix`` mode shows why a datasheet count of "4 FP pipes" does not
apply: on this EPYC (Zen 3) ``vaddps`` and ``vminps`` share the two FP-add pipes (an add/min mix
issues no faster than adds alone, while an add/mul mix issues twice as fast), so a core
sustains 2 fp32 add-or-min vector ops per cycle, i.e. 8 relaxations per cycle.

The C file is compiled with the system C compiler (``cc``) into a temporary directory.

Run:  .venv/bin/python benchmarks/minplus_peak.py [--mix]
"""

from __future__ import annotations

import argparse
import atexit
import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["instruction_mix", "measured_peak", "nominal_clock_hz", "widest_isa"]

_SRC = Path(__file__).resolve().parent / "minplus_peak.c"


@functools.lru_cache(maxsize=1)
def _binary() -> str:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise RuntimeError("minplus_peak needs a C compiler (cc, gcc or clang) on PATH")
    tmp = tempfile.mkdtemp(prefix="minplus-peak-")
    atexit.register(shutil.rmtree, tmp, True)
    out = os.path.join(tmp, "minplus_peak")
    subprocess.run([cc, "-O2", "-mavx2", "-pthread", str(_SRC), "-o", out], check=True)
    return out


def widest_isa() -> str:
    """The widest vector ISA of this CPU the peak loop has a variant for, probed at run time
    (``__builtin_cpu_supports``): ``"avx512"`` or ``"avx2"``."""
    return subprocess.run([_binary(), "isa"], check=True, capture_output=True, text=True).stdout.strip()


def measured_peak(runs: int = 3, threads: int | None = None, kind: str = "float", isa: str = "auto") -> float:
    """Best total relaxations/s of the register-only add/min loop on all cores at once.

    Args:
        runs: Independent runs (each already the best of 5 timings per thread); the maximum is
            returned, since other jobs on a shared machine only lower it.
        threads: Threads (default: ``os.cpu_count()``).
        kind: ``"float"`` (``vaddps`` + ``vminps``) or ``"int"`` (``vaddps`` + ``vpminud``, the
            minimum on the bit patterns of non-negative floats, in the integer pipes).
        isa: ``"avx2"`` (256-bit), ``"avx512"`` (512-bit) or ``"auto"`` (:func:`widest_isa`).
    """
    n = threads or os.cpu_count() or 1
    isa = widest_isa() if isa == "auto" else isa
    cmd = [_binary(), "relax", str(n), kind, isa]
    return max(float(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout) for _ in range(runs))


def instruction_mix() -> dict[str, float]:
    """Issue rate (vector ops/ns, one core) of even mixes of two AVX instructions."""
    pairs = [("add", "add"), ("min", "min"), ("add", "min"), ("add", "mul"), ("min", "mul")]
    return {f"{a}+{b}": float(subprocess.run([_binary(), "mix", a, b], check=True, capture_output=True,
                                             text=True).stdout) for a, b in pairs}  # fmt: skip


def nominal_clock_hz() -> float:
    """Nominal clock from /proc/cpuinfo (Hz; under KVM the boost clock is not shown)."""
    with open("/proc/cpuinfo") as f:
        mhz = [float(line.split(":")[1]) for line in f if line.startswith("cpu MHz")]
    return max(mhz) * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mix", action="store_true", help="also print the instruction-mix table")
    args = p.parse_args()
    if args.mix:
        for name, rate in instruction_mix().items():
            print(f"{name:<8} {rate:6.2f} vector ops/ns per core")
    isa = widest_isa()
    for kind in ("float", "int"):
        one, peak = measured_peak(threads=1, kind=kind), measured_peak(kind=kind)
        print(f"{kind} min, {isa}, one core: {one:.3e} relax/s; all {os.cpu_count()} cores: {peak:.3e} relax/s")
    print(f"nominal clock {nominal_clock_hz() / 1e9:.2f} GHz")


if __name__ == "__main__":
    main()
