"""One-command GPU suite: correctness of every GPU backend against the CPU backend, and timings
against the fp32 min-plus roofline and HBM bandwidth. Ready for the first CUDA machine; without
a CUDA device it prints why and writes ``{"skipped": ...}``.

    python benchmarks/gpu_suite.py [--out gpu_suite.json] [--full] [--repeat 3]

Cases: every case of ``paths_cases.CASES`` plus stress shapes: radii including +inf, R = 256, a
very wide level (1 x 65,536 -> 1 x 65,536 with --full, 1 x 8,192 by default), and with --full a
batch whose distance buffer passes 2^31 elements (int64 offsets), plus the scaled-down flagship
(2.8B-shaped network sampled at 1/64 of its width; the full width with --full is a multi-minute
run). Each result records: backend, case, exact agreement with the CPU counts, best time,
relaxations/s, the fraction of the fp32 min-plus bound of the device (2 fp32 instructions per
relaxation: SMs x 128 lanes x clock / 2) and the bytes-over-HBM-time floor. See docs/gpu.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paths_cases import CASES, Case, make_case  # noqa: E402

#: HBM bandwidth by device name fragment (bytes/s), for the memory floor; peak datasheet values.
_HBM = {"H200": 4.8e12, "H100": 3.35e12, "A100": 2.0e12, "L40": 8.64e11, "A10": 6.0e11, "RTX 4090": 1.0e12}


def _layered(widths: list[int], rng: np.random.Generator) -> sp.csr_array:
    off = np.concatenate([[0], np.cumsum(widths)])
    rows, cols, vals = [], [], []
    for l in range(len(widths) - 1):
        i, j = np.meshgrid(np.arange(widths[l]), np.arange(widths[l + 1]), indexing="ij")
        rows.append((i + off[l]).ravel())
        cols.append((j + off[l + 1]).ravel())
        vals.append(rng.uniform(0.5, 2.0, i.size))
    n = int(off[-1])
    return sp.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


def stress_cases(full: bool) -> list[Case]:
    """Stress shapes: inf radii, R = 256, a very wide level, > 2^31 distance elements, flagship."""
    rng = np.random.default_rng(1)
    out = []
    g = _layered([64, 256, 256, 64], rng)
    src = np.arange(64, dtype=np.int64)
    out.append(Case("inf_radii", g, src, np.array([0.0, 1.0, 2.5, np.inf]), 64 * (64 * 256 + 256 * 256 + 256 * 64)))
    out.append(Case("r256", g, src, np.linspace(0.0, 6.0, 256), 64 * (64 * 256 + 256 * 256 + 256 * 64)))
    wide = 65536 if full else 8192
    g2 = _layered([1, wide, 1], rng)
    out.append(Case("wide_level", g2, np.array([0], np.int64), np.linspace(0, 4, 16), 2 * wide))
    if full:  # [N, S] float32 buffer beyond 2^31 elements: 16 levels x 4096 nodes x 40,000 sources
        g3 = _layered([4096] * 16, rng)
        s3 = np.arange(40_000, dtype=np.int64) % 4096
        out.append(Case("over_2p31_elems", g3, s3, np.linspace(0, 8, 32), 40_000 * 15 * 4096 * 4096 // 16))
    scale = 1 if full else 64  # 2.8B-shaped: 32 blocks of (2560, 10240) widths
    widths = [2560 // scale, 10240 // scale] * 32 + [2560 // scale]
    g4 = _layered(widths, rng)
    s4 = np.arange(g4.shape[0], dtype=np.int64)[:: max(1, g4.shape[0] // 4096)]
    work = sum(widths[a] * widths[a + 1] for a in range(len(widths) - 1)) * s4.size // 2
    out.append(Case("flagship_2p8b" + ("" if full else "_scaled"), g4, s4, np.geomspace(0.5, 64, 64), work))
    return out


def device_info() -> dict:
    """Name, SM count, clock, and the fp32 min-plus bound of CUDA device 0."""
    import torch

    p = torch.cuda.get_device_properties(0)
    clock_hz = getattr(p, "clock_rate", 0) * 1e3 or 1.98e9  # kHz when exposed
    bound = p.multi_processor_count * 128 * clock_hz / 2
    hbm = next((v for k, v in _HBM.items() if k in p.name), None)
    return {"name": p.name, "sms": p.multi_processor_count, "clock_hz": clock_hz,
            "minplus_bound_per_s": bound, "hbm_bytes_per_s": hbm, "capability": list(torch.cuda.get_device_capability(0))}  # fmt: skip


def run_case(case: Case, backends: list[str], repeat: int, dev: dict) -> list[dict]:
    """Check and time ``case`` on each GPU backend against the CPU backend."""
    import torch

    from mfa_engine.paths import multi_source_counts

    ref = multi_source_counts(case.graph, case.sources, case.radii, backend="cpu")
    rows = []
    for be in backends:
        rec = {"case": case.name, "backend": be, "relaxations": case.relaxations}
        try:
            got = multi_source_counts(case.graph, case.sources, case.radii, backend=be)
            rec["exact"] = bool(np.array_equal(got, ref))
            best = np.inf
            for _ in range(repeat):
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                multi_source_counts(case.graph, case.sources, case.radii, backend=be)
                torch.cuda.synchronize()
                best = min(best, time.perf_counter() - t0)
            rec["seconds"] = best
            rec["relax_per_s"] = case.relaxations / best
            rec["frac_minplus_bound"] = rec["relax_per_s"] / dev["minplus_bound_per_s"]
            if dev["hbm_bytes_per_s"]:
                bytes_moved = case.graph.nnz * 4 + case.sources.size * case.graph.shape[0] * 4
                rec["hbm_floor_seconds"] = bytes_moved / dev["hbm_bytes_per_s"]
        except Exception as exc:  # a failing backend is a result, not a crash
            rec["error"] = f"{exc.__class__.__name__}: {exc}"[:300]
            rec["exact"] = False
        rows.append(rec)
        print(json.dumps(rec), flush=True)
    return rows


def write_verdict(device_name: str, rows: list[dict]) -> dict:
    """Record which backends were exact on every case on this device, and whether CuPy was faster
    (sum of best times), where ``backend="auto"`` reads it (``dispatch.suite_record_path``)."""
    from mfa_engine.paths.dispatch import suite_record_path

    def ok(be: str) -> bool:
        mine = [r for r in rows if r["backend"] == be]
        return bool(mine) and all(r.get("exact") for r in mine)

    def total(be: str) -> float:
        return sum(r.get("seconds", np.inf) for r in rows if r["backend"] == be) or np.inf

    v = {"device": device_name, "triton_exact": ok("triton"), "cupy_exact": ok("cupy"),
         "cupy_faster": bool(ok("cupy") and total("cupy") < total("triton")), "source": "benchmarks/gpu_suite.py"}  # fmt: skip
    path = suite_record_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(v, indent=1))
    except OSError as exc:
        print(f"could not record the backend verdict in {path}: {exc}")
    return v


def main(argv: list[str] | None = None) -> int:
    """Run the suite; exit 1 when any backend disagrees with the CPU or fails."""
    p = argparse.ArgumentParser(prog="gpu_suite.py")
    p.add_argument("--out", default="gpu_suite.json")
    p.add_argument("--full", action="store_true", help="full-size stress shapes and the full flagship")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--cases", nargs="*", default=None, help="subset of case names")
    args = p.parse_args(argv)
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except Exception:
        has_gpu = False
    if not has_gpu:
        msg = "no CUDA device: GPU suite skipped (nothing was run)"
        print(msg)
        Path(args.out).write_text(json.dumps({"skipped": msg, "host": platform.node()}, indent=1))
        return 0
    backends = ["triton"]
    try:
        import cupy  # noqa: F401

        backends.append("cupy")
    except Exception:
        print("CuPy not importable: the cupy backend is not checked")
    dev = device_info()
    cases = [make_case(c) for c in CASES] + stress_cases(args.full)
    if args.cases:
        cases = [c for c in cases if c.name in args.cases]
    rows = []
    for case in cases:
        rows.extend(run_case(case, backends, args.repeat, dev))
    Path(args.out).write_text(json.dumps({"device": dev, "full": args.full, "results": rows}, indent=1))
    write_verdict(dev["name"], rows)
    bad = [r for r in rows if not r.get("exact")]
    print(f"{len(rows) - len(bad)}/{len(rows)} exact; results in {args.out}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
