"""``mfa analyze PATH``: multifractal spectrum of one checkpoint."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mfa_engine.errors import ConfigError

__all__ = ["register", "add_analysis_options", "analysis_options", "option_flag", "print_summary", "fmt_ci"]


def option_flag(f: Any) -> str:
    """The CLI flag of an ``AnalysisOptions`` field."""
    return f.metadata["flag"] or "--" + f.name.replace("_", "-")


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _neurons(text: str) -> int | str:
    if text.strip().lower() == "all":
        return "all"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'all', got {text!r}") from None


def _numbers(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _parser_of(f: Any) -> Any:
    """Argument parser of one field's value (validation proper is ``AnalysisOptions``'s)."""
    special = {"q": _numbers, "neurons_per_layer": _neurons, "centres": _neurons, "fit_range": _numbers,
               "window": _numbers, "samples": _integer}
    if f.name in special:
        return special[f.name]
    if isinstance(f.default, bool):
        return None
    if isinstance(f.default, int):
        return _integer
    if isinstance(f.default, float):
        return _number
    return None  # strings


def add_analysis_options(p: argparse.ArgumentParser) -> dict[str, argparse._ArgumentGroup]:
    """Add ``--revision``, one flag per ``AnalysisOptions`` field, and ``--quiet``, in groups.

    Every option defaults to None ("not given"), so a TOML file can fill what the command line
    left out; the defaults themselves live in :class:`~mfa_engine.options.AnalysisOptions`.

    Returns:
        The argument groups by key of :data:`mfa_engine.options.GROUPS` (a command adds its own
        flags to them).
    """
    from mfa_engine.cli.messages import as_cli_message
    from mfa_engine.options import GROUPS, option_fields

    groups = {key: p.add_argument_group(title) for key, title in GROUPS.items()}
    groups["hub"].add_argument("--revision", metavar="REV",
                               help="revision (branch, tag or commit) of an HF cache layout or a Hub "
                                    "repository, e.g. step1000 (or CHECKPOINT@REV)")
    for f in option_fields():
        meta = f.metadata
        flag = option_flag(f)
        group = groups[meta["group"]]
        if isinstance(f.default, bool):
            group.add_argument(flag, dest=f.name, action="store_const", const=not f.default, default=None,
                               help=as_cli_message(meta["help"]))
            continue
        shown = "" if f.default is None else f" (default {f.default})"
        if f.name == "q":
            shown = " (comma-separated, e.g. --q=-1,0,1)"
        group.add_argument(flag, dest=f.name, type=_parser_of(f), choices=meta["choices"], default=None,
                           metavar=None if meta["choices"] else meta["metavar"], help=as_cli_message(meta["help"]) + shown)
    groups["execution"].add_argument("--quiet", action="store_true", help="no progress bars")
    return groups


def analysis_options(args: argparse.Namespace, **overrides: Any) -> Any:
    """The validated ``AnalysisOptions`` of parsed arguments (options not given take defaults).

    Raises:
        ConfigError: An invalid value (the message names the option).
    """
    from mfa_engine.options import AnalysisOptions, option_fields

    given = {f.name: getattr(args, f.name) for f in option_fields() if getattr(args, f.name, None) is not None}
    return AnalysisOptions.from_mapping(given, **overrides)


def fmt_ci(ci: Any, spec: str = ".4f") -> str:
    """``[lo, hi]`` as text (``-`` when absent)."""
    return "-" if not ci else f"[{format(ci[0], spec)}, {format(ci[1], spec)}]"


def print_summary(doc: dict, file: Any = None) -> None:
    """Print a short table: one row per sample, then the headline (median of the unflagged
    samples), the mean and spread over all samples, the 95% CI of the headline and, with a
    null model, real minus null."""
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
    for label, key in (("median", ""), ("mean", "_mean"), ("std", "_std")):
        line = f"{label:>6} {'':>8} {doc['alpha0' + key]:>10.5f} {doc['width' + key]:>10.5f}"
        if null:
            line += f" {'':>8} {null['alpha0' + key]:>12.5f} {null['width' + key]:>11.5f}"
        print(line, file=out)
    print(f"{'95% CI':>6} alpha0 {fmt_ci(doc.get('alpha0_ci'))}  width {fmt_ci(doc.get('width_ci'))}"
          " (order-statistic interval of the median of the unflagged samples)", file=out)
    if null:
        print(f"{'null':>6} alpha0 {fmt_ci(null.get('alpha0_ci'))}  width {fmt_ci(null.get('width_ci'))}"
              f" ({null.get('model')} null model)", file=out)
    contrast = doc.get("contrast")
    if contrast:
        print(f"{'real-null':>6} alpha0 {contrast['alpha0']['median']:+.5f} {fmt_ci(contrast['alpha0']['ci'])}"
              f"  width {contrast['width']['median']:+.5f} {fmt_ci(contrast['width']['ci'])}"
              f" (median of {contrast['n_pairs']} per-seed differences, paired CI)", file=out)
    if flagged:
        print(f"flagged samples ({len(flagged)} of {len(doc['samples'])}; see docs/method.md, Spectrum): "
              f"seed {'; seed '.join(flagged)}", file=out)
    if doc.get("bytes_read"):
        total = doc.get("bytes_total") or 0
        share = f" ({100 * doc['bytes_read'] / total:.2f}% of {total / 1e6:.1f} MB)" if total else ""
        print(f"fetched {doc['bytes_read'] / 1e6:.2f} MB from the Hub{share}", file=out)


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse output paths that can never be written, before any analysis is done."""
    from mfa_engine.io import check_output_path

    if getattr(args, "json", None) and args.json != "-":
        check_output_path(args.json)
    for name in ("plot", "fit_plot", "profile_plot"):
        if getattr(args, name, None):
            from mfa_engine.plots import check_image_path

            check_image_path(getattr(args, name))
    from mfa_engine.cli.outputs import checkpoint_inputs
    from mfa_engine.io import check_no_alias

    outputs = [(flag, getattr(args, name)) for flag, name in (("--json", "json"), ("--plot", "plot"),
                                                              ("--fit-plot", "fit_plot"),
                                                              ("--profile-plot", "profile_plot"))
               if getattr(args, name, None) and getattr(args, name) != "-"]
    if outputs:
        check_no_alias(outputs, checkpoint_inputs(args.path, args.revision))


def _run(args: argparse.Namespace) -> int:
    from mfa_engine.api import analyze_checkpoint
    from mfa_engine.cli.outputs import OutputWriter, write_json_stdout
    from mfa_engine.io import atomic_write_json

    options = analysis_options(args)
    if args.fit_plot and options.mode != "paper":
        raise ConfigError("--fit-plot draws the paper-mode fit of one sample; it needs --mode paper")
    check_outputs(args)
    doc = analyze_checkpoint(args.path, options, revision=args.revision,
                             progress=not args.quiet and sys.stderr.isatty())
    out = OutputWriter("analyze", data_on_stdout=args.json == "-")
    # with --json - stdout carries the JSON document only; the table goes to stderr
    out.run(lambda: print_summary(doc, sys.stderr if args.json == "-" else None),
            what="the summary table to stdout")
    kept = True
    if args.json == "-":
        kept = out.run(lambda: write_json_stdout(doc) or True) is not None
    elif args.json:
        kept = out.run(lambda: atomic_write_json(args.json, doc), lambda p: f"wrote {p}") is not None
    if args.plot:
        from mfa_engine.plots import plot_spectrum

        out.run(lambda: plot_spectrum(doc, args.plot), lambda p: f"wrote {p}")
    if args.fit_plot:
        out.run(lambda: _fit_plot(args, options, doc), lambda p: f"wrote {p}")
    if getattr(args, "profile_plot", None):
        from mfa_engine.plots import plot_profile

        out.run(lambda: plot_profile(doc, args.profile_plot), lambda p: f"wrote {p}")
    if not kept or (out.failed and not args.json):
        out.rescue(doc)
    return out.code


def _fit_plot(args: argparse.Namespace, options: Any, doc: dict) -> Any:
    """Draw the fit of the first unflagged sample (else the first sample) of ``doc``."""
    from mfa_engine.checkpoint_analysis import resolved_options
    from mfa_engine.checkpoints import open_checkpoint
    from mfa_engine.modes.paper import sample_fit
    from mfa_engine.plots import plot_fit

    samples = doc["samples"]
    chosen = next((s for s in samples if not (s.get("diagnostics") or {}).get("flagged")), samples[0])
    with open_checkpoint(args.path, revision=args.revision, range_cache=options.range_cache,
                         download=options.download) as ckpt:
        fit = sample_fit(ckpt, chosen["seed"], resolved_options(options))
    name = "/".join(Path(doc["checkpoint"]).parts[-2:])
    return plot_fit(fit, args.fit_plot, title=f"{name} ({doc['model_type']}): scaling fit of seed {chosen['seed']}")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``mfa analyze``."""
    p = sub.add_parser("analyze", help="multifractal spectrum of one checkpoint",
                       description="Multifractal spectrum of one checkpoint (a HF model directory, "
                                   "a sharded safetensors directory, an HF cache model directory, "
                                   "or ORG/NAME[@REV] on the Hugging Face Hub, read by byte range). "
                                   "Every option is checked before the checkpoint is read.")
    p.add_argument("path", metavar="CHECKPOINT",
                   help="checkpoint directory, HF cache repository, or Hub repo id ORG/NAME[@REV]")
    add_analysis_options(p)
    out = p.add_argument_group("output")
    out.add_argument("--json", metavar="OUT.json", help="write the JSON document here ('-': stdout)")
    out.add_argument("--plot", metavar="OUT.png",
                     help="draw f(alpha) per sample, the mean of the unflagged ones, flagged ones apart")
    out.add_argument("--fit-plot", metavar="OUT.png",
                     help="draw ln Z_q(r) against ln r for a few q with the fit window (one sample)")
    out.add_argument("--profile-plot", metavar="OUT.png",
                     help="draw the local slopes d<ln mu>/d ln r against u = ln(r/r_unit): the median "
                          "with its 95%% band, the null's, and real minus null with its paired band")
    p.set_defaults(func=_run)
