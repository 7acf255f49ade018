"""``mfa analyze PATH``: multifractal spectrum of one checkpoint."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["register", "add_analysis_options", "analysis_kwargs", "print_summary", "fmt_ci"]


def _npl(value: str) -> int | str:
    if value.lower() == "all":
        return "all"
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'all', got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'all', got {value!r}")
    return n


def add_analysis_options(p: argparse.ArgumentParser) -> None:
    """Add the options shared by every command that runs an analysis."""
    p.add_argument("--revision", help="revision in an HF cache layout, e.g. step1000")
    p.add_argument("--mode", choices=("paper", "reference"), default="paper",
                   help="paper: exact multi-hop distances (default); reference: the published code's semantics")
    p.add_argument("--neurons-per-layer", type=_npl, default=32, metavar="N|all",
                   help="neurons sampled per node layer, twice that for the MLP layer (default 32)")
    p.add_argument("--samples", type=int, default=10, help="number of samples (default 10)")
    p.add_argument("--seed", type=int, default=0, help="first seed; samples use seed, seed+1, ... (default 0)")
    p.add_argument("--q-min", type=float, default=-3.0)
    p.add_argument("--q-max", type=float, default=3.0)
    p.add_argument("--q-step", type=float, default=0.1)
    p.add_argument("--threshold", type=float, default=150.0,
                   help="reference mode: keep distances 1 < d <= T (default 150)")
    p.add_argument("--n-radii", type=int, default=64, help="paper mode: radius grid size (default 64)")
    p.add_argument("--radius-upper", choices=("p99", "max", "rounded"), default="p99",
                   help="paper mode: top of the radius grid (default: 99th percentile of distances)")
    p.add_argument("--convention", choices=("boxgrowing", "sandbox"), default="boxgrowing")
    p.add_argument("--normalisation", choices=("centre", "global"), default=None,
                   help="measure normalisation (default: centre for boxgrowing, global for sandbox)")
    p.add_argument("--min-reach", type=int, default=10,
                   help="drop centres reaching fewer nodes within the largest radius (default 10)")
    p.add_argument("--undirected", action="store_true", help="paper mode: ignore edge directions")
    p.add_argument("--eps", type=float, default=0.0, help="paper mode: drop weights with |w| <= eps")
    p.add_argument("--structural-distance", type=float, default=1.0,
                   help="distance of the structural QKV -> context edges: paper mode, a factor of "
                        "the sample's median weight distance (default 1.0; see --structural-scale)")
    _add_science_options(p)
    p.add_argument("--null", choices=("shuffle",), default=None,
                   help="also analyse a null model: shuffle = every weight matrix permuted at random "
                        "(same values, no structure), seeded per sample")
    p.add_argument("--backend", default="auto", choices=("auto", "cpu", "torch", "triton", "cupy"))
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _fit_range(value: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO,HI (two radii), got {value!r}") from None
    if not (0 < lo <= hi < float("inf")):
        raise argparse.ArgumentTypeError(f"expected 0 < LO <= HI (finite), got {value!r}")
    return lo, hi


def _add_science_options(p: argparse.ArgumentParser) -> None:
    """Paper mode: structural distance scale, radius grid, fit window (docs/architecture.md)."""
    p.add_argument("--structural-scale", choices=("median", "absolute"), default="median",
                   help="paper mode: structural distance relative to the median weight distance "
                        "(default, scale-invariant) or absolute")
    p.add_argument("--radius-lower", choices=("quantile", "min"), default="quantile",
                   help="paper mode: bottom of the radius grid: 5%% quantile of the edge distances, "
                        "not below the structural distance (default), or the smallest distance (old grid)")
    p.add_argument("--fit-window", choices=("auto", "full"), default="auto",
                   help="paper mode: fit on the most stable window of the radii (default) or on all")
    p.add_argument("--fit-range", type=_fit_range, default=None, metavar="LO,HI",
                   help="paper mode: fit only on radii in [LO, HI] (overrides --fit-window)")
    p.add_argument("--window-min-span", type=float, default=1.0,
                   help="paper mode: smallest span in ln r of the automatic fit window (default 1.0)")


def analysis_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of ``analyze_checkpoint`` from parsed options."""
    from mfa_engine.api import make_q_grid

    q = make_q_grid(args.q_min, args.q_max, args.q_step)
    if args.mode == "reference" and (args.q_min, args.q_max, args.q_step) == (-3.0, 3.0, 0.1):
        q = None  # the published grid k/100, k = -300..300 step 10
    return dict(
        revision=args.revision,
        mode=args.mode,
        neurons_per_layer=args.neurons_per_layer,
        samples=args.samples,
        seed=args.seed,
        q=q,
        threshold=args.threshold,
        n_radii=args.n_radii,
        radius_upper=args.radius_upper,
        convention=args.convention,
        normalisation=args.normalisation,
        min_reach=args.min_reach,
        directed=not args.undirected,
        eps=args.eps,
        structural_distance=args.structural_distance,
        structural_scale=args.structural_scale,
        radius_lower=args.radius_lower,
        fit_window=args.fit_window,
        fit_range=args.fit_range,
        window_min_span=args.window_min_span,
        backend=args.backend,
        null=args.null,
        progress=not args.quiet and sys.stderr.isatty(),
    )


def fmt_ci(ci: Any, spec: str = ".4f") -> str:
    """``[lo, hi]`` as text (``-`` when absent)."""
    return "-" if not ci else f"[{format(ci[0], spec)}, {format(ci[1], spec)}]"


def print_summary(doc: dict, file: Any = None) -> None:
    """Print a short table: one row per sample, then mean, median, spread and 95% CI."""
    out = file or sys.stdout
    print(f"{doc['checkpoint']}  ({doc['model_type']}, {doc['mode']} mode, "
          f"{len(doc['samples'])} samples, {doc.get('seconds', 0):.2f} s)", file=out)
    null = doc.get("null")
    head = f"{'seed':>6} {'centres':>8} {'alpha0':>10} {'width':>10} {'R2 min':>8}"
    print(head + (f" {'null alpha0':>12} {'null width':>11}" if null else "") + "  flags", file=out)
    flagged = []
    for s in doc["samples"]:
        flags = (s.get("diagnostics") or {}).get("flags") or []
        if flags:
            flagged.append(f"{s['seed']} ({', '.join(flags)})")
        line = f"{s['seed']:>6} {s['n_centres']:>8} {s['alpha0']:>10.5f} {s['width']:>10.5f} {s['r2_min']:>8.4f}"
        if null and isinstance(s.get("null"), dict):
            line += f" {s['null']['alpha0']:>12.5f} {s['null']['width']:>11.5f}"
        print(f"{line}  {','.join(flags) or '-'}", file=out)
    for label, key in (("mean", ""), ("median", "_median"), ("std", "_std")):
        line = f"{label:>6} {'':>8} {doc['alpha0' + key]:>10.5f} {doc['width' + key]:>10.5f}"
        if null:
            line += f" {'':>8} {null['alpha0' + key]:>12.5f} {null['width' + key]:>11.5f}"
        print(line, file=out)
    print(f"{'95% CI':>6} alpha0 {fmt_ci(doc.get('alpha0_ci'))}  width {fmt_ci(doc.get('width_ci'))}"
          " (bootstrap over samples)", file=out)
    if null:
        print(f"{'null':>6} alpha0 {fmt_ci(null.get('alpha0_ci'))}  width {fmt_ci(null.get('width_ci'))}"
              f" ({null.get('model')} null model)", file=out)
    if flagged:
        print(f"flagged samples ({len(flagged)} of {len(doc['samples'])}; see docs/architecture.md): "
              f"seed {'; seed '.join(flagged)}", file=out)


def _run(args: argparse.Namespace) -> int:
    from mfa_engine.api import analyze_checkpoint
    from mfa_engine.io import atomic_write_json

    doc = analyze_checkpoint(args.path, **analysis_kwargs(args))
    print_summary(doc)
    if args.json:
        if args.json == "-":
            json.dump(doc, sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            atomic_write_json(args.json, doc)
            print(f"wrote {args.json}")
    if args.plot:
        from mfa_engine.plots import plot_spectrum

        plot_spectrum(doc, args.plot)
        print(f"wrote {args.plot}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``mfa analyze``."""
    p = sub.add_parser("analyze", help="multifractal spectrum of one checkpoint",
                       description="Multifractal spectrum of one checkpoint (a HF model directory, "
                                   "a sharded safetensors directory or an HF cache model directory).")
    p.add_argument("path", help="checkpoint directory")
    add_analysis_options(p)
    p.add_argument("--json", metavar="OUT", help="write the JSON document here ('-' for stdout)")
    p.add_argument("--plot", metavar="OUT.png", help="draw f(alpha) with the per-sample spread")
    p.set_defaults(func=_run)
