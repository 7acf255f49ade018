"""Bootstrap confidence intervals over samples (SciPy's bootstrap; see docs/science.md).

The samples (seeds) of an analysis are independent draws of neurons, so the uncertainty of a
mean over samples is estimated by resampling the seeds with replacement (percentile bootstrap).
For the degree of emergence E(t) the resampling is **paired across checkpoints**: sample s holds
the same neurons at every checkpoint, so one resample of seed indices is applied to every
checkpoint at once and E is recomputed from the resampled means. Per-seed effects shared by all
checkpoints (one sample's neurons are simply "heavier" than another's) then cancel in the ratio
instead of inflating the interval.

:func:`bootstrap_ci` is :func:`scipy.stats.bootstrap` (percentile method, the generator seeded
with :data:`BOOTSTRAP_SEED`); the percentiles of its bootstrap distribution are taken here with
``numpy.quantile``, as :func:`emergence_ci` takes them, so both kinds of interval are cut alike.
:func:`emergence_ci` keeps its own paired resampling: E(t) needs one draw of seed indices for
every checkpoint of a ``[T, S]`` table.

Defaults: 2000 resamples (:data:`N_RESAMPLES`), 95% level, a fixed generator seed
(:data:`BOOTSTRAP_SEED`), so the same inputs always give the same intervals. With 2000
resamples the Monte Carlo error of a 2.5% percentile is about 0.35 percentile points.
"""

from __future__ import annotations

import numpy as np

from mfa_engine.analysis.emergence import emergence_curve
from mfa_engine.errors import ConfigError

__all__ = [
    "BOOTSTRAP_SEED",
    "LEVEL",
    "N_RESAMPLES",
    "bootstrap_ci",
    "emergence_ci",
    "resample_indices",
]

#: Bootstrap resamples per interval.
N_RESAMPLES = 2000
#: Confidence level of the intervals.
LEVEL = 0.95
#: Seed of the resampling generator (fixed: intervals are reproducible).
BOOTSTRAP_SEED = 20_251_202


def _check(n_resamples: int, level: float) -> None:
    if int(n_resamples) < 1:
        raise ConfigError(f"bootstrap: n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < float(level) < 1.0:
        raise ConfigError(f"bootstrap: level must lie in (0, 1), got {level}")


def resample_indices(n: int, n_resamples: int = N_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """Bootstrap resamples of ``n`` sample indices (with replacement).

    Args:
        n: Number of samples, >= 1.
        n_resamples: Number of resamples B.
        seed: Generator seed.

    Returns:
        int64 ``[B, n]``, entries in ``[0, n)``.
    """
    if int(n) < 1:
        raise ConfigError(f"bootstrap: need at least one sample, got {n}")
    return np.random.default_rng(seed).integers(0, int(n), size=(int(n_resamples), int(n)))


def _percentiles(stats: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval along axis 0; NaN where any resample is not finite."""
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(stats, [tail, 1.0 - tail], axis=0)
    bad = ~np.all(np.isfinite(stats), axis=0)
    return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)


def bootstrap_ci(
    x: np.ndarray,
    *,
    stat: str = "mean",
    n_resamples: int = N_RESAMPLES,
    level: float = LEVEL,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (or median) of per-sample values.

    Args:
        x: float ``[S]`` one value per sample (finite).
        stat: ``"mean"`` or ``"median"``.
        n_resamples: Number of resamples.
        level: Confidence level.
        seed: Generator seed.

    Returns:
        ``(lo, hi)``; ``lo == hi`` when all values are equal (or S = 1).

    Raises:
        ConfigError: Empty or non-finite input, unknown statistic, bad level or count.
    """
    _check(n_resamples, level)
    v = np.asarray(x, dtype=np.float64).ravel()
    if v.size == 0 or not np.all(np.isfinite(v)):
        raise ConfigError(f"bootstrap: need finite per-sample values, got {v.size} values")
    if stat not in ("mean", "median"):
        raise ConfigError(f"bootstrap: stat must be 'mean' or 'median', got {stat!r}")
    if v.size == 1:  # every resample is the one value (SciPy needs two observations)
        return float(v[0]), float(v[0])
    from scipy import stats  # SciPy's bootstrap: imported when an interval is asked for

    res = stats.bootstrap((v,), np.mean if stat == "mean" else np.median, n_resamples=int(n_resamples),
                          confidence_level=float(level), method="percentile", vectorized=True, axis=-1,
                          rng=np.random.default_rng(seed))
    lo, hi = _percentiles(res.bootstrap_distribution, level)
    return float(lo), float(hi)


def emergence_ci(
    alpha0: np.ndarray,
    width: np.ndarray,
    *,
    paired: bool = True,
    n_resamples: int = N_RESAMPLES,
    level: float = LEVEL,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap interval of E(t) = (w(t)/w(t0)) ln(alpha0(t0)/alpha0(t)) per checkpoint.

    Each resample draws seed indices with replacement, takes the means of alpha0 and width
    over the drawn seeds at every checkpoint and recomputes E (DESIGN 2.4 of docs/science.md).

    Args:
        alpha0: ``[T, S]`` per checkpoint (row 0 = t0) and seed; column s must be the same
            seed (the same neurons) at every checkpoint.
        width: ``[T, S]`` spectrum widths, same shape.
        paired: Draw one index resample for all checkpoints (the default and the right
            interval for a tracked series). False draws each checkpoint independently (as if
            the samples at different steps were unrelated; kept for comparison).
        n_resamples: Number of resamples.
        level: Confidence level.
        seed: Generator seed.

    Returns:
        ``(lo, hi)`` float64 ``[T]``; ``lo[0] == hi[0] == 0``. NaN where a resample gives an
        undefined E (a mean alpha0 <= 0 or a zero mean width at t0).
    """
    _check(n_resamples, level)
    a = np.atleast_2d(np.asarray(alpha0, dtype=np.float64))
    w = np.atleast_2d(np.asarray(width, dtype=np.float64))
    if a.shape != w.shape or a.ndim != 2 or a.shape[1] < 1:
        raise ConfigError(
            f"emergence_ci: alpha0 and width must have one shape [T, S], got {a.shape} and {w.shape}"
        )
    t_count, s_count = a.shape
    if paired:
        idx = np.broadcast_to(resample_indices(s_count, n_resamples, seed), (t_count, n_resamples, s_count))
    else:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, s_count, size=(t_count, n_resamples, s_count))
    rows = np.arange(t_count)[:, None, None]
    a_b = a[rows, idx].mean(axis=2).T  # [B, T]
    w_b = w[rows, idx].mean(axis=2).T
    e_b = emergence_curve(a_b.T, w_b.T).T  # [B, T]
    lo, hi = _percentiles(e_b, level)
    lo[0] = hi[0] = 0.0
    return lo, hi
