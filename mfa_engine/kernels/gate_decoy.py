"""A decoy min-plus kernel that the SASS gate must reject (self-test of ``mfa kernels check``).

Its real K loop is a poor min-plus loop: masked scalar-width loads, a tiny tile, bound checks,
far below 80% useful instructions. Behind a run-time flag that is never set sits a second loop of
pure register FADD/FMNMX work (99%+ useful, no loads). A gate that takes "the loop with the most
useful instructions" scores the decoy loop and passes; :func:`mfa_engine.sass.gate_loop` gates
the loop holding the loads, checks its useful count against the tile, and refuses a second loop
of comparable work. Never launched by the engine.
"""

from __future__ import annotations

import triton
import triton.language as tl

__all__ = ["DECOY_SPEC"]


@triton.jit
def _decoy_minplus_kernel(d_ptr, w_ptr, out_ptr, S, K, J, stride_d, stride_w, stride_o, never,
                          BJ: tl.constexpr, BS: tl.constexpr, DJ: tl.constexpr, DS: tl.constexpr):  # fmt: skip
    pid_j = tl.program_id(0).to(tl.int64)
    pid_s = tl.program_id(1).to(tl.int64)
    offs_j = pid_j * BJ + tl.arange(0, BJ).to(tl.int64)
    offs_s = pid_s * BS + tl.arange(0, BS).to(tl.int64)
    mj = offs_j < J
    ms = offs_s < S
    acc = tl.full((BJ, BS), float("inf"), tl.float32)
    for k in range(K):  # the loop that runs: masked loads, 64-bit address math per k
        a = tl.load(w_ptr + k.to(tl.int64) * stride_w + offs_j, mask=mj & (k < K), other=float("inf"))
        b = tl.load(d_ptr + k.to(tl.int64) * stride_d + offs_s, mask=ms & (k < K), other=float("inf"))
        acc = tl.minimum(acc, a[:, None] + b[None, :])
    if never > 0:  # never true at run time: a loop of pure min-plus work on registers
        x = tl.zeros((DJ, DS), tl.float32) + 1.0
        y = tl.full((DJ, DS), float("inf"), tl.float32)
        for _ in range(never):
            for u in tl.static_range(8):
                y = tl.minimum(y, x + u)
                x = tl.minimum(x, y + u)
        acc = tl.minimum(acc, tl.min(tl.min(y, axis=1), axis=0))
    tl.store(out_ptr + offs_j[:, None] * stride_o + offs_s[None, :], acc, mask=mj[:, None] & ms[None, :])


_SIG = {"d_ptr": "*fp32", "w_ptr": "*fp32", "out_ptr": "*fp32", "S": "i32", "K": "i32", "J": "i32",
        "stride_d": "i32", "stride_w": "i32", "stride_o": "i32", "never": "i32",
        "BJ": "constexpr", "BS": "constexpr", "DJ": "constexpr", "DS": "constexpr"}  # fmt: skip

#: Compile spec in the form ``mfa kernels check`` takes (gated like a float32 min-plus kernel;
#: its real tile is 16 x 16 over 128 threads: 2 relaxations x 2 instructions per thread and k).
DECOY_SPEC = {
    "name": "decoy_minplus",
    "fn": _decoy_minplus_kernel,
    "signature": _SIG,
    "constexprs": {"BJ": 16, "BS": 16, "DJ": 64, "DS": 64},
    "num_warps": 4,
    "kind": "minplus",
    "useful_per_trip": 4,
}
