"""The summary of one checkpoint's samples: means, spreads, medians and bootstrap intervals.

:func:`summarise` turns the per-sample records of a mode into the JSON document of
``mfa analyze --json`` (docs/architecture.md, README "JSON contract").
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from mfa_engine.analysis.uncertainty import bootstrap_ci

__all__ = ["summarise", "spectrum_stats", "bytes_total"]


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


def spectrum_stats(records: list[dict]) -> dict:
    """Mean spectrum, and mean, spread, median and 95% bootstrap interval of alpha0 and width."""
    out: dict[str, Any] = {
        "tau": _floats(np.mean([r["tau"] for r in records], axis=0)),
        "alpha": _floats(np.mean([r["alpha"] for r in records], axis=0)),
        "f_alpha": _floats(np.mean([r["f_alpha"] for r in records], axis=0)),
    }
    for key in ("alpha0", "width"):
        v = np.array([r[key] for r in records], dtype=np.float64)
        out[key] = float(v.mean())
        out[f"{key}_std"] = float(v.std())
        out[f"{key}_median"] = float(np.median(v))
        out[f"{key}_ci"] = list(bootstrap_ci(v)) if np.all(np.isfinite(v)) else None
    return out


def summarise(records: list[dict], q: np.ndarray, **head: Any) -> dict:
    """Means over samples at top level plus the per-sample records (the JSON contract).

    The spreads ``alpha0_std`` and ``width_std`` are population standard deviations (ddof=0);
    ``*_ci`` are 95% bootstrap intervals of the mean over samples.
    """
    doc = {
        "engine_version": head["engine_version"],
        "checkpoint": head["checkpoint"],
        "model_type": head["model_type"],
        "mode": head["mode"],
        "config": head["config"],
        "q": _floats(q),
        **spectrum_stats(records),
        "n_flagged": sum(1 for r in records if (r.get("diagnostics") or {}).get("flagged")),
        "samples": records,
        "seconds": round(float(head["seconds"]), 4),
        "bytes_read": int(head.get("bytes_read", 0)),
        "bytes_total": int(head.get("bytes_total", 0)),
    }
    nulls = [r["null"] for r in records if isinstance(r.get("null"), dict)]
    if nulls:
        doc["null"] = {"model": nulls[0].get("model"), **spectrum_stats(nulls)}
    return doc
