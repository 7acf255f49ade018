"""The main job from Python: the degree of emergence E(t) of a training series, with 95% CIs.

With a reachable Hugging Face Hub, four checkpoints of EleutherAI/pythia-14m are read by byte
range (only the sampled rows); otherwise (no network, ``HF_HUB_OFFLINE=1``, or ``--synthetic``)
a small synthetic GPT-NeoX series is written with :mod:`mfa_engine.synthetic`: random weights
at step 0 plus a low-rank structure that grows with the step, as learning adds structure.

Run:  .venv/bin/python examples/series.py [--synthetic] [--out series-example]

Prints E(t) with its paired bootstrap interval per checkpoint and writes
``<out>/paper-series.png`` (alpha0, width and E(t) against the step) and ``<out>/summary.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from mfa_engine.batch import run_batch
from mfa_engine.checkpoints.http_ranges import check_reachable
from mfa_engine.checkpoints.hub import offline
from mfa_engine.errors import CheckpointError
from mfa_engine.options import AnalysisOptions
from mfa_engine.plots import plot_series
from mfa_engine.synthetic import write_gpt_neox_checkpoint

HUB_SERIES = "EleutherAI/pythia-14m@step0,step1000,step10000,step143000"
STEPS = (0, 100, 1000, 10000)
SHAPE = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}


def hub_reachable() -> bool:
    """True when the Hub can be asked (not offline, its host name resolves)."""
    if offline():
        return False
    try:
        check_reachable("examples/series.py")
    except CheckpointError:
        return False
    return True


def synthetic_series(root: Path) -> list[str]:
    """Write a GPT-NeoX series: step-0 weights plus a rank-2 structure growing with the step."""
    from safetensors.numpy import load_file, save_file

    base = write_gpt_neox_checkpoint(root / "init", seed=0, dtype="float32", **SHAPE)
    weights = load_file(str(base / "model.safetensors"))
    rng = np.random.default_rng(1)
    paths = []
    for step in STEPS:
        grown = {}
        strength = np.log1p(step) / np.log1p(STEPS[-1])  # 0 at step 0, 1 at the last step
        for name, w in weights.items():
            if w.ndim == 2 and name.endswith(".weight") and "embed" not in name:
                u = rng.standard_normal((w.shape[0], 2)).astype(np.float32)
                v = rng.standard_normal((2, w.shape[1])).astype(np.float32)
                rng = np.random.default_rng(1)  # the same structure at every step, only stronger
                w = w + strength * 0.05 * (u @ v)
            grown[name] = np.ascontiguousarray(w, dtype=np.float32)
        out = root / f"step{step}"
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text((base / "config.json").read_text())
        save_file(grown, str(out / "model.safetensors"))
        paths.append(str(out))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true", help="use the synthetic series even when online")
    parser.add_argument("--out", default="series-example", help="output folder (default ./series-example)")
    parser.add_argument("--samples", type=int, default=5, help="samples (seeds) per checkpoint (default 5)")
    args = parser.parse_args()
    out = Path(args.out)
    if not args.synthetic and hub_reachable():
        checkpoints, neurons = [HUB_SERIES], 32
        print(f"reading {HUB_SERIES} from the Hub (sampled byte ranges only)")
    else:
        checkpoints, neurons = synthetic_series(out / "checkpoints"), 16
        print(f"no Hub (or --synthetic): wrote a synthetic series of {len(checkpoints)} checkpoints")

    # One options record: validated here, before anything is read.
    options = AnalysisOptions(neurons_per_layer=neurons, n_radii=32)
    report = run_batch(checkpoints, out / "store", options={"paper": options}, samples=args.samples, seed=0)
    if report.failed:
        raise SystemExit(f"failed: {report.failed}")
    summary = report.summaries["paper"]
    (out / "summary.json").write_text(json.dumps(summary, indent=1))

    print(f"\n{'step':>8} {'alpha0':>9} {'width':>9} {'E(t)':>9}  95% CI of E (paired over seeds)  flagged")
    for c in summary["checkpoints"]:
        ci = c.get("emergence_ci")
        ci_text = f"[{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else "-"
        e = c.get("emergence")
        print(f"{c['step']:>8} {c['alpha0']:>9.4f} {c['width']:>9.4f} {'-' if e is None else format(e, '+9.4f'):>9}"
              f"  {ci_text:<31}  {c.get('n_flagged', 0)}")
    for path in plot_series(summary, out / "paper-series", formats=("png",)):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
