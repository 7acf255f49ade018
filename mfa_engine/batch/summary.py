"""The summary JSON of a batch run (contract) and the degree of emergence over a series.

::

    {"engine_version", "mode", "config", "computed", "skipped",
     "checkpoints": [{"checkpoint", "step", "alpha0", "width", "alpha0_std", "width_std",
                      "emergence", "emergence_std", "n_samples", "n_flagged",
                      "samples": [{"seed", "alpha0", "width"}]}],
     "failed": [{"checkpoint", "step", "error"}]}

Checkpoints are ordered by step. Means and spreads are over the samples (population std).
``emergence`` is E(t) of docs/method.md (Emergence) relative to the first checkpoint of the list (None when
undefined: alpha0 <= 0 or a zero width at t0); ``emergence_std`` is the spread of the per-sample
E_s(t) over the seeds present at both t0 and t. ``n_flagged`` counts the samples whose
diagnostics flag them (paper mode; ``mfa_engine.analysis.diagnostics``).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["summarise_series", "series_emergence"]


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
    from mfa_engine.analysis.emergence import emergence_curve

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
    a_maps, w_maps = [], []
    for key in order:
        samples = sorted(by_ckpt[key], key=lambda r: r["seed"])
        a = np.array([r["alpha0"] for r in samples], dtype=np.float64)
        w = np.array([r["width"] for r in samples], dtype=np.float64)
        a_maps.append({r["seed"]: r["alpha0"] for r in samples})
        w_maps.append({r["seed"]: r["width"] for r in samples})
        entries.append({
            "checkpoint": key[0],
            "step": key[1],
            "alpha0": float(a.mean()),
            "width": float(w.mean()),
            "alpha0_std": float(a.std()),
            "width_std": float(w.std()),
            "emergence": None,
            "emergence_std": None,
            "n_samples": len(samples),
            "n_flagged": sum(1 for r in samples if ((r.get("record") or {}).get("diagnostics") or {}).get("flagged")),
            "samples": [{"seed": r["seed"], "alpha0": r["alpha0"], "width": r["width"]} for r in samples],
        })
    for entry, (e, e_std) in zip(entries, series_emergence(a_maps, w_maps)):
        entry["emergence"] = e
        entry["emergence_std"] = e_std
    return {
        "engine_version": engine_version,
        "mode": mode,
        "config": config,
        "computed": int(computed),
        "skipped": int(skipped),
        "checkpoints": entries,
        "failed": list(failed),
    }
