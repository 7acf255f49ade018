"""The summary JSON of a batch run (contract) and the degree of emergence over a series.

::

    {"engine_version", "mode", "config", "computed", "skipped",
     "checkpoints": [{"checkpoint", "step", "alpha0", "width", "alpha0_std", "width_std",
                      "alpha0_median", "width_median", "alpha0_ci", "width_ci",
                      "emergence", "emergence_std", "emergence_ci", "n_samples", "n_flagged",
                      "samples": [{"seed", "alpha0", "width", "flagged"}],
                      "null": {...}}],            # only when the rows carry a null model
     "failed": [{"checkpoint", "step", "error"}],
     "reference_checkpoint": {"checkpoint", "step"} | None, "warnings": [str]}

Checkpoints are ordered by step. Means, medians and spreads are over the samples (population
std). ``emergence`` is E(t) of docs/method.md (Emergence) relative to ``reference_checkpoint``, the first
checkpoint of the list with results (None when undefined: alpha0 <= 0 or a zero width at t0); ``emergence_std`` is the spread of the
per-sample E_s(t) over the seeds present at both t0 and t. ``*_ci`` are 95% percentile bootstrap
intervals ``[lo, hi]`` over the samples (:mod:`mfa_engine.analysis.uncertainty`); the E interval
resamples the seeds present at t0 and t jointly at both (paired: a seed is the same neurons at
every step). ``n_flagged`` counts the samples whose diagnostics flag them (paper mode;
``mfa_engine.analysis.diagnostics``). When the per-sample records hold a ``null`` record
(``null = "shuffle"``), each checkpoint gets ``"null": {"alpha0", "width", "alpha0_median",
"width_median", "alpha0_ci", "width_ci", "emergence", "emergence_ci", "n_samples"}`` computed
the same way from the null records, so the null E stands next to the real one. When the first
checkpoint asked for has no results (it failed), E(t) is measured from the next one and
``warnings`` says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mfa_engine.analysis.emergence import emergence_curve
from mfa_engine.analysis.uncertainty import bootstrap_ci, emergence_ci

__all__ = ["summarise_series", "series_emergence", "series_emergence_ci", "value_stats"]


def _flagged(row: dict[str, Any]) -> bool:
    """True when a stored sample's diagnostics flag it (paper mode; docs/method.md, Spectrum)."""
    return bool(((row.get("record") or {}).get("diagnostics") or {}).get("flagged"))


def series_emergence(
    alpha0: Sequence[dict[int, float]], width: Sequence[dict[int, float]]
) -> list[tuple[float | None, float | None]]:
    """E(t) and its spread for each checkpoint of a series, relative to the first one.

    ``E(t) = (w(t) / w(t0)) * ln(alpha0(t0) / alpha0(t))`` with means over each checkpoint's
    samples; the spread is the population std of ``E_s(t)`` over the seeds s present at t0 and t.

    Args:
        alpha0: Per checkpoint, seed -> alpha0.
        width: Per checkpoint, seed -> width.

    Returns:
        ``[(E, E_std)]`` per checkpoint; ``(0.0, 0.0)`` first; ``(None, None)`` where undefined.
    """
    if not alpha0:
        return []
    a_mean = np.array([np.mean(list(a.values())) for a in alpha0], dtype=np.float64)
    w_mean = np.array([np.mean(list(w.values())) for w in width], dtype=np.float64)
    e_mean = emergence_curve(a_mean, w_mean)
    out: list[tuple[float | None, float | None]] = [(0.0, 0.0)]
    for t in range(1, len(alpha0)):
        if not (a_mean[0] > 0 and a_mean[t] > 0 and w_mean[0] != 0):
            out.append((None, None))
            continue
        common = [s for s in sorted(set(alpha0[0]) & set(alpha0[t]))
                  if alpha0[0][s] > 0 and alpha0[t][s] > 0 and width[0][s] != 0]
        per = [float(emergence_curve([alpha0[0][s], alpha0[t][s]], [width[0][s], width[t][s]])[1])
               for s in common]
        out.append((float(e_mean[t]), float(np.std(per)) if per else None))
    return out


def series_emergence_ci(
    alpha0: Sequence[dict[int, float]], width: Sequence[dict[int, float]]
) -> list[list[float] | None]:
    """Paired 95% bootstrap interval of E(t) for each checkpoint of a series.

    For each checkpoint t the seeds present at both t0 and t are resampled jointly at both
    (:func:`mfa_engine.analysis.uncertainty.emergence_ci`); with the same seeds everywhere the
    resamples are identical across checkpoints.

    Args:
        alpha0: Per checkpoint, seed -> alpha0.
        width: Per checkpoint, seed -> width.

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
        a = np.array([[alpha0[0][s] for s in common], [alpha0[t][s] for s in common]])
        w = np.array([[width[0][s] for s in common], [width[t][s] for s in common]])
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(w))):
            out.append(None)
            continue
        lo, hi = emergence_ci(a, w)
        out.append(None if not (math.isfinite(lo[1]) and math.isfinite(hi[1])) else [float(lo[1]), float(hi[1])])
    return out


def value_stats(name: str, values: np.ndarray) -> dict[str, Any]:
    """Mean, population std, median and 95% bootstrap interval of per-sample values.

    Args:
        name: Field prefix, e.g. ``"alpha0"``.
        values: float ``[S]``.

    Returns:
        ``{name, name_std, name_median, name_ci}`` (``name_ci`` is ``[lo, hi]`` or None when a
        value is not finite).
    """
    v = np.asarray(values, dtype=np.float64)
    finite = bool(v.size) and bool(np.all(np.isfinite(v)))
    return {
        name: float(v.mean()),
        f"{name}_std": float(v.std()),
        f"{name}_median": float(np.median(v)),
        f"{name}_ci": list(bootstrap_ci(v)) if finite else None,
    }


def _null_entries(samples_per_ckpt: list[list[dict[str, Any]]]) -> list[dict[str, Any] | None]:
    """The ``null`` block of each checkpoint from the per-sample null records (None if absent)."""
    a_maps: list[dict[int, float]] = []
    w_maps: list[dict[int, float]] = []
    blocks: list[dict[str, Any] | None] = []
    for samples in samples_per_ckpt:
        nulls = [(r["seed"], r["record"]["null"]) for r in samples
                 if isinstance(r.get("record"), dict) and isinstance(r["record"].get("null"), dict)]
        a_maps.append({s: float(n["alpha0"]) for s, n in nulls})
        w_maps.append({s: float(n["width"]) for s, n in nulls})
        if not nulls:
            blocks.append(None)
            continue
        a = np.array(list(a_maps[-1].values()))
        w = np.array(list(w_maps[-1].values()))
        stats_a, stats_w = value_stats("alpha0", a), value_stats("width", w)
        blocks.append({
            "alpha0": stats_a["alpha0"], "width": stats_w["width"],
            "alpha0_median": stats_a["alpha0_median"], "width_median": stats_w["width_median"],
            "alpha0_ci": stats_a["alpha0_ci"], "width_ci": stats_w["width_ci"],
            "emergence": None, "emergence_ci": None, "n_samples": len(nulls),
        })
    if blocks and blocks[0] is not None:
        es = series_emergence(a_maps, w_maps)
        cis = series_emergence_ci(a_maps, w_maps)
        for block, (e, _), ci in zip(blocks, es, cis):
            if block is not None:
                block["emergence"], block["emergence_ci"] = e, ci
    return blocks


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
    a_maps, w_maps, per_ckpt = [], [], []
    for key in order:
        samples = sorted(by_ckpt[key], key=lambda r: r["seed"])
        per_ckpt.append(samples)
        a = np.array([r["alpha0"] for r in samples], dtype=np.float64)
        w = np.array([r["width"] for r in samples], dtype=np.float64)
        a_maps.append({r["seed"]: r["alpha0"] for r in samples})
        w_maps.append({r["seed"]: r["width"] for r in samples})
        sa, sw = value_stats("alpha0", a), value_stats("width", w)
        entries.append({
            "checkpoint": key[0],
            "step": key[1],
            "alpha0": sa["alpha0"],
            "width": sw["width"],
            "alpha0_std": sa["alpha0_std"],
            "width_std": sw["width_std"],
            "alpha0_median": sa["alpha0_median"],
            "width_median": sw["width_median"],
            "alpha0_ci": sa["alpha0_ci"],
            "width_ci": sw["width_ci"],
            "emergence": None,
            "emergence_std": None,
            "emergence_ci": None,
            "n_samples": len(samples),
            "n_flagged": sum(1 for r in samples if _flagged(r)),
            "samples": [{"seed": r["seed"], "alpha0": r["alpha0"], "width": r["width"], "flagged": _flagged(r)}
                        for r in samples],
        })
    emerg = series_emergence(a_maps, w_maps)
    for entry, (e, e_std), ci in zip(entries, emerg, series_emergence_ci(a_maps, w_maps)):
        entry["emergence"] = e
        entry["emergence_std"] = e_std
        entry["emergence_ci"] = ci
    for entry, null in zip(entries, _null_entries(per_ckpt)):
        if null is not None:
            entry["null"] = null
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
