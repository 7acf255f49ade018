"""Print the path-kernel benchmark table: relaxations/s and speed-up over SciPy ``dijkstra``.

Run:  .venv/bin/python benchmarks/paths_table.py [--cases layered_8x512 ...] [--peers]
      .venv/bin/python benchmarks/paths_table.py --general --peers   (general-graph families)
Peers (SciPy, igraph, NetworKit) run on --sample (16) evenly spaced sources and are scaled to all sources;
igraph and NetworKit have no cutoff parameter, so they compute full distances.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from paths_cases import CASES, GENERAL_CASES, METHODS, check_counts, make_case, run_method  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES + GENERAL_CASES)
    p.add_argument("--general", action="store_true", help="the general-graph families (rgg, ba, grid) with the kernel alone")
    p.add_argument("--share", type=float, default=1.0, help="general families: cutoff percentile (ball size, %% of N)")
    p.add_argument("--peers", action="store_true", help="also time igraph and NetworKit")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--sample", type=int, default=16, help="sources the peers are timed on (scaled up)")
    p.add_argument("--peak", action="store_true", help="also report the engine as %% of the measured fp32 min-plus peak")
    args = p.parse_args(argv)
    if args.general and not set(args.cases) <= set(GENERAL_CASES):
        args.cases = list(GENERAL_CASES)  # --general alone: every general family
    methods = ["engine_cpu", "engine_cpu_cached", "scipy_dijkstra"] + (["igraph", "networkit"] if args.peers else [])
    if args.general:
        methods[:0] = ["engine_kernel", "engine_prepared"]
    peak = None
    if args.peak:
        from minplus_peak import measured_peak

        peak = measured_peak()
        print(f"fp32 min-plus peak (register-only add+min, all cores, measured): {peak:.3e} relax/s")
    print(f"{'case':<16} {'method':<17} {'seconds':>9} {'relax/s':>10} {'x scipy':>8}" + ("  %peak" if peak else ""))
    for name in args.cases:
        case = make_case(name, share=args.share) if name in GENERAL_CASES else make_case(name)
        if name in GENERAL_CASES:
            check_counts(case, METHODS["engine_kernel"][0](case, case.sources))
        # general families: SciPy on every source (its dense S x N output is part of its cost)
        full = {"scipy_dijkstra"} if name in GENERAL_CASES else set()
        times = {m: run_method(m, case, sample=case.sources.size if m in full else args.sample, repeat=args.repeat)
                 for m in methods}
        for m in methods:
            t = times[m]
            rate = case.relaxations / t
            extra = f"  {100 * rate / peak:5.1f}" if peak and m.startswith("engine") else ""
            print(f"{name:<16} {m:<17} {t:>9.4f} {rate:>10.3e} {times['scipy_dijkstra'] / t:>8.1f}{extra}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
