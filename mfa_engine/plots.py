"""Plots (matplotlib, imported lazily, Agg backend)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from mfa_engine.errors import ConfigError
from mfa_engine.io import check_output_path, write_bytes

__all__ = ["plot_spectrum", "plot_series", "plot_spectra", "plot_fit", "plot_profile", "plot_profiles",
           "image_formats", "check_image_path", "check_formats"]


def image_formats() -> set[str]:
    """File formats matplotlib can write here (``png``, ``svg``, ``pdf``, ...)."""
    from matplotlib.backend_bases import FigureCanvasBase

    return set(FigureCanvasBase.get_supported_filetypes())


def check_formats(formats: tuple[str, ...] | list[str], option: str = "--formats") -> tuple[str, ...]:
    """Validate image format names before any work is done.

    Raises:
        ConfigError: No format, or a format matplotlib cannot write.
    """
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
    p = Path(path)
    if not p.suffix:
        raise ConfigError(f"{option} {p}: the file name needs an image suffix such as .png or .svg")
    check_formats([p.suffix], option=f"{option} {p}")
    return check_output_path(p)


def _save(fig: Any, out: Path) -> Path:
    """Render ``fig`` in the format of ``out``'s suffix and write it with mfa_engine.io."""
    buf = io.BytesIO()
    fig.savefig(buf, format=out.suffix.lstrip(".").lower())
    return write_bytes(out, buf.getvalue())


def _finish(fig: Any, ax: Any, out: Path) -> Path:
    """Grid, legend and layout of a one-panel figure; write it to ``out`` and close it."""
    import matplotlib.pyplot as plt

    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    try:
        return _save(fig, out)
    finally:
        plt.close(fig)


def _flagged(record: dict) -> bool:
    """True when a sample's diagnostics flag it (docs/method.md, Spectrum)."""
    return bool(record.get("flagged") or (record.get("diagnostics") or {}).get("flagged"))


def _fit_limits(ax: Any, curves: list[tuple[Any, Any]], margin: float = 0.05) -> None:
    """Set the axes' limits from these curves only (flagged samples drawn elsewhere stay out)."""
    xs = np.concatenate([np.asarray(x, dtype=float).ravel() for x, _ in curves]) if curves else np.zeros(0)
    ys = np.concatenate([np.asarray(y, dtype=float).ravel() for _, y in curves]) if curves else np.zeros(0)
    xs, ys = xs[np.isfinite(xs)], ys[np.isfinite(ys)]
    if xs.size and ys.size:
        dx = (xs.max() - xs.min()) or 1.0
        dy = (ys.max() - ys.min()) or 1.0
        ax.set_xlim(xs.min() - margin * dx, xs.max() + margin * dx)
        ax.set_ylim(ys.min() - margin * dy, ys.max() + margin * dy)


def _mean_curve(records: list[dict]) -> tuple[Any, Any]:
    return (np.mean([r["alpha"] for r in records], axis=0), np.mean([r["f_alpha"] for r in records], axis=0))


def plot_spectrum(doc: dict, out: str | Path) -> Path:
    """Draw f(alpha) of an ``analyze_checkpoint`` document.

    Every sample thin; the mean of the unflagged samples bold (the document's own means, over
    all samples, are in its title); flagged samples dashed and left out of the mean and of
    the axes' limits (one outlying sample must not hide the others); alpha0 with its 95% CI;
    the null model's mean and alpha0 interval where a null was run.

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
    samples = doc["samples"]
    kept = [s for s in samples if not _flagged(s)]
    flagged = [s for s in samples if _flagged(s)]
    fig, ax = plt.subplots(figsize=(5.8, 4.2), dpi=120)
    for i, s in enumerate(kept):
        ax.plot(s["alpha"], s["f_alpha"], color="tab:blue", alpha=0.3, lw=0.8,
                label=f"samples ({len(kept)})" if i == 0 else None)
    for s in flagged:
        flags = ", ".join((s.get("diagnostics") or {}).get("flags") or [])
        ax.plot(s["alpha"], s["f_alpha"], color="tab:orange", alpha=0.8, lw=1.0, ls="--",
                label=f"flagged: seed {s['seed']} ({flags})")
    mean = _mean_curve(kept or samples)
    which = "samples" if not flagged else ("unflagged samples" if kept else "samples (all flagged)")
    ax.plot(*mean, color="tab:red", lw=2.0, label=f"mean of the {which}")
    curves = [(s["alpha"], s["f_alpha"]) for s in kept or samples] + [mean]
    ci = doc.get("alpha0_ci")
    ci_text = f", 95% CI [{ci[0]:.4g}, {ci[1]:.4g}]" if ci else f" ± {doc['alpha0_std']:.2g}"
    ax.axvline(doc["alpha0"], color="grey", ls=":", lw=1.0, label=f"alpha0 = {doc['alpha0']:.4g}{ci_text}")
    if ci:
        ax.axvspan(ci[0], ci[1], color="grey", alpha=0.15, lw=0)
    null = doc.get("null")
    if null:
        nulls = [s["null"] for s in kept or samples if isinstance(s.get("null"), dict)] or [null]
        ncurve = _mean_curve(nulls)
        ax.plot(*ncurve, color="black", ls="--", lw=1.5,
                label=f"{null.get('model')} null (alpha0 = {null['alpha0']:.4g})")
        if null.get("alpha0_ci"):
            ax.axvspan(*null["alpha0_ci"], color="black", alpha=0.08, lw=0, label="null alpha0 95% CI")
        curves.append(ncurve)
    _fit_limits(ax, curves)
    ax.set_xlabel(r"$\alpha$")
    ax.set_ylabel(r"$f(\alpha)$")
    parts = Path(doc["checkpoint"]).parts
    name = "/".join(parts[-2:]) if parts else doc["checkpoint"]
    width = f"{len(samples)} samples: width {doc['width']:.3g}"
    if doc.get("width_mean") is not None:
        width += f" (median of the unflagged; mean of all {doc['width_mean']:.3g})"
    elif doc.get("width_median") is not None:
        width += f" (median {doc['width_median']:.3g})"
    if flagged:
        width += f"; {len(flagged)} flagged (dashed, may run off the axes)"
    ax.set_title(f"{name} ({doc['model_type']}, {doc['mode']} mode)\n{width}", fontsize=8)
    return _finish(fig, ax, out)


def plot_fit(fit: dict, out: str | Path, title: str = "", n_q: int = 5) -> Path:
    """Draw the scaling fit of one sample: the partition series against ln r, the fit window
    shaded, and the fitted line (slope tau(q)) over the window, for a few q.

    Args:
        fit: :func:`mfa_engine.graph_spectrum.graph_fit`'s dict (``q``, ``ln_r``, ``ln_z``,
            ``window``, ``tau``, ``convention``).
        out: Output image path.
        title: Figure title.
        n_q: How many q values to draw (spread over the grid, q = 0 and the ends included).

    Returns:
        The written path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out = check_image_path(out, "fit plot file")
    q = np.asarray(fit["q"], dtype=float)
    x = np.asarray(fit["ln_r"], dtype=float)
    y = np.asarray(fit["ln_z"], dtype=float)
    lo, hi = (float(v) for v in fit["window"])
    inside = (x >= np.log(lo) - 1e-12) & (x <= np.log(hi) + 1e-12)
    picks = sorted({0, q.size - 1, int(np.argmin(np.abs(q))), *np.linspace(0, q.size - 1, n_q).round().astype(int)})
    fig, ax = plt.subplots(figsize=(6.0, 4.4), dpi=120)
    ax.axvspan(np.log(lo), np.log(hi), color="tab:green", alpha=0.12, lw=0,
               label=f"fit window r in [{lo:.4g}, {hi:.4g}]")
    colors = plt.cm.coolwarm(np.linspace(0.0, 1.0, len(picks)))
    for j, color in zip(picks, colors):
        ax.plot(x, y[j], "o", ms=2.5, color=color, alpha=0.8)
        slope, icept = np.polyfit(x[inside], y[j][inside], 1)
        ax.plot(x[inside], slope * x[inside] + icept, "-", color=color, lw=1.6,
                label=f"q = {q[j]:.3g}: tau = {fit['tau'][j]:.4g}")
    series = r"$\ln Z_q(r)$" if fit.get("convention", "boxgrowing") == "boxgrowing" else r"$\ln \langle\mu^{q-1}\rangle$"
    r_unit = fit.get("r_unit")
    if r_unit:  # the profile's coordinate u = ln(r / r_unit) on a second axis
        shift = float(np.log(float(r_unit)))
        top = ax.secondary_xaxis("top", functions=(lambda v: v - shift, lambda v: v + shift))
        top.set_xlabel(r"$u = \ln(r / r_{unit})$" + f", r_unit = {float(r_unit):.4g}", fontsize=8)
    ax.set_xlabel(r"$\ln r$")
    ax.set_ylabel(series)
    ax.set_title(title, fontsize=8)
    return _finish(fig, ax, out)


def _floats_nan(values: Any) -> Any:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _band_arrays(block: dict) -> tuple[Any, Any, Any]:
    """Median, lower and upper edge of a ``{"median", "ci"}`` profile band (NaN where undefined)."""
    med = _floats_nan(block["median"])
    ci = [c if c is not None else [None, None] for c in block["ci"]]
    return med, _floats_nan([c[0] for c in ci]), _floats_nan([c[1] for c in ci])


def _window_u(doc: dict) -> tuple[float, float] | None:
    """The fit window in u shared by the document's unflagged samples (None if absent or not shared)."""
    wins = {tuple(s["window_u"]) for s in doc.get("samples", [])
            if s.get("window_u") is not None and not _flagged(s)}
    return next(iter(wins)) if len(wins) == 1 else None


def plot_profiles(entries: list[tuple[str, dict]], out_stem: str | Path, title: str = "",
                  formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
    """Draw the local-slope profiles d<ln mu>/d ln r against u = ln(r / r_unit).

    Left panel: per entry the median over the (unflagged) samples with its 95% bootstrap band,
    and the null's median dashed with its band. Right panel (when an entry has a ``contrast``):
    real minus null, the median of the per-seed differences with its paired band, and a zero
    line. The fit window (in u) is shaded when the samples share one.

    Args:
        entries: ``(label, doc)``: docs with ``profile`` (and optionally ``null.profile`` and
            ``contrast.profile``), as :func:`mfa_engine.summary.summarise` writes them.
        out_stem: Output path without suffix.
        title: Figure title.
        formats: Image formats.

    Returns:
        The written paths.

    Raises:
        ConfigError: No entry has a profile with ``ln_mu``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    usable = [(lab, d) for lab, d in entries if (d.get("profile") or {}).get("ln_mu")]
    if not usable:
        raise ConfigError("no local-slope profile to draw: the documents hold no 'profile' "
                          "(paper mode with records on a fixed u grid writes one)")
    contrast = any(((d.get("contrast") or {}).get("profile") or {}).get("ln_mu") for _, d in usable)
    fig, axes = plt.subplots(1, 2 if contrast else 1, figsize=(11.0 if contrast else 6.0, 4.2), dpi=120,
                             squeeze=False)
    ax, cax = axes[0][0], (axes[0][1] if contrast else None)
    colors = plt.cm.viridis(np.linspace(0.0, 0.9, max(1, len(usable))))
    if len(usable) == 1:
        colors = ["tab:blue"]
    for (label, doc), color in zip(usable, colors):
        prof = doc["profile"]
        u = np.asarray(prof["u"], dtype=float)
        med, lo, hi = _band_arrays(prof["ln_mu"])
        ax.plot(u, med, "-", color=color, lw=1.8, label=f"{label}: median ({prof.get('n_samples', '?')} samples)")
        ax.fill_between(u, lo, hi, color=color, alpha=0.2, lw=0, label=f"{label}: 95% CI")
        nprof = (doc.get("null") or {}).get("profile")
        if nprof and nprof.get("ln_mu"):
            nmed, nlo, nhi = _band_arrays(nprof["ln_mu"])
            model = (doc.get("null") or {}).get("model") or "null"
            nu = np.asarray(nprof["u"], dtype=float)
            ax.plot(nu, nmed, "--", color=color if len(usable) > 1 else "black", lw=1.4,
                    label=f"{label}: {model} null")
            ax.fill_between(nu, nlo, nhi, color="grey", alpha=0.15, lw=0, label=f"{label}: {model} null 95% CI")
        cprof = (doc.get("contrast") or {}).get("profile")
        if cax is not None and cprof and cprof.get("ln_mu"):
            cmed, clo, chi = _band_arrays(cprof["ln_mu"])
            cu = np.asarray(cprof["u"], dtype=float)
            cax.plot(cu, cmed, "-", color=color, lw=1.8, label=f"{label}: real minus null")
            cax.fill_between(cu, clo, chi, color=color, alpha=0.2, lw=0, label=f"{label}: paired 95% CI")
    win = _window_u(usable[0][1]) if len(usable) == 1 else None
    for a in [ax] + ([cax] if cax is not None else []):
        if win is not None:
            a.axvspan(*win, color="tab:green", alpha=0.08, lw=0, label=f"fit window u in [{win[0]:.3g}, {win[1]:.3g}]")
        a.axvline(0.0, color="grey", lw=0.8, ls=":")  # r = r_unit
        a.set_xlabel(r"$u = \ln(r / r_{unit})$")
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    ax.set_ylabel(r"local slope $d\langle\ln\mu\rangle / d\ln r$")
    if cax is not None:
        cax.axhline(0.0, color="black", lw=0.8, zorder=1)
        cax.set_ylabel("real minus null (paired per seed)")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    out_stem = Path(out_stem)
    try:
        return [_save(fig, out_stem.with_name(f"{out_stem.name}.{fmt}")) for fmt in formats]
    finally:
        plt.close(fig)


def plot_profile(doc: dict, out: str | Path) -> Path:
    """Draw the local-slope profile of one ``mfa analyze`` document (:func:`plot_profiles`).

    Args:
        doc: The JSON document of ``mfa analyze`` (with ``profile``).
        out: Output image path (.png, .svg or .pdf).

    Returns:
        The written path.
    """
    out = check_image_path(out, "profile plot file")
    parts = Path(doc["checkpoint"]).parts
    name = "/".join(parts[-2:]) if parts else doc["checkpoint"]
    (path,) = plot_profiles([("real", doc)], out.with_suffix(""),
                            f"{name} ({doc['model_type']}, {doc['mode']} mode): local slopes",
                            (out.suffix.lstrip(".").lower(),))
    return path


def _steps_axis(ax: Any, steps: list[float]) -> None:
    pos = [s for s in steps if s > 0]
    if pos and max(pos) / min(pos) >= 100:
        lo = max(1.0, min(pos))
        ax.set_xscale("symlog", linthresh=lo)
        # Major ticks: 0 (if present) and the decades from the linear threshold up, so no
        # decade label sits inside the linear region next to the 0 label.
        decades = 10.0 ** np.arange(np.ceil(np.log10(lo)), np.floor(np.log10(max(pos))) + 1)
        ax.set_xticks(([0.0] if min(steps) <= 0 else []) + list(decades))


def _values(entries: list[dict], key: str) -> Any:
    return np.array([np.nan if c.get(key) is None else c[key] for c in entries], dtype=float)


def _band(entries: list[dict], key: str, std_key: str | None, y: Any) -> tuple[Any, Any, str]:
    """Lower and upper edge of the shaded band: the 95% CI, else (old summaries) mean ± std."""
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
    has_contrast = any(c.get("emergence_contrast") is not None for c in ck)
    n_panels = 4 if has_contrast else 3
    fig, axes = plt.subplots(1, n_panels, figsize=(4.4 * n_panels, 3.8), dpi=120, sharex=True)
    panels = [("alpha0", "alpha0_std", r"$\alpha_0$"), ("width", "width_std", r"width $\Delta\alpha$"),
              ("emergence", "emergence_std", r"emergence $E(t)$")]
    if has_contrast:
        panels.append(("emergence_contrast", None, r"real minus null $E(t)$"))
    for ax, (key, std_key, label) in zip(axes, panels):
        y = _values(ck, key)
        lo, hi, band = _band(ck, key, std_key, y)
        if key == "emergence_contrast":
            ax.plot(steps, y, "o-", color="tab:purple", lw=1.5, ms=4, label="real minus null E")
            ax.fill_between(steps, lo, hi, color="tab:purple", alpha=0.2, label="paired 95% bootstrap CI")
            ax.axhline(0.0, color="black", lw=0.8, zorder=1)
            ax.set_xlabel("training step")
            ax.set_ylabel(label)
            _steps_axis(ax, steps)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
            continue
        ax.plot(steps, y, "o-", color="tab:blue", lw=1.5, ms=4,
                label="median of the unflagged samples" if any("alpha0_mean" in c for c in ck) else "mean over samples")
        ax.fill_between(steps, lo, hi, color="tab:blue", alpha=0.2, label=band)
        if any("null" in c for c in ck):
            nulls = [c.get("null") or {} for c in ck]
            yn = _values(nulls, key)
            lon, hin, _ = _band(nulls, key, None, yn)
            ax.plot(steps, yn, "s--", color="black", lw=1.2, ms=3,
                    label=f"{next(iter(n.get('model') for n in nulls if n), None) or 'shuffle'} null")
            ax.fill_between(steps, lon, hin, color="grey", alpha=0.2)
        if key == "emergence":
            ax.axhline(0.0, color="black", lw=0.8, zorder=1)  # E = 0: no change since t0
        else:
            for i, c in enumerate(ck):
                ok = [s[key] for s in c["samples"] if not _flagged(s)]
                bad = [s[key] for s in c["samples"] if _flagged(s)]
                ax.scatter([steps[i]] * len(ok), ok, s=6, color="grey", alpha=0.5, zorder=3,
                           label="samples" if i == 0 else None)
                ax.scatter([steps[i]] * len(bad), bad, s=22, marker="x", color="tab:orange", zorder=4,
                           label="flagged samples" if bad and not any(_flagged(s) for c2 in ck[:i]
                                                                      for s in c2["samples"]) else None)
        ax.set_xlabel("training step")
        ax.set_ylabel(label)
        _steps_axis(ax, steps)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    n_flagged = sum(1 for c in ck for s in c["samples"] if _flagged(s))
    flagged = f"; {n_flagged} flagged samples (orange x, not in the medians)" if n_flagged else ""
    fig.suptitle(f"{summary['mode']} mode, {len(ck)} checkpoints{flagged}", fontsize=10)
    fig.tight_layout()
    out_stem = Path(out_stem)
    try:
        return [_save(fig, out_stem.with_name(f"{out_stem.name}.{fmt}")) for fmt in formats]
    finally:
        plt.close(fig)


def plot_spectra(spectra: list[tuple[str, list[dict]]], out_stem: str | Path, title: str = "",
                 formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
    """Draw f(alpha) of selected checkpoints: each sample thin, the mean of the unflagged samples
    bold, flagged samples dotted (out of the mean and the axes' limits), the mean of the null
    records (if any) dashed.

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
    fig, ax = plt.subplots(figsize=(6.0, 4.2), dpi=120)
    colors = plt.cm.viridis(np.linspace(0.0, 0.9, max(1, len(spectra))))
    curves: list[tuple[Any, Any]] = []
    for (label, recs), color in zip(spectra, colors):
        good = [r for r in recs if not _flagged(r)]
        bad = [r for r in recs if _flagged(r)]
        for r in good:
            ax.plot(r["alpha"], r["f_alpha"], color=color, alpha=0.25, lw=0.7)
        for r in bad:
            ax.plot(r["alpha"], r["f_alpha"], color=color, alpha=0.7, lw=0.9, ls=":")
        kept = good or recs  # all flagged: their mean, still drawn
        mean = _mean_curve(kept)
        note = f"; {len(bad)} flagged: dotted, not in the mean" if bad else ""
        ax.plot(*mean, color=color, lw=2.0, label=f"{label} ({len(kept)} samples{note})")
        curves += [(r["alpha"], r["f_alpha"]) for r in kept] + [mean]
        nulls = [r["null"] for r in kept if isinstance(r.get("null"), dict)]
        if nulls:
            ncurve = _mean_curve(nulls)
            ax.plot(*ncurve, color=color, lw=1.2, ls="--", label=f"{label} null")
            curves.append(ncurve)
    _fit_limits(ax, curves)
    ax.grid(alpha=0.3)
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
