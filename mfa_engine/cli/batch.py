"""``mfa batch CHECKPOINT... --store DIR``: analyse a checkpoint series into a resumable store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mfa_engine.cli.analyze import add_analysis_options, analysis_options

__all__ = ["register", "load_toml_config", "mode_options"]

_MODE_NAMES = ("paper", "reference")


def _modes(value: str) -> tuple[str, ...]:
    modes = tuple(dict.fromkeys(m.strip() for m in value.split(",") if m.strip()))
    bad = [m for m in modes if m not in _MODE_NAMES]
    if not modes or bad:
        raise argparse.ArgumentTypeError(
            f"expected paper, reference or paper,reference; got {value!r}"
        )
    return modes


def _toml_value(action: argparse.Action, key: str, value: Any, path: str) -> Any:
    """A TOML value passed through the same conversion and checks as the command line."""
    from mfa_engine.errors import ConfigError

    if action.nargs == 0:  # a flag such as --undirected
        if not isinstance(value, bool):
            raise ConfigError(f"config file {path}: {key} = {value!r}; expected true or false")
        return value
    if isinstance(value, (bool, list, dict)) or not isinstance(value, (str, int, float)):
        raise ConfigError(f"config file {path}: {key} = {value!r}; expected a single value")
    if action.type is None:
        if not isinstance(value, str):
            raise ConfigError(f"config file {path}: {key} = {value!r}; expected a string")
        return value
    try:  # the command line's own conversion, on the value's text
        return action.type(value if isinstance(value, str) else repr(value))
    except (argparse.ArgumentTypeError, ValueError) as exc:
        reason = {int: "expected an integer", float: "expected a number"}.get(action.type, str(exc))
        raise ConfigError(f"config file {path}: {key} = {value!r}: {reason}") from None


def load_toml_config(parser: argparse.ArgumentParser, args: argparse.Namespace, path: str) -> None:
    """Fill ``args`` from a TOML file; options given on the command line win.

    Keys are the long option names (``samples``, ``neurons-per-layer`` or ``neurons_per_layer``,
    ``store``, ...) plus ``checkpoints`` (a list). An option is taken from the file when the
    command line left it at its default.

    Raises:
        ConfigError: Unreadable TOML, an unknown key, or an invalid value.
    """
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    from mfa_engine.errors import ConfigError

    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    from mfa_engine.options import option_fields

    fields = {f.name: f for f in option_fields()}
    actions = {a.dest: a for a in parser._actions if a.dest not in ("help", "config")}
    # A boolean option's own flag is a key too: `undirected = true` sets directed = false.
    flags = {f.metadata["flag"].lstrip("-").replace("-", "_"): f for f in fields.values() if f.metadata["flag"]}
    for key, value in doc.items():
        dest = key.replace("-", "_")
        if dest in flags and isinstance(flags[dest].default, bool) and isinstance(value, bool):
            dest, value = flags[dest].name, flags[dest].default != value
        if dest not in actions:
            known = ", ".join(sorted(d.replace("_", "-") for d in [*actions, *flags]))
            raise ConfigError(f"config file {path}: unknown key {key!r}; known keys: {known}")
        if dest == "checkpoints":
            if not (isinstance(value, str) or isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise ConfigError(f"config file {path}: checkpoints = {value!r}; expected a string or a list of strings")
            value = [value] if isinstance(value, str) else list(value)
        elif dest == "mode":
            try:
                value = _modes(",".join(map(str, value)) if isinstance(value, list) else str(value))
            except argparse.ArgumentTypeError as exc:
                raise ConfigError(f"config file {path}: mode = {value!r}: {exc}") from None
        elif dest in fields:  # an analysis option: validated by its own check
            try:
                value = fields[dest].metadata["check"](dest, tuple(value) if isinstance(value, list) else value)
            except ConfigError as exc:
                raise ConfigError(f"config file {path}: {exc}") from None
        else:
            action = actions[dest]
            value = _toml_value(action, key, value, path)
            if action.choices is not None and value not in action.choices:
                raise ConfigError(f"config file {path}: {key} = {value!r}; expected one of {list(action.choices)}")
        if getattr(args, dest) == parser.get_default(dest):
            setattr(args, dest, value)


def mode_options(args: argparse.Namespace, mode: str) -> Any:
    """``AnalysisOptions`` of one mode from parsed options (for ``run_batch``, which sets the
    samples and seeds)."""
    return analysis_options(args, mode=mode)


def _fmt(v: Any, spec: str = ".5f") -> str:
    return "-" if v is None else format(v, spec)


def print_series(doc: dict, file: Any = None) -> None:
    """Print one row per checkpoint of a summary document (medians of the unflagged samples with
    95% bootstrap CIs; ``flag`` counts the samples whose diagnostics flag them; with a null,
    real minus null E with its paired CI)."""
    from mfa_engine.cli.analyze import fmt_ci

    out = file or sys.stdout
    has_null = any("null" in c for c in doc["checkpoints"])
    print(f"{doc['mode']} mode (medians of the unflagged samples with 95% order-statistic CIs; "
          "E with a bootstrap CI paired across checkpoints):", file=out)
    head = (f"{'step':>8} {'n':>3} {'flag':>4} {'alpha0':>9} {'alpha0 CI':>20} {'width':>9} {'width CI':>20} "
            f"{'E(t)':>9} {'E CI':>22}")
    if has_null:
        head += f" {'null alpha0':>11} {'null E':>9} {'null E CI':>22} {'E-null':>9} {'E-null CI':>22}"
    print(head + "  checkpoint", file=out)
    for c in doc["checkpoints"]:
        step = "-" if c["step"] is None else str(c["step"])
        line = (f"{step:>8} {c['n_samples']:>3} {c.get('n_flagged', 0):>4} {c['alpha0']:>9.5f} {fmt_ci(c.get('alpha0_ci')):>20} "
                f"{c['width']:>9.5f} {fmt_ci(c.get('width_ci')):>20} {_fmt(c['emergence'], '9.5f'):>9} "
                f"{fmt_ci(c.get('emergence_ci'), '.5f'):>22}")
        if has_null:
            n = c.get("null") or {}
            line += (f" {_fmt(n.get('alpha0'), '11.5f'):>11} {_fmt(n.get('emergence'), '9.5f'):>9} "
                     f"{fmt_ci(n.get('emergence_ci'), '.5f'):>22} {_fmt(c.get('emergence_contrast'), '9.5f'):>9} "
                     f"{fmt_ci(c.get('emergence_contrast_ci'), '.5f'):>22}")
        print(line + f"  {c['checkpoint']}", file=out)


def _summary_path(base: str, mode: str, n_modes: int) -> Path:
    p = Path(base)
    return p if n_modes == 1 else p.with_name(f"{p.stem}.{mode}{p.suffix or '.json'}")


def _check_outputs(args: argparse.Namespace, modes: tuple[str, ...], series: Any = ()) -> None:
    """Refuse output paths that can never be written, or that are an input, the store or
    another output, before any checkpoint is read."""
    from mfa_engine.cli.outputs import checkpoint_inputs, store_inputs
    from mfa_engine.errors import ConfigError, OutputError
    from mfa_engine.io import check_no_alias, check_output_path

    if args.summary:
        for mode in modes:
            check_output_path(_summary_path(args.summary, mode, len(modes)))
    if args.export:
        if Path(args.export).suffix.lower() not in (".csv", ".json"):
            raise ConfigError(f"--export {args.export}: expected a .csv or .json file name")
        check_output_path(args.export)
    if args.plot_dir and Path(args.plot_dir).exists() and not Path(args.plot_dir).is_dir():
        raise OutputError(f"--plot-dir {args.plot_dir} is a file; expected a directory for the plots")
    outputs: list[tuple[str, Any]] = []
    if args.summary:
        outputs += [("--summary", _summary_path(args.summary, m, len(modes))) for m in modes]
    if args.export:
        outputs.append(("--export", args.export))
    if args.plot_dir:
        outputs += [("--plot-dir", Path(args.plot_dir) / f"{m}-{kind}.{fmt}")
                    for m in modes for kind in ("series", "spectra") for fmt in ("png", "svg")]
    if outputs:
        inputs = store_inputs(args.store)
        for spec in series:
            inputs += checkpoint_inputs(spec.path)
        check_no_alias(outputs, inputs)


def _run(args: argparse.Namespace) -> int:
    from mfa_engine.batch.executors import make_executor
    from mfa_engine.batch.runner import run_batch
    from mfa_engine.cli.outputs import OutputWriter
    from mfa_engine.errors import ConfigError
    from mfa_engine.io import atomic_write_json

    if args.config:
        load_toml_config(args._parser, args, args.config)
    if not args.checkpoints:
        raise ConfigError("no checkpoints given; pass CHECKPOINT... or 'checkpoints' in --config")
    if not args.store:
        raise ConfigError("no results store given; pass --store DIR (or 'store' in --config)")
    if args.revision:
        raise ConfigError("--revision is not used by mfa batch; name revisions as MODEL@rev1,rev2")
    modes = args.mode if isinstance(args.mode, tuple) else _modes(args.mode)
    options = {m: mode_options(args, m) for m in modes}  # validated before anything is read
    first = options[modes[0]]
    _check_outputs(args, modes)
    from mfa_engine.batch.series import expand_series

    series = expand_series(args.checkpoints)
    _check_outputs(args, modes, series)
    executor = make_executor(args.executor, workers=args.workers, address=args.address)
    report = run_batch(
        series, args.store, options=options, samples=first.samples, seed=first.seed,
        force=args.force, executor=executor, progress=not args.quiet and sys.stderr.isatty(),
    )
    for mode in modes:
        print_series(report.summaries[mode])
    print(f"{len(report.series)} checkpoints: computed {report.computed} samples, skipped "
          f"{report.skipped} already in the store, {len(report.failed)} checkpoints failed")
    if report.bytes_read:
        print(f"fetched {report.bytes_read / 1e6:.2f} MB from the Hub")
    for f in report.failed:
        print(f"error: checkpoint {f['checkpoint']} (step {f['step']}) failed and was skipped: "
              f"{f['error']}", file=sys.stderr)
    for mode in modes:
        for w in report.summaries[mode].get("warnings", ()):
            print(f"warning: {mode} mode: {w}", file=sys.stderr)
    out = OutputWriter("batch")
    if args.summary:
        for mode in modes:
            path = _summary_path(args.summary, mode, len(modes))
            if out.run(lambda path=path, mode=mode: atomic_write_json(path, report.summaries[mode]),
                       lambda p: f"wrote {p}") is None:
                out.rescue(report.summaries[mode])
    if args.export:
        from mfa_engine.batch.store import ResultsStore

        def export() -> Path:
            with ResultsStore(args.store, read_only=True) as store:
                return store.export(args.export)

        out.run(export, lambda p: f"wrote {p}")
    if args.plot_dir:
        from mfa_engine.cli.plot import plot_store

        paths = out.run(lambda: plot_store(args.store, args.plot_dir, modes=list(modes)))
        for path in paths or ():
            out.say(f"wrote {path}")
    if out.failed:
        return 2
    return 1 if report.failed else 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``mfa batch``."""
    p = sub.add_parser(
        "batch", help="analyse a checkpoint series into a resumable results store",
        description="Analyse every checkpoint of a series (directories, globs, or "
                    "MODEL@rev1,rev2 with MODEL an HF cache repository or a Hub repo id ORG/NAME, "
                    "ORG/NAME@step* for its branches; the step is parsed from stepN) into a results "
                    "store. One read of each checkpoint serves all its samples and modes; "
                    "re-running skips what is stored.")
    p.add_argument("checkpoints", nargs="*", default=[], metavar="CHECKPOINT",
                   help="checkpoint directory, glob, or MODEL@rev1,rev2")
    groups = add_analysis_options(p)
    for action in p._actions:
        if action.dest == "revision":  # revisions are named per checkpoint: MODEL@rev1,rev2
            action.help = argparse.SUPPRESS
        if action.dest == "mode":
            action.choices = None
            action.type = _modes
            action.default = ("paper",)
            action.metavar = "paper|reference|paper,reference"
            action.help = "analysis mode(s); several modes share one read (default paper)"
    required = p.add_argument_group("required (here or as store in the --config file)")
    required.add_argument("--store", metavar="DIR", help="results store directory (created)")
    config = p.add_argument_group("configuration file")
    config.add_argument("--config", metavar="FILE.toml",
                        help="read options (any flag above, and checkpoints) from a TOML file; the command line wins")
    out = p.add_argument_group("output")
    out.add_argument("--summary", metavar="OUT.json",
                     help="write the summary JSON (with several modes: OUT.<mode>.json)")
    out.add_argument("--export", metavar="OUT.csv|OUT.json", help="export the store's rows")
    out.add_argument("--plot-dir", metavar="DIR", help="draw the series plots into DIR (PNG and SVG)")
    run = groups["execution"]
    run.add_argument("--executor", choices=("local", "ray"), default="local",
                     help="local processes (default) or a Ray cluster")
    run.add_argument("--address", metavar="HOST:PORT", help="Ray cluster address (default: start a local Ray)")
    run.add_argument("--workers", metavar="N", type=int,
                     help="local worker processes (default: one per visible GPU, else 1)")
    run.add_argument("--force", action="store_true",
                     help="accept a store made with another config (the new config becomes current)")
    p.set_defaults(func=_run, _parser=p)
