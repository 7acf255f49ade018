"""Plots (matplotlib, imported lazily, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["plot_spectrum", "plot_series", "plot_spectra", "image_formats", "check_image_path",
           "check_formats"]


def image_formats() -> set[str]:
    """File formats matplotlib can write here (``png``, ``svg``, ``pdf``, ...)."""
    from matplotlib.backend_bases import FigureCanvasBase

    return set(FigureCanvasBase.get_supported_filetypes())


def check_formats(formats: tuple[str, ...] | list[str], option: str = "--formats") -> tuple[str, ...]:
    """Validate image format names before any work is done.

    Raises:
        ConfigError: No format, or a format matplotlib cannot write.
    """
    from mfa_engine.errors import ConfigError

    fmts = tuple(f.strip().lstrip(".").lower() for f in formats if f.strip())
    if not fmts:
        raise ConfigError(f"{option} names no image format; expected e.g. png,svg")
    known = image_formats()
    bad = [f for f in fmts if f not in known]
    if bad:
        raise ConfigError(f"{option}: unknown image format {bad[0]!r}; expected one of "
                          f"{', '.join(sorted(known))}")
    return fmts


def check_image_path(path: str | Path, option: str = "--plot") -> Path:
    """Validate an image output path (its suffix names a known format) before any work.

    Raises:
        ConfigError: No suffix or an unknown one.
        OutputError: The path is a directory or another object that cannot be a file.
    """
    from mfa_engine.errors import ConfigError
    from mfa_engine.io import check_output_path

    p = Path(path)
    if not p.suffix:
        raise ConfigError(f"{option} {p}: the file name needs an image suffix such as .png or .svg")
    check_formats([p.suffix], option=f"{option} {p}")
    return check_output_path(p)


def _save(fig: Any, out: Path) -> Path:
    """Render ``fig`` in the format of ``out``'s suffix and write it with mfa_engine.io."""
    import io

    from mfa_engine.io import write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format=out.suffix.lstrip(".").lower())
    return write_bytes(out, buf.getvalue())


def plot_spectrum(doc: dict, out: str | Path) -> Path:
    """Draw f(alpha) of an ``analyze_checkpoint`` document: every sample thin, the mean bold.

    Args:
        doc: The JSON document of ``mfa analyze``.
        out: Output image path (.png, .svg or .pdf).

    Returns:
        The written path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = check_image_path(out, "plot file")
    fig, ax = plt.subplots(figsize=(5.5, 4.0), dpi=120)
    labelled: set[bool] = set()
    for s in doc["samples"]:
        flagged = bool((s.get("diagnostics") or {}).get("flagged"))
        label = None
        if flagged not in labelled:
            labelled.add(flagged)
            label = "flagged samples (docs/method.md)" if flagged else "samples"
        ax.plot(s["alpha"], s["f_alpha"], color="tab:orange" if flagged else "tab:blue",
                alpha=0.5 if flagged else 0.3, lw=0.8, ls="--" if flagged else "-", label=label)
    ax.plot(doc["alpha"], doc["f_alpha"], color="tab:red", lw=2.0, label="mean over samples")
    ci = doc.get("alpha0_ci")
    ci_text = f", 95% CI [{ci[0]:.4g}, {ci[1]:.4g}]" if ci else f" ± {doc['alpha0_std']:.2g}"
    ax.axvline(doc["alpha0"], color="grey", ls=":", lw=1.0, label=f"alpha0 = {doc['alpha0']:.4g}{ci_text}")
    if ci:
        ax.axvspan(ci[0], ci[1], color="grey", alpha=0.15, lw=0)
    null = doc.get("null")
    if null:
        ax.plot(null["alpha"], null["f_alpha"], color="black", ls="--", lw=1.5,
                label=f"{null.get('model')} null (alpha0 = {null['alpha0']:.4g})")
    ax.set_xlabel(r"$\alpha$")
    ax.set_ylabel(r"$f(\alpha)$")
    parts = Path(doc["checkpoint"]).parts
    name = "/".join(parts[-2:]) if parts else doc["checkpoint"]
    width = f"width {doc['width']:.3g}"
    if doc.get("width_median") is not None:
        width += f" (median {doc['width_median']:.3g})"
    if doc.get("n_flagged"):
        width += f", {doc['n_flagged']} of {len(doc['samples'])} samples flagged"
    ax.set_title(f"{name} ({doc['model_type']}, {doc['mode']} mode)\n{width}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        return _save(fig, out)
    finally:
        plt.close(fig)


def _steps_axis(ax: Any, steps: list[float]) -> None:
    import numpy as np

    pos = [s for s in steps if s > 0]
    if pos and max(pos) / min(pos) > 100:
        lo = max(1.0, min(pos))
        ax.set_xscale("symlog", linthresh=lo)
        # Major ticks: 0 (if present) and the decades from the linear threshold up, so no
        # decade label sits inside the linear region next to the 0 label.
        decades = 10.0 ** np.arange(np.ceil(np.log10(lo)), np.floor(np.log10(max(pos))) + 1)
        ax.set_xticks(([0.0] if min(steps) <= 0 else []) + list(decades))


def _values(entries: list[dict], key: str) -> Any:
    import numpy as np

    return np.array([np.nan if c.get(key) is None else c[key] for c in entries], dtype=float)


def _band(entries: list[dict], key: str, std_key: str | None, y: Any) -> tuple[Any, Any, str]:
    """Lower and upper edge of the shaded band: the 95% CI, else (old summaries) mean ± std."""
    import numpy as np

    if any(c.get(f"{key}_ci") is not None for c in entries):
        ci = [c.get(f"{key}_ci") or [np.nan, np.nan] for c in entries]
        return (np.array([v[0] for v in ci], dtype=float), np.array([v[1] for v in ci], dtype=float),
                "95% bootstrap CI")
    e = np.array([0.0 if std_key is None or c.get(std_key) is None else c[std_key] for c in entries], dtype=float)
    return y - e, y + e, "± std over samples"


def plot_series(summary: dict, out_stem: str | Path, formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
    """Draw alpha0, width and E(t) against the training step, with 95% CI bands.

    The bands are the bootstrap intervals of the summary (``*_ci``; ``*_std`` for summaries
    without them); a null model (``null`` blocks) is drawn dashed with its own band.

    Args:
        summary: A batch summary document (``mfa batch --summary``).
        out_stem: Output path without suffix; one file per format is written.
        formats: Image formats.

    Returns:
        The written paths.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ck = [c for c in summary["checkpoints"]]
    steps = [float(c["step"]) if c["step"] is not None else float(i) for i, c in enumerate(ck)]
    fig, axes = plt.subplots(1, 3, figsize=(13.0, 3.8), dpi=120)
    panels = (("alpha0", "alpha0_std", r"$\alpha_0$"), ("width", "width_std", r"width $\Delta\alpha$"),
              ("emergence", "emergence_std", r"emergence $E(t)$"))
    for ax, (key, std_key, label) in zip(axes, panels):
        y = _values(ck, key)
        lo, hi, band = _band(ck, key, std_key, y)
        ax.plot(steps, y, "o-", color="tab:blue", lw=1.5, ms=4, label="mean over samples")
        ax.fill_between(steps, lo, hi, color="tab:blue", alpha=0.2, label=band)
        if any("null" in c for c in ck):
            nulls = [c.get("null") or {} for c in ck]
            yn = _values(nulls, key)
            lon, hin, _ = _band(nulls, key, None, yn)
            ax.plot(steps, yn, "s--", color="black", lw=1.2, ms=3,
                    label=f"{next(iter(n.get('model') for n in nulls if n), None) or 'shuffle'} null")
            ax.fill_between(steps, lon, hin, color="grey", alpha=0.2)
        if key != "emergence":
            for i, c in enumerate(ck):
                ax.scatter([steps[i]] * len(c["samples"]), [s[key] for s in c["samples"]],
                           s=6, color="grey", alpha=0.5, zorder=3)
        ax.set_xlabel("training step")
        ax.set_ylabel(label)
        _steps_axis(ax, steps)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{summary['mode']} mode, {len(ck)} checkpoints", fontsize=10)
    fig.tight_layout()
    out_stem = Path(out_stem)
    try:
        return [_save(fig, out_stem.with_name(f"{out_stem.name}.{fmt}")) for fmt in formats]
    finally:
        plt.close(fig)


def plot_spectra(spectra: list[tuple[str, list[dict]]], out_stem: str | Path, title: str = "",
                 formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
    """Draw f(alpha) of selected checkpoints: each sample thin, the mean over samples bold, the
    mean of the null records (if any) dashed.

    Args:
        spectra: ``(label, per-sample records with "alpha" and "f_alpha")`` per checkpoint.
        out_stem: Output path without suffix.
        title: Figure title.
        formats: Image formats.

    Returns:
        The written paths.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.0, 4.2), dpi=120)
    colors = plt.cm.viridis(np.linspace(0.0, 0.9, max(1, len(spectra))))
    for (label, recs), color in zip(spectra, colors):
        for r in recs:
            ax.plot(r["alpha"], r["f_alpha"], color=color, alpha=0.25, lw=0.7)
        ax.plot(np.mean([r["alpha"] for r in recs], axis=0), np.mean([r["f_alpha"] for r in recs], axis=0),
                color=color, lw=2.0, label=f"{label} ({len(recs)} samples)")
        nulls = [r["null"] for r in recs if isinstance(r.get("null"), dict)]
        if nulls:
            ax.plot(np.mean([r["alpha"] for r in nulls], axis=0), np.mean([r["f_alpha"] for r in nulls], axis=0),
                    color=color, lw=1.2, ls="--", label=f"{label} null")
    ax.set_xlabel(r"$\alpha$")
    ax.set_ylabel(r"$f(\alpha)$")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out_stem = Path(out_stem)
    try:
        return [_save(fig, out_stem.with_name(f"{out_stem.name}.{fmt}")) for fmt in formats]
    finally:
        plt.close(fig)
