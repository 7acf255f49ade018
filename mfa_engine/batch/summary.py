"""The summary JSON of a batch run (contract) and the degree of emergence over a series.

::

    {"engine_version", "mode", "config", "computed", "skipped",
     "checkpoints": [{"checkpoint", "step", "alpha0", "width", "alpha0_ci", "width_ci",
                      "alpha0_mean", "width_mean", "alpha0_std", "width_std",
                      "alpha0_median", "width_median",
                      "emergence", "emergence_std", "emergence_ci", "n_samples", "n_flagged",
                      "samples": [{"seed", "alpha0", "width", "flagged"}],
                      "null": {...},                               # only with a null model
                      "emergence_contrast", "emergence_contrast_ci",  # only with a null model
                      "contrast": {"n_pairs", "alpha0": {"median", "ci"}, "width": {...}}}],
     "failed": [{"checkpoint", "step", "error"}],
     "reference_checkpoint": {"checkpoint", "step"} | None, "warnings": [str]}

Checkpoints are ordered by step. The headline ``alpha0`` and ``width`` of a checkpoint are the
medians over its unflagged samples (all of them when every one is flagged), ``*_ci`` the 95%
order-statistic interval of that median (:mod:`mfa_engine.analysis.uncertainty`);
``*_mean``, ``*_std`` (population) and ``*_median`` are over all the samples. ``emergence`` is
E(t) of docs/method.md (Emergence) from the headline values, relative to
``reference_checkpoint``, the first checkpoint of the list with results (None when undefined:
alpha0 <= 0 or a zero width at t0); ``emergence_std`` is the spread of the per-sample E_s(t)
over the seeds present at both t0 and t; ``emergence_ci`` resamples the seeds present at t0 and
t jointly at both (paired: a seed is the same neurons at every step) and takes the headline
statistic of each resample at each checkpoint, its flags applied. ``n_flagged`` counts the
samples whose diagnostics flag them (paper mode; ``mfa_engine.analysis.diagnostics``). When the
per-sample records hold a ``null`` record (``--null``), each checkpoint gets ``"null":
{"model", "alpha0", "width", "alpha0_ci", "width_ci", "alpha0_mean", "width_mean",
"alpha0_median", "width_median", "emergence", "emergence_ci", "n_samples"}`` computed the same
way from the null records (their own flags), ``emergence_contrast`` = real E minus null E with
``emergence_contrast_ci``, the interval with one resample of the seeds present in both at t0 and
t applied to real and null, t0 and t together, and ``contrast`` (real minus null alpha0 and
width, median of the per-seed differences, :func:`mfa_engine.summary.contrast_stats`). When the
first checkpoint asked for has no results (it failed), E(t) is measured from the next one and
``warnings`` says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mfa_engine.analysis.emergence import emergence_curve
from mfa_engine.analysis.uncertainty import bootstrap_ci, centre, emergence_ci, emergence_contrast_ci
from mfa_engine.summary import contrast_stats

__all__ = ["summarise_series", "series_emergence", "series_emergence_ci", "series_emergence_contrast",
           "value_stats"]

Maps = Sequence[dict[int, float]]
Flags = Sequence[dict[int, bool]] | None


def _is_flagged(record: dict[str, Any] | None) -> bool:
    return bool(((record or {}).get("diagnostics") or {}).get("flagged"))


def _flagged(row: dict[str, Any]) -> bool:
    """True when a stored sample's diagnostics flag it (paper mode; docs/method.md, Spectrum)."""
    return _is_flagged(row.get("record"))


def _headline(values: dict[int, float], flags: dict[int, bool] | None, stat: str) -> float:
    """Median (or mean) over the unflagged seeds; over all when every one is flagged."""
    seeds = sorted(values)
    v = np.array([values[s] for s in seeds], dtype=np.float64)
    f = None if flags is None else np.array([bool(flags.get(s, False)) for s in seeds])
    return float(centre(v, f, stat))


def _flag_table(flagged: Flags, t_list: Sequence[int], common: list[int]) -> np.ndarray | None:
    if flagged is None:
        return None
    return np.array([[bool(flagged[t].get(s, False)) for s in common] for t in t_list])


def series_emergence(alpha0: Maps, width: Maps, flagged: Flags = None, stat: str = "median"
                     ) -> list[tuple[float | None, float | None]]:
    """E(t) and its spread for each checkpoint of a series, relative to the first one.

    ``E(t) = (w(t) / w(t0)) * ln(alpha0(t0) / alpha0(t))`` with the headline statistic of each
    checkpoint's samples (``stat``: the median over the unflagged seeds, or the mean); the spread
    is the population std of ``E_s(t)`` over the seeds s present at t0 and t.

    Args:
        alpha0: Per checkpoint, seed -> alpha0.
        width: Per checkpoint, seed -> width.
        flagged: Per checkpoint, seed -> flagged (None: none flagged).
        stat: ``"median"`` or ``"mean"``.

    Returns:
        ``[(E, E_std)]`` per checkpoint; ``(0.0, 0.0)`` first; ``(None, None)`` where undefined.
    """
    if not alpha0:
        return []
    fl = [None] * len(alpha0) if flagged is None else list(flagged)
    a_c = np.array([_headline(a, f, stat) for a, f in zip(alpha0, fl)], dtype=np.float64)
    w_c = np.array([_headline(w, f, stat) for w, f in zip(width, fl)], dtype=np.float64)
    e_c = emergence_curve(a_c, w_c)
    out: list[tuple[float | None, float | None]] = [(0.0, 0.0)]
    for t in range(1, len(alpha0)):
        if not (a_c[0] > 0 and a_c[t] > 0 and w_c[0] != 0):
            out.append((None, None))
            continue
        common = [s for s in sorted(set(alpha0[0]) & set(alpha0[t]))
                  if alpha0[0][s] > 0 and alpha0[t][s] > 0 and width[0][s] != 0]
        per = [float(emergence_curve([alpha0[0][s], alpha0[t][s]], [width[0][s], width[t][s]])[1])
               for s in common]
        out.append((float(e_c[t]), float(np.std(per)) if per else None))
    return out


def _pair_tables(maps: Sequence[Maps], t: int, common: list[int]) -> list[np.ndarray]:
    return [np.array([[m[0][s] for s in common], [m[t][s] for s in common]], dtype=np.float64) for m in maps]


def _ci_or_none(lo: np.ndarray, hi: np.ndarray) -> list[float] | None:
    return None if not (math.isfinite(lo[1]) and math.isfinite(hi[1])) else [float(lo[1]), float(hi[1])]


def series_emergence_ci(alpha0: Maps, width: Maps, flagged: Flags = None, stat: str = "median"
                        ) -> list[list[float] | None]:
    """Paired 95% bootstrap interval of E(t) for each checkpoint of a series.

    For each checkpoint t the seeds present at both t0 and t are resampled jointly at both
    (:func:`mfa_engine.analysis.uncertainty.emergence_ci`, the headline statistic with each
    checkpoint's flags); with the same seeds everywhere the resamples are identical across
    checkpoints.

    Args:
        alpha0: Per checkpoint, seed -> alpha0.
        width: Per checkpoint, seed -> width.
        flagged: Per checkpoint, seed -> flagged (None: none flagged).
        stat: ``"median"`` or ``"mean"``.

    Returns:
        ``[lo, hi]`` per checkpoint (``[0.0, 0.0]`` first); None where undefined.
    """
    out: list[list[float] | None] = []
    for t in range(len(alpha0)):
        if t == 0:
            out.append([0.0, 0.0])
            continue
        common = sorted(set(alpha0[0]) & set(alpha0[t]) & set(width[0]) & set(width[t]))
        if not common:
            out.append(None)
            continue
        a, w = _pair_tables((alpha0, width), t, common)
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(w))):
            out.append(None)
            continue
        lo, hi = emergence_ci(a, w, stat=stat, flagged=_flag_table(flagged, (0, t), common))
        out.append(_ci_or_none(lo, hi))
    return out


def series_emergence_contrast(
    alpha0: Maps, width: Maps, null_alpha0: Maps, null_width: Maps,
    flagged: Flags = None, null_flagged: Flags = None, stat: str = "median",
) -> list[tuple[float | None, list[float] | None]]:
    """Real minus null E(t) and its paired 95% bootstrap interval for each checkpoint.

    The value is the difference of the two E(t) of :func:`series_emergence`; the interval
    resamples the seeds present in real and null at t0 and t once for all four
    (:func:`mfa_engine.analysis.uncertainty.emergence_contrast_ci`).

    Args:
        alpha0, width: Per checkpoint, seed -> real value.
        null_alpha0, null_width: Per checkpoint, seed -> the null's value.
        flagged, null_flagged: Per checkpoint, seed -> flagged (None: none flagged).
        stat: ``"median"`` or ``"mean"``.

    Returns:
        ``[(value, [lo, hi])]`` per checkpoint (``(0.0, [0.0, 0.0])`` first); None parts
        where undefined.
    """
    real = series_emergence(alpha0, width, flagged, stat)
    null = series_emergence(null_alpha0, null_width, null_flagged, stat)
    out: list[tuple[float | None, list[float] | None]] = []
    for t, ((er, _), (en, _)) in enumerate(zip(real, null)):
        value = None if er is None or en is None else float(er - en)
        if t == 0:
            out.append((0.0, [0.0, 0.0]))
            continue
        common = sorted(set.intersection(*(set(m[i]) for m in (alpha0, width, null_alpha0, null_width)
                                           for i in (0, t))))
        if not common:
            out.append((value, None))
            continue
        tabs = _pair_tables((alpha0, width, null_alpha0, null_width), t, common)
        if not all(np.all(np.isfinite(x)) for x in tabs):
            out.append((value, None))
            continue
        lo, hi = emergence_contrast_ci(*tabs, stat=stat, flagged=_flag_table(flagged, (0, t), common),
                                       null_flagged=_flag_table(null_flagged, (0, t), common))
        out.append((value, _ci_or_none(lo, hi)))
    return out


def value_stats(name: str, values: np.ndarray, flagged: np.ndarray | None = None) -> dict[str, Any]:
    """Headline (median of the unflagged values) with its 95% bootstrap interval, and the mean,
    population std and median over all values.

    Args:
        name: Field prefix, e.g. ``"alpha0"``.
        values: float ``[S]``.
        flagged: bool ``[S]`` (None: none flagged).

    Returns:
        ``{name, name_ci, name_mean, name_std, name_median}`` (``name_ci`` is ``[lo, hi]`` or
        None when a value is not finite).
    """
    v = np.asarray(values, dtype=np.float64)
    f = np.zeros(v.shape, dtype=bool) if flagged is None else np.asarray(flagged, dtype=bool)
    kept = v[~f] if (~f).any() else v
    finite = bool(v.size) and bool(np.all(np.isfinite(v)))
    return {
        name: float(np.median(kept)),
        f"{name}_ci": list(bootstrap_ci(kept, stat="median")) if finite else None,
        f"{name}_mean": float(v.mean()),
        f"{name}_std": float(v.std()),
        f"{name}_median": float(np.median(v)),
    }


def _null_entries(samples_per_ckpt: list[list[dict[str, Any]]]) -> tuple[list[dict[str, Any] | None], tuple]:
    """The ``null`` block of each checkpoint from the per-sample null records (None if absent),
    and the null's seed maps ``(alpha0, width, flagged)``."""
    a_maps: list[dict[int, float]] = []
    w_maps: list[dict[int, float]] = []
    f_maps: list[dict[int, bool]] = []
    blocks: list[dict[str, Any] | None] = []
    for samples in samples_per_ckpt:
        nulls = [(r["seed"], r["record"]["null"]) for r in samples
                 if isinstance(r.get("record"), dict) and isinstance(r["record"].get("null"), dict)]
        a_maps.append({s: float(n["alpha0"]) for s, n in nulls})
        w_maps.append({s: float(n["width"]) for s, n in nulls})
        f_maps.append({s: _is_flagged(n) for s, n in nulls})
        if not nulls:
            blocks.append(None)
            continue
        f = np.array([_is_flagged(n) for _, n in nulls])
        sa = value_stats("alpha0", np.array([float(n["alpha0"]) for _, n in nulls]), f)
        sw = value_stats("width", np.array([float(n["width"]) for _, n in nulls]), f)
        blocks.append({"model": nulls[0][1].get("model"), **sa, **sw,
                       "emergence": None, "emergence_ci": None, "n_samples": len(nulls),
                       "n_flagged": int(f.sum())})
    if blocks and blocks[0] is not None:
        es = series_emergence(a_maps, w_maps, f_maps)
        cis = series_emergence_ci(a_maps, w_maps, f_maps)
        for block, (e, _), ci in zip(blocks, es, cis):
            if block is not None:
                block["emergence"], block["emergence_ci"] = e, ci
    return blocks, (a_maps, w_maps, f_maps)


def summarise_series(
    rows: Sequence[dict[str, Any]],
    *,
    engine_version: str,
    mode: str,
    config: dict[str, Any],
    computed: int,
    skipped: int,
    checkpoints: Sequence[tuple[str, int | None]] | None = None,
    seeds: Sequence[int] | None = None,
    failed: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Build the summary document from store rows of one mode and configuration.

    Args:
        rows: Rows of :meth:`ResultsStore.rows` (one mode, one configuration).
        engine_version: Engine version.
        mode: The mode.
        config: The configuration.
        computed: Samples computed by this run.
        skipped: Samples found in the store and not recomputed.
        checkpoints: ``(key, step)`` to report, in order (default: every checkpoint in
            ``rows``, by step); checkpoints without rows are left out.
        seeds: Only these seeds (default all).
        failed: ``{"checkpoint", "step", "error"}`` of checkpoints that failed.

    Returns:
        The summary dict.
    """
    wanted = None if seeds is None else set(int(s) for s in seeds)
    by_ckpt: dict[tuple[str, int | None], list[dict[str, Any]]] = {}
    for r in rows:
        if wanted is not None and r["seed"] not in wanted:
            continue
        by_ckpt.setdefault((r["checkpoint"], r["step"]), []).append(r)
    if checkpoints is None:
        order = sorted(by_ckpt, key=lambda k: (k[1] is None, k[1] or 0, k[0]))
    else:
        order = [(k, s) for k, s in checkpoints if (k, s) in by_ckpt]
    entries = []
    a_maps, w_maps, f_maps, per_ckpt = [], [], [], []
    for key in order:
        samples = sorted(by_ckpt[key], key=lambda r: r["seed"])
        per_ckpt.append(samples)
        a = np.array([r["alpha0"] for r in samples], dtype=np.float64)
        w = np.array([r["width"] for r in samples], dtype=np.float64)
        f = np.array([_flagged(r) for r in samples], dtype=bool)
        a_maps.append({r["seed"]: r["alpha0"] for r in samples})
        w_maps.append({r["seed"]: r["width"] for r in samples})
        f_maps.append({r["seed"]: _flagged(r) for r in samples})
        sa, sw = value_stats("alpha0", a, f), value_stats("width", w, f)
        entries.append({
            "checkpoint": key[0],
            "step": key[1],
            "alpha0": sa["alpha0"],
            "width": sw["width"],
            "alpha0_ci": sa["alpha0_ci"],
            "width_ci": sw["width_ci"],
            "alpha0_mean": sa["alpha0_mean"],
            "width_mean": sw["width_mean"],
            "alpha0_std": sa["alpha0_std"],
            "width_std": sw["width_std"],
            "alpha0_median": sa["alpha0_median"],
            "width_median": sw["width_median"],
            "emergence": None,
            "emergence_std": None,
            "emergence_ci": None,
            "n_samples": len(samples),
            "n_flagged": int(f.sum()),
            "samples": [{"seed": r["seed"], "alpha0": r["alpha0"], "width": r["width"], "flagged": _flagged(r)}
                        for r in samples],
        })
    emerg = series_emergence(a_maps, w_maps, f_maps)
    for entry, (e, e_std), ci in zip(entries, emerg, series_emergence_ci(a_maps, w_maps, f_maps)):
        entry["emergence"] = e
        entry["emergence_std"] = e_std
        entry["emergence_ci"] = ci
    nulls, (na_maps, nw_maps, nf_maps) = _null_entries(per_ckpt)
    if nulls and nulls[0] is not None:
        contrast = series_emergence_contrast(a_maps, w_maps, na_maps, nw_maps, f_maps, nf_maps)
    else:
        contrast = [(None, None)] * len(entries)
    for entry, null, (value, ci), samples in zip(entries, nulls, contrast, per_ckpt):
        if null is not None:
            entry["null"] = null
            entry["emergence_contrast"] = value
            entry["emergence_contrast_ci"] = ci
            records = [r["record"] for r in samples if isinstance(r.get("record"), dict)]
            entry["contrast"] = contrast_stats(records)
    reference = {"checkpoint": order[0][0], "step": order[0][1]} if order else None
    warnings = []
    if checkpoints and order and tuple(checkpoints[0]) != order[0]:
        first, first_step = checkpoints[0]
        warnings.append(
            f"E(t) is measured from checkpoint {order[0][0]} (step {order[0][1]}), not from the "
            f"first checkpoint of the series {first} (step {first_step}), which has no results"
        )
    return {
        "engine_version": engine_version,
        "mode": mode,
        "config": config,
        "computed": int(computed),
        "skipped": int(skipped),
        "checkpoints": entries,
        "failed": list(failed),
        "reference_checkpoint": reference,
        "warnings": warnings,
    }
