"""``mfa plot STORE``: alpha0, width and E(t) over training, and spectra of selected steps."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

__all__ = ["register", "plot_store", "select_steps"]


def select_steps(available: Sequence[int | None], wanted: Sequence[int] | None, n: int = 4) -> list[int | None]:
    """Steps whose spectra are drawn: ``wanted`` (those present), else ``n`` spread evenly."""
    if wanted:
        return [s for s in available if s in set(wanted)]
    if len(available) <= n:
        return list(available)
    idx = sorted({round(i * (len(available) - 1) / (n - 1)) for i in range(n)})
    return [available[i] for i in idx]


def plot_store(store_dir: str | Path, out_dir: str | Path, *, modes: Sequence[str] | None = None,
               steps: Sequence[int] | None = None, formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
    """Draw the plots of a results store (current configuration of each mode).

    Writes ``<mode>-series.<fmt>`` (alpha0, width, E(t) and, with a null model, real minus
    null E against step, with their 95% intervals), ``<mode>-spectra.<fmt>`` (f(alpha) of the
    selected steps) and, when the records carry local-slope profiles, ``<mode>-profiles.<fmt>``
    (the median profile of the selected steps with its band, the null's, and real minus null
    with its paired band, against u = ln(r / r_unit)) into ``out_dir``.

    Args:
        store_dir: Results store directory.
        out_dir: Output directory.
        modes: Modes to draw (default every mode in the store).
        steps: Steps whose spectra are drawn (default: up to 4 spread over the series).
        formats: Image formats.

    Returns:
        The written paths.

    Raises:
        StoreError: The store has no results (for a requested mode).
    """
    from mfa_engine import __version__
    from mfa_engine.batch.store import STORE_FILE, ResultsStore
    from mfa_engine.batch.summary import summarise_series
    from mfa_engine.errors import StoreError
    from mfa_engine.plots import check_formats, plot_profiles, plot_series, plot_spectra
    from mfa_engine.summary import profile_summary

    formats = check_formats(formats)
    if not (Path(store_dir) / STORE_FILE).is_file():
        raise StoreError(f"{store_dir} is not a results store (no {STORE_FILE}); run mfa batch --store first")
    out = Path(out_dir)
    paths: list[Path] = []
    with ResultsStore(store_dir, read_only=True) as store:
        if not (modes or store.modes()):
            raise StoreError(f"results store {store_dir} has no results in any mode (no checkpoint of "
                             "its runs succeeded); nothing to plot")
        for mode in modes or store.modes():
            cfg = store.config(mode)
            rows = store.rows(mode, cfg[0]) if cfg else []
            if not rows:
                raise StoreError(f"results store {store_dir} has no {mode}-mode results")
            doc = summarise_series(rows, engine_version=__version__, mode=mode, config=cfg[1],
                                   computed=0, skipped=len(rows))
            paths += plot_series(doc, out / f"{mode}-series", formats)
            keys = [(c["checkpoint"], c["step"]) for c in doc["checkpoints"]]
            chosen = select_steps([k[1] for k in keys], steps)
            spectra, profiles = [], []
            for key, step in keys:
                if step in chosen:
                    recs = [r["record"] for r in rows if (r["checkpoint"], r["step"]) == (key, step)]
                    label = f"step {step}" if step is not None else Path(key).name
                    spectra.append((label, recs))
                    parts = profile_summary(recs, len(recs[0].get("tau") or ())) if recs else {}
                    if "profile" in parts:
                        profiles.append((label, parts))
            paths += plot_spectra(spectra, out / f"{mode}-spectra", f"{mode} mode: f(alpha) by step", formats)
            if profiles:
                paths += plot_profiles(profiles, out / f"{mode}-profiles",
                                       f"{mode} mode: local slopes by step", formats)
    return paths


def _steps(value: str) -> list[int]:
    try:
        return [int(s) for s in value.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated steps, got {value!r}") from None


def _run(args: argparse.Namespace) -> int:
    formats = tuple(args.formats.split(","))
    modes = [args.mode] if args.mode else None
    from mfa_engine.cli.outputs import store_inputs
    from mfa_engine.io import check_no_alias
    from mfa_engine.plots import check_formats

    formats = check_formats(formats)
    out = Path(args.out or args.store)
    check_no_alias([("--out", out / f"{m}-{kind}.{fmt}") for m in modes or ("paper", "reference")
                    for kind in ("series", "spectra", "profiles") for fmt in formats], store_inputs(args.store))
    for path in plot_store(args.store, args.out or args.store, modes=modes, steps=args.steps, formats=formats):
        print(f"wrote {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``mfa plot``."""
    p = sub.add_parser("plot", help="plot a results store: alpha0, width, E(t) over training, spectra",
                       description="Plot a results store of mfa batch: alpha0, width and the degree "
                                   "of emergence against the training step (spread over samples) "
                                   "and f(alpha) of selected steps, as PNG and SVG.")
    p.add_argument("store", metavar="STORE", help="results store directory")
    p.add_argument("--out", metavar="DIR", help="output directory (default: the store directory)")
    p.add_argument("--mode", choices=("paper", "reference"), help="only this mode (default: all in the store)")
    p.add_argument("--steps", type=_steps, metavar="S1,S2,...", help="steps whose spectra are drawn")
    p.add_argument("--formats", default="png,svg", help="image formats (default png,svg)")
    p.set_defaults(func=_run)
