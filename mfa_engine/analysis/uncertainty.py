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

Headline statistics (issue 21): the per-checkpoint value is the **median over the unflagged
samples** (:func:`centre`; all samples when every one is flagged), its interval the
distribution-free order-statistic interval of the median (:func:`median_ci`: exact binomial
coverage of at least 95% for any continuous distribution of per-sample values, heavy tails
included; the interval of a mean, and the percentile bootstrap of a median of 10 values,
undercover). :func:`median_ci_columns` gives the same interval point by point for the profiles
(one resample of seeds for every column); :func:`emergence_ci` takes ``stat="median"`` and the
flags; :func:`emergence_contrast_ci` is the interval of real minus null E(t) with one resample
of seeds applied to real and null, t0 and t together.

Defaults: 2000 resamples (:data:`N_RESAMPLES`), 95% level, a fixed generator seed
(:data:`BOOTSTRAP_SEED`), so the same inputs always give the same intervals. With 2000
resamples the Monte Carlo error of a 2.5% percentile is about 0.35 percentile points.
"""

from __future__ import annotations

import math

import numpy as np

from mfa_engine.analysis.emergence import emergence_curve
from mfa_engine.errors import ConfigError

__all__ = [
    "BOOTSTRAP_SEED",
    "LEVEL",
    "N_RESAMPLES",
    "bootstrap_ci",
    "centre",
    "emergence_ci",
    "emergence_contrast_ci",
    "median_ci",
    "median_ci_level",
    "median_ci_columns",
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


def _order_rank(n: int, level: float) -> int:
    """The largest k >= 1 with P(Bin(n, 1/2) <= k - 1) <= (1 - level) / 2; 0 if none."""
    tail = (1.0 - level) / 2.0
    k, cdf = 0, 0.0
    for j in range(n):  # cdf = P(Bin(n, 1/2) <= j - 1) before adding term j
        if cdf + math.comb(n, j) / 2.0**n > tail + 1e-15:
            break
        cdf += math.comb(n, j) / 2.0**n
        k = j + 1
    return min(k, (n + 1) // 2)


def median_ci_level(n: int, level: float = LEVEL) -> float:
    """The coverage :func:`median_ci` guarantees for ``n`` values (at least ``level`` from n = 6
    at 95%; below that the whole range, ``1 - 2**(1 - n)``)."""
    _check(N_RESAMPLES, level)
    if n < 1:
        raise ConfigError(f"median interval: need at least one value, got {n}")
    k = max(_order_rank(int(n), level), 1)
    return 1.0 - 2.0 * sum(math.comb(n, j) for j in range(k)) / 2.0**n


def median_ci(x: np.ndarray, *, level: float = LEVEL) -> tuple[float, float]:
    """Distribution-free interval of the median of per-sample values (order statistics).

    For ``n`` independent values of a continuous distribution with median m, the order
    statistics ``(x_(k), x_(n-k+1))`` cover m with probability
    ``1 - 2 P(Bin(n, 1/2) <= k - 1)``; k is the largest rank that keeps this at or above
    ``level`` (n = 10 at 95%: k = 2, coverage 97.9%). No resampling, no distributional
    assumption: heavy-tailed values and outliers do not widen it. With too few values for the
    level (n <= 5 at 95%) the interval is the whole range (:func:`median_ci_level` gives its
    coverage).

    Args:
        x: float ``[S]`` one value per sample (finite).
        level: Confidence level.

    Returns:
        ``(lo, hi)``; ``lo == hi`` when all values are equal (or S = 1).

    Raises:
        ConfigError: Empty or non-finite input, or a bad level.
    """
    _check(N_RESAMPLES, level)
    v = np.sort(np.asarray(x, dtype=np.float64).ravel())
    if v.size == 0 or not np.all(np.isfinite(v)):
        raise ConfigError(f"median interval: need finite per-sample values, got {v.size} values")
    k = max(_order_rank(v.size, level), 1)
    return float(v[k - 1]), float(v[v.size - k])


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


def centre(x: np.ndarray, flagged: np.ndarray | None = None, stat: str = "median") -> np.ndarray:
    """Median (or mean) along the last axis over the unflagged entries; all entries where every
    one is flagged.

    Args:
        x: float ``[..., S]`` finite values.
        flagged: bool, broadcastable to ``x``'s shape (True = left out); None = none flagged.
        stat: ``"median"`` or ``"mean"``.

    Returns:
        float64 ``[...]``.

    Raises:
        ConfigError: An unknown statistic.
    """
    if stat not in ("mean", "median"):
        raise ConfigError(f"bootstrap: stat must be 'mean' or 'median', got {stat!r}")
    v = np.asarray(x, dtype=np.float64)
    whole = np.median(v, axis=-1) if stat == "median" else v.mean(axis=-1)
    if flagged is None:
        return whole
    f = np.broadcast_to(np.asarray(flagged, dtype=bool), v.shape)
    if not f.any():
        return whole
    keep = ~f
    n_keep = keep.sum(axis=-1)
    if stat == "mean":
        kept = np.where(keep, v, 0.0).sum(axis=-1) / np.maximum(n_keep, 1)
    else:  # flagged entries sorted to the end as +inf; the median of the first n_keep
        srt = np.sort(np.where(keep, v, np.inf), axis=-1)
        lo_i = np.maximum(n_keep - 1, 0) // 2
        hi_i = np.maximum(n_keep, 1) // 2
        lo_v = np.take_along_axis(srt, lo_i[..., None], axis=-1)[..., 0]
        hi_v = np.take_along_axis(srt, np.minimum(hi_i, v.shape[-1] - 1)[..., None], axis=-1)[..., 0]
        kept = np.where(n_keep % 2 == 1, lo_v, 0.5 * (lo_v + hi_v))
    return np.where(n_keep > 0, kept, whole)


def median_ci_columns(
    x: np.ndarray,
    *,
    n_resamples: int = N_RESAMPLES,
    level: float = LEVEL,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median over samples and its percentile bootstrap interval, column by column.

    Each column uses its finite entries only; the columns whose entries are all finite share
    one resample of the sample indices (a profile's points move together).

    Args:
        x: float ``[S, K]`` (NaN where a sample has no value).
        n_resamples: Number of resamples.
        level: Confidence level.
        seed: Generator seed.

    Returns:
        ``(median, lo, hi)``, float64 ``[K]`` each; NaN where a column has no finite entry.
    """
    _check(n_resamples, level)
    v = np.atleast_2d(np.asarray(x, dtype=np.float64))
    s_count, k_count = v.shape
    med, lo, hi = (np.full(k_count, np.nan) for _ in range(3))
    finite = np.isfinite(v)
    full = finite.all(axis=0)
    if s_count and full.any():
        cols = np.flatnonzero(full)
        med[cols] = np.median(v[:, cols], axis=0)
        idx = resample_indices(s_count, n_resamples, seed)
        stats = np.median(v[:, cols][idx], axis=1)  # [B, K']
        lo[cols], hi[cols] = _percentiles(stats, level)
    for k in np.flatnonzero(~full & finite.any(axis=0)):
        col = v[finite[:, k], k]
        med[k] = np.median(col)
        stats = np.median(col[resample_indices(col.size, n_resamples, seed)], axis=1)
        lo[k], hi[k] = _percentiles(stats, level)
    return med, lo, hi


def _tables(name: str, *arrays: np.ndarray) -> list[np.ndarray]:
    out = [np.atleast_2d(np.asarray(a, dtype=np.float64)) for a in arrays]
    if any(a.shape != out[0].shape for a in out) or out[0].ndim != 2 or out[0].shape[1] < 1:
        raise ConfigError(f"{name}: the tables must share one shape [T, S], got {[a.shape for a in out]}")
    return out


def _flags(flagged: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    if flagged is None:
        return np.zeros(shape, dtype=bool)
    f = np.asarray(flagged, dtype=bool)
    if f.shape != shape:
        raise ConfigError(f"bootstrap: flagged must have the shape {shape} of the values, got {f.shape}")
    return f


def _resampled_emergence(a: np.ndarray, w: np.ndarray, f: np.ndarray, idx: np.ndarray, stat: str) -> np.ndarray:
    """E(t) of each resample: ``idx`` ``[T, B, S]`` seed indices -> float64 ``[B, T]``."""
    rows = np.arange(a.shape[0])[:, None, None]
    a_b = centre(a[rows, idx], f[rows, idx], stat)  # [T, B]
    w_b = centre(w[rows, idx], f[rows, idx], stat)
    return emergence_curve(a_b, w_b).T


def emergence_ci(
    alpha0: np.ndarray,
    width: np.ndarray,
    *,
    paired: bool = True,
    stat: str = "mean",
    flagged: np.ndarray | None = None,
    n_resamples: int = N_RESAMPLES,
    level: float = LEVEL,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap interval of E(t) = (w(t)/w(t0)) ln(alpha0(t0)/alpha0(t)) per checkpoint.

    Each resample draws seed indices with replacement, takes the means (or the medians over
    the unflagged drawn seeds, :func:`centre`) of alpha0 and width over the drawn seeds at every
    checkpoint and recomputes E (DESIGN 2.4 of docs/science.md).

    Args:
        alpha0: ``[T, S]`` per checkpoint (row 0 = t0) and seed; column s must be the same
            seed (the same neurons) at every checkpoint.
        width: ``[T, S]`` spectrum widths, same shape.
        paired: Draw one index resample for all checkpoints (the default and the right
            interval for a tracked series). False draws each checkpoint independently (as if
            the samples at different steps were unrelated; kept for comparison).
        stat: ``"mean"`` or ``"median"`` (the headline statistic).
        flagged: bool ``[T, S]``: samples left out of each checkpoint's statistic (all kept
            where a resample draws only flagged ones); None = none.
        n_resamples: Number of resamples.
        level: Confidence level.
        seed: Generator seed.

    Returns:
        ``(lo, hi)`` float64 ``[T]``; ``lo[0] == hi[0] == 0``. NaN where a resample gives an
        undefined E (an alpha0 <= 0 or a zero width at t0).
    """
    _check(n_resamples, level)
    a, w = _tables("emergence_ci: alpha0 and width", alpha0, width)
    f = _flags(flagged, a.shape)
    t_count, s_count = a.shape
    if paired:
        idx = np.broadcast_to(resample_indices(s_count, n_resamples, seed), (t_count, n_resamples, s_count))
    else:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, s_count, size=(t_count, n_resamples, s_count))
    e_b = _resampled_emergence(a, w, f, idx, stat)  # [B, T]
    lo, hi = _percentiles(e_b, level)
    lo[0] = hi[0] = 0.0
    return lo, hi


def emergence_contrast_ci(
    alpha0: np.ndarray,
    width: np.ndarray,
    null_alpha0: np.ndarray,
    null_width: np.ndarray,
    *,
    stat: str = "median",
    flagged: np.ndarray | None = None,
    null_flagged: np.ndarray | None = None,
    n_resamples: int = N_RESAMPLES,
    level: float = LEVEL,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[np.ndarray, np.ndarray]:
    """Paired bootstrap interval of real minus null E(t).

    One resample of seed indices is applied to the real and the null tables and to every
    checkpoint (seed s is the same neurons, and the same null draws, everywhere); E is
    recomputed for both and differenced.

    Args:
        alpha0: ``[T, S]`` real alpha0 (row 0 = t0), column s = seed s.
        width: ``[T, S]`` real widths.
        null_alpha0: ``[T, S]`` the null's alpha0 of the same seeds.
        null_width: ``[T, S]`` the null's widths.
        stat: ``"median"`` (the headline) or ``"mean"``.
        flagged: bool ``[T, S]`` real samples left out (see :func:`emergence_ci`).
        null_flagged: bool ``[T, S]`` null samples left out.
        n_resamples: Number of resamples.
        level: Confidence level.
        seed: Generator seed.

    Returns:
        ``(lo, hi)`` float64 ``[T]``; 0 at t0; NaN where a resample's E is undefined.
    """
    _check(n_resamples, level)
    a, w, na, nw = _tables("emergence_contrast_ci", alpha0, width, null_alpha0, null_width)
    f, nf = _flags(flagged, a.shape), _flags(null_flagged, a.shape)
    t_count, s_count = a.shape
    idx = np.broadcast_to(resample_indices(s_count, n_resamples, seed), (t_count, n_resamples, s_count))
    d_b = _resampled_emergence(a, w, f, idx, stat) - _resampled_emergence(na, nw, nf, idx, stat)
    lo, hi = _percentiles(d_b, level)
    lo[0] = hi[0] = 0.0
    return lo, hi
