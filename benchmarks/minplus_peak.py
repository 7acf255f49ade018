"""Estimate this machine's fp32 min-plus peak (relaxations/s), two ways.

1. Theoretical: cores x clock x SIMD lanes x min(add pipes, min pipes). A relaxation is one add
   and one min; AVX2 gives 8 fp32 lanes; Zen 3 (this EPYC) issues 2 vaddps (FP2/FP3) and
   2 vminps (FP0/FP1) per cycle, so 16 relaxations per cycle and core. Clock: the nominal
   ``cpu MHz`` (boost under KVM is unknown; a higher clock only raises the peak).
2. Measured: a tight numba loop of the same register-blocked add/min microkernel as the CPU
   backend (2 sources x 4 reductions per 8-lane vector), on L1-resident data, all cores.

Run:  /work/venv/bin/python benchmarks/minplus_peak.py
"""

from __future__ import annotations

import os
import time

import numba
import numpy as np
from numba import njit, prange

LANES, PIPES = 8, 2


@njit(parallel=True, fastmath=False, cache=True)
def _micro(out, w, x, zero, reps):  # out [T, 2, J], w [K, J], x [T, 2, K]
    t_n, _, j_n = out.shape
    k_n = w.shape[0]
    for t in prange(t_n):
        o0 = out[t, 0]
        o1 = out[t, 1]
        for _ in range(reps):
            for kq in range(k_n // 4):
                k = 4 * kq
                x0, x1, x2, x3 = x[t, 0, k], x[t, 0, k + 1], x[t, 0, k + 2], x[t, 0, k + 3]
                y0, y1, y2, y3 = x[t, 1, k], x[t, 1, k + 1], x[t, 1, k + 2], x[t, 1, k + 3]
                for j in range(j_n):
                    w0, w1, w2, w3 = w[k, j], w[k + 1, j], w[k + 2, j], w[k + 3, j]
                    a0 = x0 + w0
                    a1 = x1 + w1
                    a2 = x2 + w2
                    a3 = x3 + w3
                    a0 = a0 if a0 < a1 else a1
                    a2 = a2 if a2 < a3 else a3
                    a0 = a0 if a0 < a2 else a2
                    c = o0[j] + zero
                    o0[j] = a0 if a0 < c else c
                    b0 = y0 + w0
                    b1 = y1 + w1
                    b2 = y2 + w2
                    b3 = y3 + w3
                    b0 = b0 if b0 < b1 else b1
                    b2 = b2 if b2 < b3 else b3
                    b0 = b0 if b0 < b2 else b2
                    c = o1[j] + zero
                    o1[j] = b0 if b0 < c else c


def clock_hz() -> float:
    """Nominal clock from /proc/cpuinfo (Hz)."""
    with open("/proc/cpuinfo") as f:
        mhz = [float(l.split(":")[1]) for l in f if l.startswith("cpu MHz")]
    return max(mhz) * 1e6


def theoretical_peak() -> float:
    """cores x clock x 8 lanes x 2 (add and min each issue twice per cycle)."""
    return os.cpu_count() * clock_hz() * LANES * PIPES


def measured_peak(repeat: int = 5) -> float:
    """Best relaxations/s of the register-blocked microkernel on L1-resident data, all threads."""
    t_n = numba.get_num_threads()
    j_n, k_n, reps = 256, 16, 400
    rng = np.random.default_rng(0)
    out = rng.random((t_n, 2, j_n)).astype(np.float32) + 10
    w = rng.random((k_n, j_n)).astype(np.float32)
    x = rng.random((t_n, 2, k_n)).astype(np.float32)
    _micro(out, w, x, np.float32(0), 1)
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        _micro(out, w, x, np.float32(0), reps)
        best = min(best, time.perf_counter() - t)
    return t_n * 2 * k_n * j_n * reps / best


def main() -> None:
    th = theoretical_peak()
    me = measured_peak()
    print(f"theoretical fp32 min-plus peak: {th:.3e} relax/s "
          f"({os.cpu_count()} cores x {clock_hz() / 1e9:.2f} GHz x {LANES} lanes x {PIPES})")
    print(f"measured microkernel peak:      {me:.3e} relax/s ({numba.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
