"""The summary of one checkpoint's samples: robust headline (medians of the unflagged samples),
means, spreads, bootstrap intervals, local-slope profiles and real-minus-null contrasts.

:func:`summarise` turns the per-sample records of a mode into the JSON document of
``mfa analyze --json`` (docs/architecture.md, README "JSON contract").
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from mfa_engine.analysis.uncertainty import bootstrap_ci, median_ci, median_ci_columns, median_ci_level

__all__ = ["summarise", "spectrum_stats", "profile_stats", "profile_summary", "contrast_stats", "bytes_total"]


def bytes_total(ckpt: Any) -> int:
    """Size of the checkpoint's weight files (the Hub's sizes for a Hub checkpoint)."""
    total = getattr(ckpt, "bytes_total", None)
    if total is not None:
        return int(total)
    size = 0
    for f in getattr(ckpt, "files", []):
        with contextlib.suppress(OSError):
            size += Path(f.path).stat().st_size
    return size


def _floats(a: Any) -> list[float]:
    return [float(x) for x in np.asarray(a, dtype=np.float64).ravel()]


def _nones(a: Any) -> list[float | None]:
    """Floats with NaN written as None (JSON has no NaN)."""
    return [float(x) if np.isfinite(x) else None for x in np.asarray(a, dtype=np.float64).ravel()]


def _is_flagged(record: dict) -> bool:
    return bool((record.get("diagnostics") or {}).get("flagged"))


def _headline_set(records: list[dict]) -> tuple[list[dict], str]:
    """The samples the headline is taken over: the unflagged ones, or all when all are flagged."""
    kept = [r for r in records if not _is_flagged(r)]
    if kept:
        return kept, "unflagged"
    return list(records), "all (every sample is flagged)"


def _median_ci(v: np.ndarray) -> list[float] | None:
    return list(median_ci(v)) if v.size and np.all(np.isfinite(v)) else None


def _mean_ci(v: np.ndarray) -> list[float] | None:
    return list(bootstrap_ci(v)) if v.size and np.all(np.isfinite(v)) else None


def _table(rows: list[Any], width: int) -> np.ndarray:
    """``[S, width]`` float64 from per-sample lists (None -> NaN); NaN rows for missing lists."""
    out = np.full((len(rows), width), np.nan)
    for i, row in enumerate(rows):
        if row is not None:
            out[i] = [np.nan if x is None else float(x) for x in row]
    return out


def _band(x: np.ndarray) -> dict:
    """``{"median": [K], "ci": [[lo, hi]] * K}`` of ``x`` ``[S, K]`` (None where undefined)."""
    med, lo, hi = median_ci_columns(x)
    return {"median": _nones(med),
            "ci": [None if not (np.isfinite(a) and np.isfinite(b)) else [float(a), float(b)] for a, b in zip(lo, hi)]}


def _profiles(records: list[dict]) -> tuple[np.ndarray, list[dict]] | None:
    """The common u grid and the profiles of the records, or None when a record has none or
    the grids differ."""
    profs = [r.get("profile") for r in records]
    if not records or not all(isinstance(p, dict) and p.get("u") is not None for p in profs):
        return None
    u = np.asarray(profs[0]["u"], dtype=np.float64)
    if not all(len(p["u"]) == u.size and np.allclose(p["u"], u, rtol=0, atol=1e-9) for p in profs):
        return None
    return u, profs


def profile_stats(records: list[dict], n_q: int) -> dict | None:
    """Per-u median and 95% bootstrap interval over samples of the local slopes.

    Args:
        records: Per-sample records with ``profile`` = ``{"u": [U], "ln_mu": [U] | None,
            "ln_z": [Q][U] | None}`` on one u grid.
        n_q: Q, the number of q values.

    Returns:
        ``{"u": [U], "n_samples": S, "ln_mu": {"median", "ci"} | None, "ln_z": [Q] of
        {"median", "ci"} | None}``; None when a record has no profile or the grids differ.
    """
    got = _profiles(records)
    if got is None:
        return None
    u, profs = got
    out: dict[str, Any] = {"u": _floats(u), "n_samples": len(records), "ln_mu": None, "ln_z": None}
    if any(p.get("ln_mu") is not None for p in profs):
        out["ln_mu"] = _band(_table([p.get("ln_mu") for p in profs], u.size))
    if any(p.get("ln_z") is not None for p in profs):
        z = np.full((len(profs), n_q, u.size), np.nan)
        for i, p in enumerate(profs):
            if p.get("ln_z") is not None:
                z[i] = _table(p["ln_z"], u.size)
        out["ln_z"] = [_band(z[:, j, :]) for j in range(n_q)]
    return out


def spectrum_stats(records: list[dict]) -> dict:
    """Mean spectrum and the headline statistics of alpha0 and width.

    ``alpha0``/``width``: the median over the unflagged samples (all samples when every one
    is flagged; ``headline`` says which), ``*_ci`` the distribution-free 95% order-statistic
    interval of that median (:func:`mfa_engine.analysis.uncertainty.median_ci`; its guaranteed
    coverage, below 95% under 6 samples, is ``headline["coverage"]``). ``*_mean``, ``*_std``
    (population), ``*_mean_ci`` and ``*_median`` are over all the samples. The spectrum (``tau``, ``alpha``, ``f_alpha``) is the mean over all samples.
    """
    out: dict[str, Any] = {
        "tau": _floats(np.mean([r["tau"] for r in records], axis=0)),
        "alpha": _floats(np.mean([r["alpha"] for r in records], axis=0)),
        "f_alpha": _floats(np.mean([r["f_alpha"] for r in records], axis=0)),
    }
    kept, over = _headline_set(records)
    for key in ("alpha0", "width"):
        v = np.array([r[key] for r in records], dtype=np.float64)
        k = np.array([r[key] for r in kept], dtype=np.float64)
        out[key] = float(np.median(k))
        out[f"{key}_ci"] = _median_ci(k)
        out[f"{key}_mean"] = float(v.mean())
        out[f"{key}_std"] = float(v.std())
        out[f"{key}_mean_ci"] = _mean_ci(v)
        out[f"{key}_median"] = float(np.median(v))
    out["headline"] = {"statistic": "median", "interval": "95% order-statistic (binomial) interval of the median",
                       "samples": over, "n_samples": len(kept),
                       "coverage": median_ci_level(len(kept)) if kept else None}
    return out


def _paired(records: list[dict]) -> list[tuple[dict, dict]]:
    """(real, null) record pairs of one seed, both unflagged (all pairs when none is)."""
    pairs = [(r, r["null"]) for r in records if isinstance(r.get("null"), dict)]
    clean = [(r, n) for r, n in pairs if not _is_flagged(r) and not _is_flagged(n)]
    return clean or pairs


def contrast_stats(records: list[dict]) -> dict | None:
    """Real minus null, paired per seed: median of the per-seed differences with its 95%
    order-statistic interval (alpha0, width) or its bootstrap interval resampling seeds (the
    ln mu profile).

    Returns:
        ``{"n_pairs", "alpha0": {"median", "ci"}, "width": {...}, "profile": {"u", "ln_mu":
        {"median", "ci"}} | None}``; None without null records.
    """
    pairs = _paired(records)
    if not pairs:
        return None
    out: dict[str, Any] = {"n_pairs": len(pairs)}
    for key in ("alpha0", "width"):
        d = np.array([float(r[key]) - float(n[key]) for r, n in pairs], dtype=np.float64)
        out[key] = {"median": float(np.median(d)), "ci": _median_ci(d)}
    out["profile"] = None
    real = _profiles([r for r, _ in pairs])
    null = _profiles([n for _, n in pairs])
    if real is not None and null is not None and real[0].size == null[0].size and np.allclose(real[0], null[0]):
        u = real[0]
        d = (_table([p.get("ln_mu") for p in real[1]], u.size)
             - _table([p.get("ln_mu") for p in null[1]], u.size))
        out["profile"] = {"u": _floats(u), "ln_mu": _band(d)}
    return out


def profile_summary(records: list[dict], n_q: int) -> dict:
    """The profile parts of a summary: ``profile``, ``null`` (``{"model", "profile"}``) and
    ``contrast``, each present only where the records allow it.

    Args:
        records: Per-sample records of one checkpoint.
        n_q: The number of q values.

    Returns:
        A dict with some of ``profile``, ``null``, ``contrast``.
    """
    out: dict[str, Any] = {}
    kept, _ = _headline_set(records)
    profile = profile_stats(kept, n_q)
    if profile is not None:
        out["profile"] = profile
    nulls = [r["null"] for r in records if isinstance(r.get("null"), dict)]
    if nulls:
        nprof = profile_stats(_headline_set(nulls)[0], n_q)
        out["null"] = {"model": nulls[0].get("model"), **({"profile": nprof} if nprof is not None else {})}
        out["contrast"] = contrast_stats(records)
    return out


def summarise(records: list[dict], q: np.ndarray, **head: Any) -> dict:
    """The headline statistics at top level plus the per-sample records (the JSON contract).

    ``alpha0`` and ``width`` are medians over the unflagged samples with the 95%
    order-statistic interval of the median (``*_ci``); ``flagged`` lists the flagged samples apart.
    The means over all samples stay as ``*_mean`` (with ``*_std``, population standard
    deviations, ddof=0, and ``*_mean_ci``). Records with a ``profile`` give ``profile`` (per-u
    median and interval of the local slopes); records with a ``null`` give ``null`` (the same
    statistics of the null records) and ``contrast`` (real minus null, paired per seed).
    """
    q = np.asarray(q, dtype=np.float64)
    doc = {
        "engine_version": head["engine_version"],
        "checkpoint": head["checkpoint"],
        "model_type": head["model_type"],
        "mode": head["mode"],
        "config": head["config"],
        "q": _floats(q),
        **spectrum_stats(records),
        "n_flagged": sum(1 for r in records if _is_flagged(r)),
        "flagged": [{"seed": r.get("seed"), "alpha0": r["alpha0"], "width": r["width"],
                     "flags": list((r.get("diagnostics") or {}).get("flags") or [])}
                    for r in records if _is_flagged(r)],
    }
    parts = profile_summary(records, q.size)
    if "profile" in parts:
        doc["profile"] = parts["profile"]
    nulls = [r["null"] for r in records if isinstance(r.get("null"), dict)]
    if nulls:
        doc["null"] = {**parts["null"], **spectrum_stats(nulls)}
        doc["contrast"] = parts["contrast"]
    doc.update({
        "samples": records,
        "seconds": round(float(head["seconds"]), 4),
        "bytes_read": int(head.get("bytes_read", 0)),
        "bytes_total": int(head.get("bytes_total", 0)),
    })
    return doc
