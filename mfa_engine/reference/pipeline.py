"""The published reference pipeline over seeds of one checkpoint, and its emergence.

:func:`analyze_reference` runs several seeds (sample filters, means); the mode interface
(``plan`` / ``run``) is :mod:`mfa_engine.modes.reference`. Semantics: docs/reference-mode.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from mfa_engine.analysis.emergence import emergence_curve
from mfa_engine.errors import CheckpointError, ConfigError
from mfa_engine.reference.lists import REFERENCE_THRESHOLD, distance_lists_many
from mfa_engine.reference.sampling import check_model_type, config_of, reference_sample_indices
from mfa_engine.reference.spectrum import check_reference_q, reference_spectrum

__all__ = ["analyze_reference", "reference_emergence"]


def _retained(spec: Mapping[str, Any], mode: int) -> bool:
    """Sample filters of the published ``filter_mode`` (``analysis/multifractal.py``)."""
    alpha, f = spec["alpha"], spec["f_alpha"]
    positive_f = bool(np.any(f > 0))
    not_monotone = bool(np.max(alpha) - alpha[0] > 0.01)
    if mode == 1:
        return not positive_f
    if mode == 2:
        return not not_monotone
    if mode == 3:
        return not (positive_f or not_monotone)
    return True


def analyze_reference(
    ckpt: Any,
    seeds: int | Sequence[int] = 10,
    threshold: float = REFERENCE_THRESHOLD,
    q: Sequence[float] | np.ndarray | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    *,
    n_per_layer: int = 32,
    n_mlp: int | None = None,
    sample_filter: int = 0,
) -> dict[str, Any]:
    """Reference-mode analysis of one GPT-NeoX checkpoint over several seeds.

    Every needed weight block is read once for all seeds (the union of the sampled rows and
    columns), then indexed per seed.

    Args:
        ckpt: Checkpoint object of the ``open_checkpoint`` contract (gpt_neox).
        seeds: Seeds of the samples, or an int n for seeds ``0..n-1`` (the published runs:
            10, i.e. 0..9).
        threshold: Upper bound T of the distance window (published: 150; 200 in
            ``NMFA_emergence_data.py``).
        q: q grid; default the published 61 values.
        progress: Optional callback ``progress(stage, done, total)``.
        n_per_layer: Sampled neurons per node layer k (published: 32, or 64 in
            ``model2network.py``).
        n_mlp: Sampled MLP hidden neurons; default ``2 * n_per_layer``.
        sample_filter: Published ``filter_mode``: 0 keep all samples (default); 1 drop samples
            with any f > 0; 2 drop samples with ``max(alpha) - alpha[0] > 0.01``; 3 both.
            Dropped samples stay in ``per_seed`` (``retained`` False) but not in the means.

    Returns:
        A dict with ``seeds`` (list), ``threshold``, ``q`` [Q], ``per_seed`` (list of
        :func:`reference_spectrum` dicts, each with ``retained``), ``alpha0`` [S], ``width``
        [S] (all seeds), ``n_retained``, and over the retained seeds ``alpha0_mean``,
        ``alpha0_std``, ``width_mean``, ``width_std`` (population std, ddof=0, as the
        published ``np.std``), ``tau_mean`` [Q], ``alpha_mean`` [Q-1], ``f_alpha_mean``
        [Q-1] (NaN when no seed is retained).

    Raises:
        ArchitectureError: Not a gpt_neox checkpoint.
        CheckpointError: Missing tensors or wrong shapes.
        ConfigError: Bad options, or a layer too small for the sample sizes.
        AnalysisError: A seed leaves fewer than 2 centres (names the seed and counts).
    """
    config = config_of(ckpt)
    if config is None:
        raise CheckpointError("reference mode: the checkpoint object has no .config dict")
    check_model_type(config)
    seed_list = _seed_list(seeds)
    if sample_filter not in (0, 1, 2, 3):
        raise ConfigError(f"sample_filter must be 0, 1, 2 or 3, got {sample_filter!r}")
    qv = check_reference_q(q)
    samples = [
        reference_sample_indices(config, s, n_per_layer=n_per_layer, n_mlp=n_mlp)
        for s in seed_list
    ]
    lists = distance_lists_many(ckpt, samples, threshold, progress)
    per_seed = []
    for i, dl in enumerate(lists):
        spec = reference_spectrum(dl, qv)
        spec["retained"] = _retained(spec, sample_filter)
        per_seed.append(spec)
        if progress is not None:
            progress("spectra", i + 1, len(lists))
    return {"seeds": seed_list, "threshold": float(threshold), "q": qv, "per_seed": per_seed,
            **_means(per_seed)}


def _seed_list(seeds: int | Sequence[int]) -> list[int]:
    seed_list = list(range(int(seeds))) if isinstance(seeds, (int, np.integer)) else [int(s) for s in seeds]
    if not seed_list:
        raise ConfigError("analyze_reference: at least one seed is needed")
    bad = [s for s in seed_list if not 0 <= s < 2**32]
    if bad:
        raise ConfigError(f"analyze_reference: seeds must be in [0, 2**32), got {bad}")
    return seed_list


def _means(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """alpha0/width per seed and the means (population std) over the retained seeds."""
    alpha0 = np.array([s["alpha0"] for s in per_seed])
    width = np.array([s["width"] for s in per_seed])
    keep = np.array([s["retained"] for s in per_seed])
    n_ret = int(keep.sum())

    def mean(a: np.ndarray) -> Any:
        if n_ret == 0:
            return float("nan") if a.ndim == 1 else np.full(a.shape[1:], np.nan)
        m = np.mean(a[keep], axis=0)
        return float(m) if a.ndim == 1 else m

    def std(a: np.ndarray) -> float:
        return float(np.std(a[keep])) if n_ret else float("nan")

    return {
        "alpha0": alpha0,
        "width": width,
        "n_retained": n_ret,
        "alpha0_mean": mean(alpha0),
        "alpha0_std": std(alpha0),
        "width_mean": mean(width),
        "width_std": std(width),
        "tau_mean": mean(np.stack([s["tau"] for s in per_seed])),
        "alpha_mean": mean(np.stack([s["alpha"] for s in per_seed])),
        "f_alpha_mean": mean(np.stack([s["f_alpha"] for s in per_seed])),
    }


def reference_emergence(
    alpha0_mean: Sequence[float] | np.ndarray, width_mean: Sequence[float] | np.ndarray
) -> np.ndarray:
    """Degree of emergence over a checkpoint series from per-checkpoint means (E(t)).

    ``E(t) = (w(t) / w(t0)) * ln(alpha0(t0) / alpha0(t))`` (the published
    ``analysis/emergence.py``; computed by :func:`mfa_engine.analysis.emergence.emergence_curve`);
    the first entry is the reference checkpoint t0, so ``E[0] = 0``.

    Args:
        alpha0_mean: float ``[T]``, mean alpha0 per checkpoint, first = t0.
        width_mean: float ``[T]``, mean width per checkpoint.

    Returns:
        float64 ``[T]``.

    Raises:
        ConfigError: Shapes differ, are empty, or alpha0/width values make the ratio undefined
            (alpha0 must be positive, w(t0) nonzero).
    """
    a = np.asarray(alpha0_mean, dtype=np.float64)
    w = np.asarray(width_mean, dtype=np.float64)
    if a.ndim != 1 or a.shape != w.shape or a.shape[0] == 0:
        raise ConfigError(
            f"reference_emergence: alpha0 and width must be 1-D of equal non-zero length, got "
            f"{a.shape} and {w.shape}"
        )
    if not np.all(a > 0) or w[0] == 0 or not np.all(np.isfinite(w)):
        raise ConfigError(
            "reference_emergence: alpha0 means must be positive and finite, width means finite "
            "with a nonzero first value"
        )
    return emergence_curve(a, w)


# --------------------------------------------------------------------------------------------
# Mode interface
