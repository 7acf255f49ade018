"""The first lent GPU, in one command: what must be measured, in under 8 minutes on one H100/H200.

    bash benchmarks/device_run.sh [--small] [--big] [--budget 420] [--only STEP ...]

Steps (each writes ``device_run.json`` under ``$OUT`` (default ``./device-out``) when it ends,
so a run cut off at any point still reports what it did):

  env         Python, torch / triton / CuPy versions, the device (name, SMs, clock, memory)
  install     dependencies importable offline (else ``pip --no-index`` from ``$MFA_WHEELHOUSE``)
  warmup      compile the CPU reference kernels (numba) once, before the comparisons
  tests       the GPU tests (``tests/paths/test_gpu_exact.py`` and the launcher checks) with pytest
  exactness   every GPU backend against the CPU backend on the benchmark cases and the
              extreme-weight cases; writes the suite verdict that ``backend="auto"`` reads
  kernels     per-kernel timings (CUDA events) on the flagship block shapes (2560 -> 10240 and
              10240 -> 2560, 2.8B-shaped), for each launched variant and dtype and both backends,
              as % of the fp32 min-plus roofline and of HBM bandwidth
  network70m  the 70M-shaped full network end to end (all 31,232 nodes as centres), with the
              fraction of sources the float32 pass flagged, checked against the CPU on a sample
  sanitizer   ``compute-sanitizer --tool memcheck`` on a small case
  ncu         one Nsight Compute profile of the hot kernel
  big         (``--big``) a real batch whose distance buffer passes 2^31 elements, sized to the
              device memory, checked against the CPU on a sample of its sources

Without a CUDA device and with ``TRITON_INTERPRET=1`` the same steps run on small shapes under
the Triton interpreter (timings are then labelled as interpreter times, not GPU speeds); steps
that need the device or its tools are recorded as skipped. ``--small`` forces the small shapes.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

STEPS = ("env", "install", "warmup", "tests", "exactness", "kernels", "network70m", "sanitizer", "ncu", "big")
#: Seconds each step may take on the device; a step never runs past the run's deadline
#: (``--budget``, 470 s by default), so the whole run stays under 8 minutes.
STEP_LIMIT = {"env": 30, "install": 90, "warmup": 90, "tests": 120, "exactness": 100, "kernels": 90,
              "network70m": 90, "sanitizer": 60, "ncu": 60, "big": 90}  # fmt: skip
#: HBM bandwidth by device-name fragment (bytes/s), datasheet peaks.
HBM = {"H200": 4.8e12, "H100 NVL": 3.9e12, "H100 PCIe": 2.0e12, "H100": 3.35e12, "A100": 2.0e12, "L40": 8.64e11}
#: Max SM clock by device-name fragment (Hz) when nvidia-smi does not say.
CLOCK = {"H200": 1.98e9, "H100": 1.98e9, "A100": 1.41e9}


class StepTimeout(Exception):
    """A step ran past its limit."""


class Run:
    """The JSON document and its step-by-step writer."""

    def __init__(self, out: Path, small: bool) -> None:
        self.out = out
        self.t0 = time.time()
        self.doc: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                    "host": platform.node(), "small": small, "steps": {}, "done": False}  # fmt: skip
        out.mkdir(parents=True, exist_ok=True)
        self.write()

    def write(self) -> None:
        path = self.out / "device_run.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.doc, indent=1, default=_jsonable))
        os.replace(tmp, path)

    def step(self, name: str, fn: Callable[[dict], dict], limit: float) -> None:
        """Run one step with a time limit; ``fn(live)`` may put partial results in ``live`` (kept
        when the step times out or fails) and call ``live["flush"]()`` to write them at once."""
        print(f"[{time.time() - self.t0:6.1f}s] {name} ...", flush=True)
        t = time.time()
        rec: dict[str, Any]
        live: dict[str, Any] = {}

        def flush() -> None:
            self.doc["steps"][name] = {**{k: v for k, v in live.items() if k != "flush"}, "status": "running"}
            self.write()

        live["flush"] = flush
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(max(1, int(limit)))
        try:
            rec = fn(live) or {}
            rec.setdefault("status", "ok")
        except StepTimeout:
            rec = {"status": "timeout", "limit_s": limit}
        except Exception as exc:  # a failing step is a result, not the end of the run
            rec = {"status": "error", "error": f"{exc.__class__.__name__}: {exc}"[:600]}
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
        for k, v in live.items():
            if k != "flush":
                rec.setdefault(k, v)
        rec["seconds"] = round(time.time() - t, 3)
        self.doc["steps"][name] = rec
        self.write()
        print(f"[{time.time() - self.t0:6.1f}s] {name}: {rec['status']} ({rec['seconds']} s)", flush=True)


def _alarm(signum, frame):  # noqa: ARG001
    raise StepTimeout()


def _jsonable(x: Any) -> Any:
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def has_cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "on")


def gpu_backends() -> list[str]:
    """Backends to check: triton always (device or interpreter), cupy on a device when importable."""
    out = ["triton"]
    if has_cuda():
        try:
            import cupy  # noqa: F401

            out.append("cupy")
        except Exception:
            pass
    return out


def sync() -> None:
    if has_cuda():
        import torch

        torch.cuda.synchronize()


# ------------------------------------------------------------------------------------------ steps


def step_env() -> dict:
    rec: dict[str, Any] = {"python": sys.version.split()[0], "executable": sys.executable, "cuda": has_cuda(),
                           "triton_interpret": interpreting()}  # fmt: skip
    for mod in ("numpy", "scipy", "numba", "torch", "triton", "cupy"):
        try:
            rec[mod] = __import__(mod).__version__
        except Exception as exc:
            rec[mod] = f"missing ({exc.__class__.__name__})"
    smi = shutil.which("nvidia-smi")
    if smi:
        res = subprocess.run([smi, "--query-gpu=name,clocks.max.sm,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)  # fmt: skip
        rec["nvidia_smi"] = res.stdout.strip()
    if has_cuda():
        rec["device"] = device_info()
    for tool in ("compute-sanitizer", "ncu", "nvcc"):
        rec[tool] = _tool(tool)
    return rec


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for root in ("/usr/local/cuda/bin", "/opt/nvidia/nsight-compute"):
        cand = Path(root) / name
        if cand.exists():
            return str(cand)
    return None


def device_info() -> dict:
    """Name, SMs, clock, memory, and the fp32 min-plus bound (one FADD + one FMNMX per relaxation
    on 128 fp32 lanes per SM: SMs x 128 x clock / 2 relaxations/s) and HBM bandwidth."""
    import torch

    p = torch.cuda.get_device_properties(0)
    clock = None
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            res = subprocess.run([smi, "--query-gpu=clocks.max.sm", "--format=csv,noheader,nounits", "-i", "0"],
                                 capture_output=True, text=True, timeout=20)  # fmt: skip
            clock = float(res.stdout.strip().splitlines()[0]) * 1e6
        except Exception:
            clock = None
    clock = clock or next((v for k, v in CLOCK.items() if k in p.name), 1.5e9)
    hbm = next((v for k, v in HBM.items() if k in p.name), None)
    return {"name": p.name, "sms": p.multi_processor_count, "clock_hz": clock, "memory_bytes": p.total_memory,
            "capability": list(torch.cuda.get_device_capability(0)),
            "minplus_bound_per_s": p.multi_processor_count * 128 * clock / 2, "hbm_bytes_per_s": hbm}  # fmt: skip


def step_install() -> dict:
    need = ("numpy", "scipy", "numba", "torch", "triton")
    missing = []
    for mod in need:
        try:
            __import__(mod)
        except Exception:
            missing.append(mod)
    rec: dict[str, Any] = {"missing": missing}
    wheels = os.environ.get("MFA_WHEELHOUSE")
    if missing and wheels and Path(wheels).is_dir():
        res = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--find-links", wheels, *missing],
                             capture_output=True, text=True, timeout=80)  # fmt: skip
        rec["pip"] = res.returncode
        rec["pip_tail"] = (res.stdout + res.stderr)[-800:]
    import mfa_engine

    rec["mfa_engine"] = {"version": mfa_engine.__version__, "path": str(Path(mfa_engine.__file__).parent)}
    rec["status"] = "ok" if not missing or rec.get("pip") == 0 else "error"
    return rec


def step_warmup() -> dict:
    """Compile the CPU reference kernels (numba) once, into numba's on-disk cache, before the
    steps that compare with the CPU (and the test subprocess, which reuses the cache)."""
    import scipy.sparse as sp

    from mfa_engine.paths import multi_source_counts

    rng = np.random.default_rng(0)
    g = _chain([0.5, 1.0, 1.5])
    t = time.perf_counter()
    multi_source_counts(g, [0, 1], [0.4, 1.5, 3.0], backend="cpu")  # float32 pass
    multi_source_counts(_chain([1e-46, 1.0]), [0], [0.0, 1.0], backend="cpu")  # float64 path
    m = sp.random_array((40, 40), density=0.1, rng=rng, format="csr")
    multi_source_counts(m, [0, 1], [0.5, 1.0], backend="cpu")  # general graphs
    return {"compile_seconds": time.perf_counter() - t}


def step_tests(small: bool) -> dict:
    """The GPU tests: on a device the extreme-weight and driver tests run on it; here under the
    interpreter (a subset in small mode)."""
    try:
        import pytest  # noqa: F401
    except Exception:
        return {"status": "skipped", "why": "pytest is not installed"}
    files = ["tests/paths/test_gpu_exact.py", "tests/kernels/test_launch_checks.py", "tests/paths/test_gpu_auto.py"]
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "--noconftest", "-p", "no:cacheprovider", "-m", "not slow", *files]
    if small:
        cmd += ["-k", "extreme or refuse or auto or range_rule"]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=STEP_LIMIT["tests"] - 5)
    tail = res.stdout.strip().splitlines()[-1:] or [""]
    return {"status": "ok" if res.returncode == 0 else "failed", "returncode": res.returncode, "summary": tail[0],
            "tail": (res.stdout + res.stderr)[-1500:] if res.returncode else ""}  # fmt: skip


def _chain(weights: list[float]):
    from mfa_engine.layered import LayeredGraph

    return LayeredGraph([1] * (len(weights) + 1), [np.array([[w]]) for w in weights])


def extreme_cases() -> list[tuple[str, Any, np.ndarray, np.ndarray]]:
    """The extreme-weight cases (float32 subnormal and overflow) with a random log-uniform DAG."""
    from mfa_engine.layered import LayeredGraph

    rng = np.random.default_rng(0)
    sizes = [3, 4, 2, 4]
    blocks = []
    for a, b in itertools.pairwise(sizes):
        w = 10.0 ** rng.uniform(-60, 60, (a, b))
        w[rng.random((a, b)) < 0.3] = np.inf
        blocks.append(w)
    return [
        ("edge_1e-46_radius_0", _chain([1e-46]), np.array([0]), np.array([0.0])),
        ("subnormal_sum", _chain([1e-44, 1e-44]), np.array([0]), np.array([1.99e-44, 2e-44])),
        ("overflow_edge_1e39", _chain([1e39]), np.array([0]), np.array([1e40, np.inf])),
        ("overflow_sum", _chain([3e38, 3e38]), np.array([0]), np.array([3.1e38, 6e38, 6.1e38])),
        ("log_uniform_1e-60_1e60", LayeredGraph(sizes, blocks), np.arange(sum(sizes)),
         np.array([0.0, 1e-50, 1e-20, 1.0, 1e20, 1e50, np.inf])),
    ]  # fmt: skip


def bench_cases(small: bool) -> list[tuple[str, Any, np.ndarray, np.ndarray]]:
    """The benchmark cases (benchmarks/paths_cases.py) on a device; tiny stand-ins under the
    interpreter."""
    if not small:
        from paths_cases import CASES, make_case

        return [(c.name, c.graph, c.sources, c.radii) for c in (make_case(n) for n in CASES)]
    import scipy.sparse as sp

    from mfa_engine.layered import LayeredGraph

    rng = np.random.default_rng(1)
    sizes = [16, 24, 8, 16]
    g = LayeredGraph(sizes, [1.0 / np.abs(rng.normal(0, 0.02, (a, b))) for a, b in itertools.pairwise(sizes)])
    n = 60
    m = sp.random_array((n, n), density=0.08, rng=rng, format="csr")
    m.data = rng.uniform(0.5, 2.0, m.nnz)
    r1 = np.geomspace(30, 400, 6)
    return [("layered_small", g, np.arange(0, 64, 5), np.append(r1, np.inf)),
            ("random_sparse_small", sp.csr_array(m), np.arange(0, n, 7), np.array([0.0, 0.5, 1.0, 2.0, 4.0]))]


def step_exactness(small: bool, out: Path, live: dict) -> dict:
    from mfa_engine.paths import multi_source_counts

    rows: list[dict] = []
    live["results"] = rows
    times: dict[str, float] = {}
    for name, g, src, radii in bench_cases(small) + extreme_cases():
        ref = multi_source_counts(g, src, radii, backend="cpu")
        for be in gpu_backends():
            rec: dict[str, Any] = {"case": name, "backend": be}
            try:
                multi_source_counts(g, src, radii, backend=be)  # warm-up (compilation, resident blocks)
                sync()
                t = time.perf_counter()
                got = multi_source_counts(g, src, radii, backend=be)
                sync()
                rec["seconds"] = time.perf_counter() - t
                rec["exact"] = bool(np.array_equal(got, ref))
                if not rec["exact"]:
                    rec["mismatched_rows"] = int((got != ref).any(axis=1).sum())
                if not name.startswith(("edge", "subnormal", "overflow", "log_uniform")):
                    times[be] = times.get(be, 0.0) + rec["seconds"]
            except Exception as exc:
                rec.update(exact=False, error=f"{exc.__class__.__name__}: {exc}"[:300])
            rows.append(rec)
            live["flush"]()
    verdict = {be: all(r.get("exact") for r in rows if r["backend"] == be) for be in gpu_backends()}
    rec = {"results": rows, "exact_by_backend": verdict, "bench_seconds": times}
    if has_cuda():  # the verdict backend="auto" reads (mfa_engine.paths.dispatch.suite_record_path)
        import torch

        from mfa_engine.paths.dispatch import suite_record_path

        v = {"device": torch.cuda.get_device_name(0), "triton_exact": verdict.get("triton", False),
             "cupy_exact": verdict.get("cupy", False),
             "cupy_faster": bool("cupy" in times and times["cupy"] < times.get("triton", np.inf)),
             "bench_seconds": times, "source": "benchmarks/device_run.py"}  # fmt: skip
        (out / "gpu_suite_verdict.json").write_text(json.dumps(v, indent=1))
        try:
            suite_record_path().parent.mkdir(parents=True, exist_ok=True)
            suite_record_path().write_text(json.dumps(v, indent=1))
        except OSError:
            pass
        rec["verdict"] = v
    rec["status"] = "ok" if all(verdict.values()) else "failed"
    return rec


def _variants(fp64: bool) -> list[tuple[str, dict]]:
    if fp64:
        return [("fp64_count", dict(accumulate=False, finalize=True, count=True, flags=False))]
    return [
        ("count", dict(accumulate=False, finalize=True, count=True, flags=True)),
        ("first", dict(accumulate=False, finalize=False, count=False, flags=False)),
        ("partial", dict(accumulate=True, finalize=False, count=False, flags=False)),
        ("accumulate_count", dict(accumulate=True, finalize=True, count=True, flags=True)),
    ]


def step_kernels(small: bool, live: dict) -> dict:
    """Each launched variant on the flagship block shapes; CUDA-event times (median of reps)."""
    import torch

    from mfa_engine.kernels.layered_minplus import launch_aligned, tile_config

    dev = torch.device("cuda" if has_cuda() else "cpu")
    info = device_info() if has_cuda() else {"minplus_bound_per_s": None, "hbm_bytes_per_s": None, "sms": 132}
    shapes = [(128, 256, 128)] if small else [(2560, 10240, 4096), (10240, 2560, 4096)]
    reps = 1 if small else 5
    backends = gpu_backends()
    rows: list[dict] = []
    live.update(results=rows, device=info)
    r_n = 64
    for k_n, j_n, s_n in shapes:
        for fp64 in (False, True):
            tdt = torch.float64 if fp64 else torch.float32
            gen = torch.Generator(device="cpu").manual_seed(0)
            w = (torch.rand((k_n, j_n), generator=gen, dtype=torch.float64) * 3 + 0.5).to(dev, tdt)
            d = (torch.rand((k_n, s_n), generator=gen, dtype=torch.float64) * 3).to(dev, tdt)
            out = torch.full((j_n, s_n), float("inf"), dtype=tdt, device=dev)
            radii = torch.linspace(0.5, 6.0, r_n, dtype=tdt, device=dev)
            hist = torch.zeros((s_n, r_n + 1), dtype=torch.int32, device=dev)
            flags = torch.zeros(s_n, dtype=torch.int8, device=dev)
            gsrc = torch.zeros(s_n, dtype=torch.float32, device=dev)
            for be in backends:
                for tag, v in _variants(fp64):
                    kw = dict(thr=1e30, accumulate=v["accumulate"], finalize=v["finalize"],
                              hist=hist if v["count"] else None, flags=flags if v["flags"] else None,
                              gsrc=gsrc, radii=radii, gamma=3 * 2.0**-24)  # fmt: skip
                    if be == "triton":
                        cfg = tile_config(torch.cuda.get_device_capability()[0] if has_cuda() else 9, fp64)
                        fn = functools.partial(launch_aligned, d, w, out, s_n, j_n, cfg=cfg, **kw)
                    else:
                        from mfa_engine.kernels.cupy_paths import (
                            layered_minplus_aligned,
                        )

                        fn = functools.partial(layered_minplus_aligned, d, w, out, s_n, j_n, **kw)
                    rec: dict[str, Any] = {"backend": be, "variant": tag, "dtype": "float64" if fp64 else "float32",
                                           "K": k_n, "J": j_n, "S": s_n, "R": r_n}  # fmt: skip
                    try:
                        rec["seconds"] = _time(fn, reps)
                        relax = k_n * j_n * s_n
                        rec["relax_per_s"] = relax / rec["seconds"]
                        moved = (k_n * j_n + k_n * s_n + j_n * s_n * (2 if v["accumulate"] else 1)) * (8 if fp64 else 4)
                        rec["bytes"] = moved
                        if info["minplus_bound_per_s"]:
                            rec["pct_fp32_minplus_roofline"] = 100 * rec["relax_per_s"] / info["minplus_bound_per_s"]
                        if info["hbm_bytes_per_s"]:
                            rec["pct_hbm_bandwidth"] = 100 * moved / rec["seconds"] / info["hbm_bytes_per_s"]
                        if not has_cuda():
                            rec["note"] = "Triton interpreter on CPU: not a GPU speed"
                    except Exception as exc:
                        rec["error"] = f"{exc.__class__.__name__}: {exc}"[:300]
                    rows.append(rec)
                    live["flush"]()
            del w, d, out
    return {"results": rows, "device": info, "status": "ok" if all("error" not in r for r in rows) else "failed"}


def _time(fn: Callable[[], None], reps: int) -> float:
    """Median seconds of ``fn`` (CUDA events on a device, wall clock otherwise), after a warm-up."""
    fn()
    sync()
    if not has_cuda():
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t
    import torch

    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b) / 1e3)
    return float(np.median(ts))


def network_70m(small: bool):
    """The 70M-shaped full network: per block x 512 -> qkv 1536 -> ctx 512 -> attn_out 512 ->
    mlp 2048 -> next x (6 blocks, 31,232 nodes), weights 1/|N(0, 0.02)|; 1/16 width, 2 blocks
    in small mode."""
    from mfa_engine.layered import LayeredGraph

    div, n_blocks = (16, 2) if small else (1, 6)
    per = [512 // div, 1536 // div, 512 // div, 512 // div, 2048 // div]
    sizes = per * n_blocks + [512 // div]
    rng = np.random.default_rng(70)
    blocks = [1.0 / np.abs(rng.normal(0, 0.02, (a, b))) for a, b in itertools.pairwise(sizes)]
    return LayeredGraph(sizes, blocks)


def step_network70m(small: bool) -> dict:
    from mfa_engine.analysis.radii import radius_grid
    from mfa_engine.paths import (
        gpu,
        multi_source_counts,
        multi_source_distances,
        prepare_graph,
    )

    g = network_70m(small)
    prep = prepare_graph(g)
    n = prep.n_nodes
    src = np.arange(n, dtype=np.int64)
    sample = np.sort(np.random.default_rng(0).choice(n, size=min(n, 256 if not small else 24), replace=False))
    d = multi_source_distances(prep, sample[:16], backend="cpu")
    radii = radius_grid(d[np.isfinite(d)], n=64)
    be = gpu_backends()[0]
    t = time.perf_counter()
    counts = multi_source_counts(prep, src, radii, backend=be)
    sync()
    secs = time.perf_counter() - t
    stats = dict(gpu.last_stats)
    ref = multi_source_counts(prep, sample, radii, backend="cpu")
    exact = bool(np.array_equal(counts[sample], ref))
    return {"backend": be, "nodes": n, "centres": int(src.size), "radii": int(radii.size), "seconds": secs,
            "flagged": stats.get("flagged"), "flagged_fraction": (stats.get("flagged") or 0) / max(src.size, 1),
            "float64_only": stats.get("float64_only"), "passes": stats.get("passes"),
            "exact_on_sample": exact, "sample": int(sample.size),
            "status": "ok" if exact else "failed"}  # fmt: skip


def step_tool(tool: str, small: bool, out: Path) -> dict:
    """compute-sanitizer (memcheck) on a small case, or one ncu profile of the hot kernel."""
    if not has_cuda():
        return {"status": "skipped", "why": "no CUDA device"}
    exe = _tool(tool)
    if exe is None:
        return {"status": "skipped", "why": f"{tool} not found"}
    inner = [sys.executable, str(Path(__file__)), "--inner", "sanitizer_case" if tool == "compute-sanitizer" else "hot"]
    if tool == "compute-sanitizer":
        cmd = [exe, "--tool", "memcheck", "--error-exitcode", "3", *inner]
    else:
        cmd = [exe, "--kernel-name", "regex:minplus", "--launch-count", "1", "--set", "full",
               "-o", str(out / "hot_kernel"), "-f", *inner]  # fmt: skip
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=STEP_LIMIT["ncu" if tool == "ncu" else "sanitizer"] - 5)
    rec = {"returncode": res.returncode, "tail": (res.stdout + res.stderr)[-2500:],
           "status": "ok" if res.returncode == 0 else "failed"}  # fmt: skip
    if tool == "ncu" and res.returncode == 0:
        rep = out / "hot_kernel.ncu-rep"
        if rep.exists():
            page = subprocess.run([exe, "--import", str(rep), "--page", "details", "--csv"], capture_output=True,
                                  text=True, timeout=30)  # fmt: skip
            (out / "hot_kernel_details.csv").write_text(page.stdout)
            rec["details_csv"] = "hot_kernel_details.csv"
    return rec


def inner(what: str) -> int:
    """Small workloads run under compute-sanitizer / ncu."""
    from mfa_engine.paths import multi_source_counts

    if what == "sanitizer_case":
        for name, g, src, radii in bench_cases(True) + extreme_cases()[:2]:
            for be in gpu_backends():
                got = multi_source_counts(g, src, radii, backend=be)
                assert np.array_equal(got, multi_source_counts(g, src, radii, backend="cpu")), (name, be)
        return 0
    g = network_70m(False)
    multi_source_counts(g, np.arange(0, 4096), np.geomspace(20, 400, 64), backend="triton")
    return 0


def step_big(small: bool) -> dict:
    """A batch whose [Np, B] distance buffer passes 2^31 elements (float32), sized to the device:
    16 levels x 4096 nodes and as many sources as make Np x B > 2^31 (padded), checked against
    the CPU on a sample of the sources."""
    if not has_cuda():
        return {"status": "skipped", "why": "needs a CUDA device (about 9 GB for the distance buffer)"}
    import torch

    from mfa_engine.layered import LayeredGraph
    from mfa_engine.paths import gpu, multi_source_counts, prepare_graph

    free, _ = torch.cuda.mem_get_info()
    width, levels = 4096, 16
    n_p = width * levels
    need = (2**31 // n_p + 1 + 127) // 128 * 128
    if need * n_p * 4 > 0.5 * free:
        return {"status": "skipped", "why": f"{need * n_p * 4 / 1e9:.1f} GB buffer > half of the free memory"}
    rng = np.random.default_rng(31)
    g = LayeredGraph([width] * levels, [rng.uniform(0.5, 2.0, (width, width)) for _ in range(levels - 1)])
    prep = prepare_graph(g)
    src = np.arange(need, dtype=np.int64) % width  # level-0 sources: the full depth each
    radii = np.linspace(0.5, 8.0, 32)
    t = time.perf_counter()
    counts = multi_source_counts(prep, src, radii, backend="triton")
    sync()
    secs = time.perf_counter() - t
    p = gpu.last_stats["passes"][0]
    sample = np.arange(0, need, max(1, need // 16))
    ref = multi_source_counts(prep, src[sample], radii, backend="cpu")
    exact = bool(np.array_equal(counts[sample], ref))
    elems = int(p["batch"]) * n_p
    return {"sources": int(need), "batch": p["batch"], "buffer_elements": elems, "over_2p31": elems > 2**31,
            "seconds": secs, "exact_on_sample": exact, "status": "ok" if exact and elems > 2**31 else "failed"}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="device_run.py", description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.environ.get("OUT") or "./device-out")
    p.add_argument("--small", action="store_true", help="small shapes (automatic without a CUDA device)")
    p.add_argument("--big", action="store_true", help="also run the > 2^31-element batch")
    p.add_argument("--budget", type=float, default=470.0,
                   help="deadline in seconds: no step runs past it (later steps are skipped)")
    p.add_argument("--only", nargs="*", choices=STEPS, default=None)
    p.add_argument("--inner", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.inner:
        return inner(args.inner)
    cuda = has_cuda()
    if not cuda and not interpreting():
        os.environ["TRITON_INTERPRET"] = "1"  # before triton is imported: run the kernels on CPU
    small = args.small or not cuda
    run = Run(Path(args.out), small)
    run.doc["mode"] = "device" if cuda else "triton interpreter (no CUDA device): small shapes, no GPU speeds"
    out = Path(args.out)
    steps: list[tuple[str, Callable[[dict], dict]]] = [
        ("env", lambda live: step_env()),
        ("install", lambda live: step_install()),
        ("warmup", lambda live: step_warmup()),
        ("tests", lambda live: step_tests(small)),
        ("exactness", lambda live: step_exactness(small, out, live)),
        ("kernels", lambda live: step_kernels(small, live)),
        ("network70m", lambda live: step_network70m(small)),
        ("sanitizer", lambda live: step_tool("compute-sanitizer", small, out)),
        ("ncu", lambda live: step_tool("ncu", small, out)),
    ]
    if args.big:
        steps.append(("big", lambda live: step_big(small)))
    scale = 1 if cuda else 6  # the interpreter is slow; no device time is spent
    for name, fn in steps:
        if args.only and name not in args.only:
            continue
        left = args.budget * scale - (time.time() - run.t0)
        if left < 10:
            run.doc["steps"][name] = {"status": "skipped", "why": f"past the {args.budget:.0f} s deadline"}
            run.write()
            continue
        run.step(name, fn, min(STEP_LIMIT[name] * scale, left))
    run.doc["done"] = True
    run.doc["seconds"] = round(time.time() - run.t0, 1)
    bad = [k for k, v in run.doc["steps"].items() if v["status"] in ("error", "failed", "timeout")]
    run.doc["failed_steps"] = bad
    run.write()
    print(f"device run finished in {run.doc['seconds']} s; failed steps: {bad or 'none'}; "
          f"results in {out / 'device_run.json'}")  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
