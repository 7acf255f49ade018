"""Centre measures from neighbour counts: the checks and sums every spectrum fit shares.

``counts[i, k] = N_i(r_k)`` (the centre counts itself, inclusive cutoff) over an increasing
radius grid. The measure of centre ``i`` at radius ``r`` is ``mu_i(r) = N_i(r) / N_i(r_max)``
("centre" normalisation, box-growing's default) or ``N_i(r) / n_nodes`` ("global", sandbox's);
centres reaching fewer than ``min_reach`` other nodes within ``r_max`` are dropped. Sums over
centres are log-sum-exp (negative q with tiny measures cannot overflow) and take optional
design weights ``c_i`` (centre sampling stratified by layer).

:func:`centre_measure` is the preamble of :func:`mfa_engine.analysis.spectrum.spectrum_from_counts`,
:func:`~mfa_engine.analysis.spectrum.partition_curves` and
:func:`~mfa_engine.analysis.spectrum.local_slope_profile`: from counts and radii checked by
:func:`check_counts_radii`, the kept centres, ``ln mu`` and the log design weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mfa_engine.errors import AnalysisError, ConfigError, plain

__all__ = [
    "CONVENTIONS",
    "NORMALISATIONS",
    "CentreMeasure",
    "centre_measure",
    "check_convention",
    "check_counts_radii",
    "ln_measure",
    "ln_partition",
    "log_weights",
    "logsumexp_rows",
    "reaching_centres",
    "top_share",
    "weighted_mean_log",
]

CONVENTIONS = ("boxgrowing", "sandbox")
NORMALISATIONS = ("centre", "global")


@dataclass(frozen=True)
class CentreMeasure:
    """The kept centres of a count matrix and their measure.

    Attributes:
        c: float64 ``[C', R]`` counts of the centres that reach ``min_reach`` nodes.
        r: float64 ``[R]`` the checked radii.
        ln_mu: float64 ``[C', R]`` ``ln mu_i(r)``.
        lw: float64 ``[C']`` log design weights of the kept centres, or None (unweighted).
        normalisation: ``"centre"`` or ``"global"`` (the convention's default filled in).
    """

    c: np.ndarray
    r: np.ndarray
    ln_mu: np.ndarray
    lw: np.ndarray | None
    normalisation: str


def centre_measure(
    c: np.ndarray,
    r: np.ndarray,
    *,
    convention: str,
    normalisation: str | None,
    n_nodes: Any,
    min_reach: int,
    weights: Any,
) -> CentreMeasure:
    """Drop centres below ``min_reach`` and compute ``ln mu`` of checked counts.

    Args:
        c, r: float64 ``[C, R]`` counts and ``[R]`` radii as :func:`check_counts_radii`
            returns them (the caller checks them first, so its errors come in its order).
        convention: ``"boxgrowing"`` or ``"sandbox"``.
        normalisation: ``"centre"``, ``"global"`` or None (the convention's default).
        n_nodes: Nodes of the graph (``"global"`` only).
        min_reach: Centres with ``N_i(r_max) - 1 < min_reach`` are dropped.
        weights: float64 ``[C]`` design weights (> 0) or None.

    Returns:
        The :class:`CentreMeasure`.

    Raises:
        ConfigError: Invalid inputs. AnalysisError: Fewer than 2 centres reach ``min_reach``.
    """
    norm = check_convention(convention, normalisation)
    lw = log_weights(weights, c, min_reach)
    kept = reaching_centres(c, r, min_reach)
    return CentreMeasure(kept, r, ln_measure(kept, norm, n_nodes, convention), lw, norm)


def check_counts_radii(counts: Any, radii: Any) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(radii, dtype=np.float64)
    c = np.asarray(counts)
    if c.dtype == bool or not (
        np.issubdtype(c.dtype, np.integer) or np.issubdtype(c.dtype, np.floating)
    ):
        raise ConfigError(f"counts must be an integer array [C, R], got dtype {c.dtype}")
    c = c.astype(np.float64)
    if r.ndim != 1:
        raise ConfigError(f"radii must be 1-D, got shape {r.shape}")
    if r.size < 2:
        raise ConfigError(f"radii need at least 2 values, got {r.size}")
    if c.ndim != 2 or c.shape[1] != r.size:
        raise ConfigError(
            f"counts must have shape [C, {r.size}] to match {r.size} radii, got {c.shape}"
        )
    if c.shape[0] == 0:
        raise ConfigError("counts has no centres (shape [0, R])")
    if not np.all(np.isfinite(r)) or not np.all(r > 0):
        raise ConfigError(f"radii must be finite and > 0, got minimum {float(np.min(r))!r}")
    if not np.all(np.diff(r) > 0):
        j = int(np.argmin(np.diff(r) > 0))
        raise ConfigError(
            f"radii must be strictly increasing, but radii[{j}]={plain(r[j])} >= "
            f"radii[{j + 1}]={plain(r[j + 1])}"
        )
    if not np.all(np.isfinite(c)):
        raise ConfigError("counts contain NaN or inf")
    if np.any(c < 1):
        i, k = (int(v) for v in np.argwhere(c < 1)[0])
        raise ConfigError(
            f"counts must be >= 1 (the centre counts itself), but counts[{i}, {k}]={plain(c[i, k])}"
        )
    dec = np.diff(c, axis=1) < 0
    if np.any(dec):
        i, k = (int(v) for v in np.argwhere(dec)[0])
        raise ConfigError(
            f"counts must be non-decreasing along the radii, but counts[{i}, {k}]={plain(c[i, k])} "
            f"> counts[{i}, {k + 1}]={plain(c[i, k + 1])}"
        )
    return c, r



def logsumexp_rows(a: np.ndarray) -> np.ndarray:
    """``ln sum_i exp(a[i, k])`` over axis 0, stable. ``a``: [C, R] -> [R]."""
    m = a.max(axis=0)
    return m + np.log(np.exp(a - m).sum(axis=0))


def weighted_mean_log(ln_mu: np.ndarray, power: float, lw: np.ndarray | None = None) -> np.ndarray:
    """``sum_i w_i L_i / sum_i w_i`` with ``w_i = c_i mu_i^power``, per radius. [C, R] -> [R].

    ``c_i = exp(lw_i)`` are the centres' design weights (None: all 1).
    """
    if lw is not None:
        a = power * ln_mu + lw[:, None]
        w = np.exp(a - a.max(axis=0))
        return (w * ln_mu).sum(axis=0) / w.sum(axis=0)
    if power == 0.0:
        return ln_mu.mean(axis=0)
    a = power * ln_mu
    w = np.exp(a - a.max(axis=0))
    return (w * ln_mu).sum(axis=0) / w.sum(axis=0)



def check_convention(convention: str, normalisation: str | None) -> str:
    """Validate the convention; return the normalisation (its default if None)."""
    if convention not in CONVENTIONS:
        raise ConfigError(f"convention={convention!r} is not one of {', '.join(CONVENTIONS)}")
    if normalisation is None:
        normalisation = "centre" if convention == "boxgrowing" else "global"
    if normalisation not in NORMALISATIONS:
        raise ConfigError(
            f"normalisation={normalisation!r} is not one of {', '.join(NORMALISATIONS)}"
        )
    return normalisation



def log_weights(weights: Any, c: np.ndarray, min_reach: int) -> np.ndarray | None:
    """``ln`` of the design weights of the centres kept by ``min_reach`` (None: unweighted).

    Raises:
        ConfigError: ``weights`` not ``[C]`` finite and > 0.
    """
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.size != c.shape[0] or not np.all(np.isfinite(w)) or not np.all(w > 0):
        raise ConfigError(f"weights must be {c.shape[0]} finite values > 0 (one per centre), got {w.size}")
    return np.log(w[c[:, -1] - 1 >= min_reach])


def reaching_centres(c: np.ndarray, r: np.ndarray, min_reach: int) -> np.ndarray:
    """Rows of ``c`` [C, R] whose centre reaches at least ``min_reach`` nodes (>= 2 needed)."""
    n_total = c.shape[0]
    keep = c[:, -1] - 1 >= min_reach
    n_keep = int(keep.sum())
    if n_keep < 2:
        raise AnalysisError(
            f"too few centres: {n_total} centres given, {n_keep} remain with at least "
            f"min_reach={min_reach} reachable nodes within r_max={plain(r[-1])}; need at least 2"
        )
    return c[keep]


def ln_partition(qa: np.ndarray, ln_mu: np.ndarray, convention: str, n_keep: int,
                  lw: np.ndarray | None = None) -> np.ndarray:
    """The series whose slopes are tau: ``ln Z_q`` (box-growing) or ``ln <mu^(q-1)>``. [Q, R']

    With design weights ``exp(lw)`` the sums are weighted (``Z_q = sum_i c_i mu_i^q``).
    """
    y = np.empty((qa.size, ln_mu.shape[1]), dtype=np.float64)
    add: Any = 0.0 if lw is None else lw[:, None]
    if convention == "boxgrowing":
        for j, qj in enumerate(qa):
            y[j] = logsumexp_rows(qj * ln_mu + add)
    else:
        ln_c = math.log(n_keep) if lw is None else float(logsumexp_rows(lw[:, None])[0])
        for j, qj in enumerate(qa):
            y[j] = logsumexp_rows((qj - 1.0) * ln_mu + add) - ln_c
    return y



def top_share(power: float, ln_mu: np.ndarray) -> float:
    """Share of ``sum_i mu_i^power`` carried by its largest term (``ln_mu``: [C])."""
    a = power * ln_mu
    return float(1.0 / np.exp(a - a.max()).sum())


def ln_measure(c: np.ndarray, normalisation: str, n_nodes: Any, convention: str) -> np.ndarray:
    """``ln mu_i(r)`` [C, R] for the kept centres' counts ``c``."""
    if normalisation == "centre":
        return np.log(c) - np.log(c[:, -1:])
    if n_nodes is None:
        raise ConfigError(f"normalisation='global' ({convention}) requires n_nodes")
    try:
        n_total_nodes = float(n_nodes)
    except (TypeError, ValueError):
        n_total_nodes = math.nan
    if isinstance(n_nodes, bool) or not n_total_nodes >= float(c.max()):
        raise ConfigError(
            f"n_nodes={n_nodes!r} must be a number >= the largest count {int(c.max())}"
        )
    return np.log(c) - math.log(n_total_nodes)
