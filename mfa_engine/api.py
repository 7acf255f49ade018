"""Public entry points: ``analyze_graph`` (any graph) and ``analyze_checkpoint`` (JSON contract)."""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from mfa_engine.errors import ConfigError

__all__ = ["analyze_graph", "analyze_checkpoint", "make_q_grid", "graph_radius_grid"]

#: Accepted values of ``radius_lower`` (lower end of the default radius grid).
RADIUS_LOWER_CHOICES = ("quantile", "min")

#: Above this many S x N distance entries, the radius grid is estimated from a subset of centres.
_GRID_MAX_ENTRIES = 20_000_000


def make_q_grid(q_min: float = -3.0, q_max: float = 3.0, q_step: float = 0.1) -> np.ndarray:
    """An evenly spaced q grid, inclusive of both ends, free of accumulated rounding.

    Args:
        q_min: First value.
        q_max: Last value (included when it lies on the grid).
        q_step: Spacing, > 0.

    Returns:
        float64 ``[Q]``.

    Raises:
        ConfigError: If the step is not positive, the bounds are not finite, or fewer than 3
            values result.
    """
    vals = (q_min, q_max, q_step)
    if not all(math.isfinite(v) for v in vals):
        raise ConfigError(f"q grid bounds must be finite, got q_min={q_min}, q_max={q_max}, q_step={q_step}")
    if q_step <= 0:
        raise ConfigError(f"q step must be > 0, got {q_step}")
    n = int(math.floor((q_max - q_min) / q_step + 1e-9)) + 1
    if n < 3:
        raise ConfigError(
            f"q grid from {q_min} to {q_max} step {q_step} has {max(n, 0)} values; at least 3 are needed"
        )
    return np.round(q_min + q_step * np.arange(n), 12)


def _check_graph(graph: Any) -> tuple[Any, int]:
    """Validate a graph argument; returns it (CSR for sparse input) and its node count."""
    from mfa_engine.nin import LayeredGraph

    if isinstance(graph, LayeredGraph):
        for l, b in enumerate(graph.blocks):
            if np.isnan(b).any() or (b < 0).any():
                raise ConfigError(f"layered graph block {l} has NaN or negative distances")
        return graph, graph.n_nodes
    import scipy.sparse as sp

    if not sp.issparse(graph):
        raise ConfigError(
            f"graph must be a SciPy sparse matrix of edge distances or a LayeredGraph, got {type(graph).__name__}"
        )
    if graph.ndim != 2 or graph.shape[0] != graph.shape[1]:
        raise ConfigError(f"graph must be a square matrix, got shape {graph.shape}")
    g = sp.csr_array(graph)
    data = g.data
    if data.size and (not np.isfinite(data).all() or (data < 0).any()):
        raise ConfigError("graph has NaN, infinite or negative edge distances; distances must be finite and >= 0")
    return g, int(g.shape[0])


def graph_radius_grid(
    graph: Any,
    centres: np.ndarray,
    *,
    n_radii: int = 64,
    upper: str = "p99",
    directed: bool = True,
    backend: str = "auto",
    lower: str = "quantile",
) -> np.ndarray:
    """The default radius grid of a graph (docs/architecture.md).

    ``lower="quantile"`` (default): a data scale times a fixed unit grid, from the 5% quantile
    of the edge distances (weighted edges of a LayeredGraph; never below its structural
    distance) to the 99th percentile of the finite distances from the centres
    (:func:`mfa_engine.analysis.radii.scaled_radius_grid`). ``lower="min"``: the earlier grid,
    log-spaced from the smallest positive distance from the centres.

    Distances are taken from all centres when ``S x N`` is at most 2e7 entries, else from an
    evenly spaced subset of the centres (so memory stays bounded).

    Args:
        graph: CSR matrix or LayeredGraph.
        centres: int64 ``[S]`` centre ids.
        n_radii: Number of radii.
        upper: ``"p99"``, ``"max"`` or ``"rounded"`` (distinct rounded distances).
        directed: Follow edge directions.
        backend: Paths backend.
        lower: ``"quantile"`` or ``"min"`` (ignored for ``upper="rounded"``).

    Returns:
        float64 ``[R]`` strictly increasing radii.
    """
    from mfa_engine.analysis import radius_grid
    from mfa_engine.analysis.radii import scaled_radius_grid
    from mfa_engine.paths import multi_source_distances

    n = graph.shape[0]
    subset = centres
    max_rows = max(1, _GRID_MAX_ENTRIES // max(n, 1))
    if len(centres) > max_rows:
        subset = centres[np.linspace(0, len(centres) - 1, max_rows).astype(np.int64)]
    d = multi_source_distances(graph, subset, directed=directed, backend=backend)
    vals = d[np.isfinite(d) & (d > 0)]
    if vals.size == 0:
        from mfa_engine.errors import AnalysisError

        raise AnalysisError("no finite positive distances from the centres: the graph has no usable edges")
    if lower not in RADIUS_LOWER_CHOICES:
        raise ConfigError(f"radius_lower must be one of {', '.join(RADIUS_LOWER_CHOICES)}, got {lower!r}")
    if lower == "min" or upper == "rounded":
        return radius_grid(vals.astype(np.float64), n=n_radii, upper=upper)
    edges, floor = _edge_distances(graph)
    return scaled_radius_grid(edges, vals, n=n_radii, upper=upper, floor=floor)


def _edge_distances(graph: Any) -> tuple[np.ndarray, float | None]:
    """float64 edge distances for the lower end of the grid, and the floor (structural distance)."""
    from mfa_engine.nin import LayeredGraph

    if isinstance(graph, LayeredGraph):
        w = graph.weight_distances()
        if not (np.isfinite(w) & (w > 0)).any():  # only structural edges
            w = np.concatenate([b[np.isfinite(b)] for b in graph.blocks])
        return w, graph.structural_distance
    return np.asarray(graph.data, dtype=np.float64), None


def analyze_graph(
    graph: Any,
    *,
    convention: str = "boxgrowing",
    q: Sequence[float] | np.ndarray | None = None,
    radii: Sequence[float] | np.ndarray | None = None,
    centres: Sequence[int] | np.ndarray | None = None,
    directed: bool = True,
    fit_range: tuple[float, float] | None = None,
    min_reach: int = 10,
    normalisation: str | None = None,
    n_radii: int = 64,
    radius_upper: str = "p99",
    backend: str = "auto",
    radius_lower: str = "quantile",
    fit_window: str = "full",
    window_min_span: float = 1.0,
) -> Any:
    """Multifractal spectrum of a graph by box growing around centres (DESIGN 2.3).

    Args:
        graph: SciPy sparse ``[N, N]`` whose explicit entries are edge distances ``i -> j``,
            or a ``mfa_engine.nin.LayeredGraph``.
        convention: ``"boxgrowing"`` (NeuroMFA, tau from ln sum mu^q) or ``"sandbox"`` (Liu, Yu
            and Anh 2015, with D(q)).
        q: The q grid (default -3..3 step 0.1).
        radii: Explicit radius grid (default: ``graph_radius_grid``, 64 radii from a low
            quantile of the edge distances to the 99th percentile of the finite distances).
        centres: Node ids of the centres (default all nodes).
        directed: Follow edge directions (False: treat edges as undirected).
        fit_range: Optional ``(r_lo, r_hi)`` restricting the fits (overrides ``fit_window``).
        min_reach: Centres reaching fewer nodes within the largest radius are dropped.
        normalisation: ``"centre"`` (N_i(r)/N_i(r_max), the box-growing default) or
            ``"global"`` (N_i(r)/N; always used by the sandbox convention).
        n_radii: Size of the default radius grid.
        radius_upper: Upper end of the default grid: ``"p99"``, ``"max"`` or ``"rounded"``.
        backend: Paths backend (``"auto"``, ``"cpu"``, ``"torch"``, ``"triton"``, ``"cupy"``).
        radius_lower: Lower end of the default grid: ``"quantile"`` (robust, scale-exact) or
            ``"min"`` (the earlier grid from the smallest distance).
        fit_window: ``"full"`` (every radius; default for a general graph) or ``"auto"`` (the
            most stable window of the data, ``mfa_engine.analysis.window``; the default of
            ``analyze_checkpoint``'s paper mode).
        window_min_span: Smallest span in ``ln r`` of an automatic window.

    Returns:
        A ``mfa_engine.analysis.Spectrum`` (with ``diagnostics``).

    Raises:
        ConfigError: Invalid graph, q grid, radii or centres.
        AnalysisError: Too few centres reach ``min_reach`` nodes.
    """
    from mfa_engine.analysis import spectrum_from_counts
    from mfa_engine.paths import multi_source_counts

    if convention not in ("boxgrowing", "sandbox"):
        raise ConfigError(f"convention must be 'boxgrowing' or 'sandbox', got {convention!r}")
    g, n = _check_graph(graph)
    if centres is None:
        c = np.arange(n, dtype=np.int64)
    else:
        c = np.asarray(centres, dtype=np.int64).ravel()
        if c.size and (c.min() < 0 or c.max() >= n):
            raise ConfigError(f"centres must be node ids in [0, {n}), got values from {c.min()} to {c.max()}")
    if c.size == 0:
        raise ConfigError("no centres given: centres must name at least one node")
    if radii is None:
        r = graph_radius_grid(g, c, n_radii=n_radii, upper=radius_upper, directed=directed,
                              backend=backend, lower=radius_lower)
    else:
        r = np.asarray(radii, dtype=np.float64).ravel()
    if normalisation is None:
        normalisation = "global" if convention == "sandbox" else "centre"
    counts = multi_source_counts(g, c, r, directed=directed, backend=backend)
    return spectrum_from_counts(
        counts,
        r,
        q=None if q is None else np.asarray(q, dtype=np.float64),
        convention=convention,
        normalisation=normalisation,
        n_nodes=n,
        fit_range=fit_range,
        min_reach=min_reach,
        fit_window=fit_window,
        window_min_span=window_min_span,
    )


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, unit="sample")


def analyze_checkpoint(
    path: str | Path | Any,
    *,
    revision: str | None = None,
    mode: str = "paper",
    neurons_per_layer: int | str = 32,
    samples: int = 10,
    seed: int = 0,
    q: Sequence[float] | np.ndarray | None = None,
    threshold: float = 150.0,
    n_radii: int = 64,
    radius_upper: str = "p99",
    convention: str = "boxgrowing",
    normalisation: str | None = None,
    min_reach: int = 10,
    directed: bool = True,
    eps: float = 0.0,
    structural_distance: float = 1.0,
    backend: str = "auto",
    null: str | None = None,
    progress: bool = False,
    on_sample: Callable[[dict], None] | None = None,
    structural_scale: str = "median",
    radius_lower: str = "quantile",
    fit_window: str = "auto",
    fit_range: tuple[float, float] | None = None,
    window_min_span: float = 1.0,
) -> dict:
    """Analyse one checkpoint; returns the JSON document of ``mfa analyze --json``.

    Paper mode builds the sampled NIN of each seed (``seed, seed+1, ...``), computes
    distance-bounded multi-source counts from every node, and fits the spectrum. Reference mode
    reproduces the published NeuroMFA code (GPT-NeoX only; see ``mfa_engine.reference``).

    Args:
        path: Checkpoint directory, HF cache model directory, or file inside one; or an
            already opened checkpoint object of the ``open_checkpoint`` contract (used as is and
            not closed here; ``revision`` is then ignored).
        revision: Revision (e.g. ``step1000``) for the HF cache layout.
        mode: ``"paper"`` or ``"reference"``.
        neurons_per_layer: Sample size per node layer (paper mode), or ``"all"``.
        samples: Number of samples (seeds).
        seed: First seed.
        q: q grid (default -3..3 step 0.1).
        threshold: Reference mode's distance window upper end T.
        n_radii, radius_upper, convention, normalisation, min_reach, directed: see
            ``analyze_graph``.
        eps: Weights with ``|w| <= eps`` make no edge (paper mode).
        structural_distance: Distance of the structural QKV -> context edges (paper mode: a
            factor of the sample's median weight distance, see ``structural_scale``).
        backend: Paths backend.
        null: ``"shuffle"``: also analyse each sample with every weight matrix permuted at
            random (same values, no structure; :mod:`mfa_engine.null_model`); each sample
            record then holds a ``"null"`` record and the document a ``"null"`` summary.
        progress: Show a progress bar on stderr.
        on_sample: Called with each per-sample record as soon as it is computed.
        structural_scale: Paper mode: ``"median"`` (default; scale-invariant) or
            ``"absolute"`` (``structural_distance`` is the distance itself).
        radius_lower, fit_window, window_min_span: Paper mode, see ``analyze_graph``
            (defaults here: the robust grid and the automatic window).
        fit_range: Paper mode: ``(r_lo, r_hi)`` fit only on these radii (overrides the
            automatic window).

    Returns:
        ``{"engine_version", "checkpoint", "model_type", "mode", "config", "q", "tau", "alpha",
        "f_alpha", "alpha0", "width", "alpha0_std", "width_std", "alpha0_median",
        "width_median", "alpha0_ci", "width_ci", "n_flagged", "samples": [...]}`` (``*_ci``: 95%
        bootstrap intervals over the samples, see :mod:`mfa_engine.analysis.uncertainty`), plus
        ``"null"`` with the same fields when a null model is asked for.
        Paper-mode samples carry ``alpha0`` (= tau'(0)), ``alpha0_argmax``, ``width``,
        ``width_hull``, ``structural_distance`` (the value used) and ``diagnostics``
        (``mfa_engine.analysis.diagnostics``).
    """
    from mfa_engine import __version__
    from mfa_engine.arch import get_adapter
    from mfa_engine.checkpoints import open_checkpoint
    from mfa_engine.null_model import check_null

    if mode not in ("paper", "reference"):
        raise ConfigError(f"mode must be 'paper' or 'reference', got {mode!r}")
    null = check_null(null)
    if int(samples) < 1:
        raise ConfigError(f"samples must be >= 1, got {samples}")
    seeds = [int(seed) + s for s in range(int(samples))]
    q_arr = None if q is None else np.asarray(q, dtype=np.float64)
    if q_arr is not None and (q_arr.ndim != 1 or q_arr.size < 3):
        raise ConfigError(f"q grid needs at least 3 values, got {q_arr.size}")
    config: dict[str, Any] = {
        "mode": mode,
        "revision": revision,
        "neurons_per_layer": neurons_per_layer,
        "samples": int(samples),
        "seed": int(seed),
        "q": None if q_arr is None else q_arr.tolist(),
        "threshold": float(threshold),
        "n_radii": int(n_radii),
        "radius_upper": radius_upper,
        "convention": convention,
        "normalisation": normalisation,
        "min_reach": int(min_reach),
        "directed": bool(directed),
        "eps": float(eps),
        "structural_distance": float(structural_distance),
        "backend": backend,
        "structural_scale": structural_scale,
        "radius_lower": radius_lower,
        "fit_window": fit_window,
        "fit_range": None if fit_range is None else [float(v) for v in fit_range],
        "window_min_span": float(window_min_span),
        "null": null,
    }
    t0 = time.perf_counter()
    if hasattr(path, "read_block"):  # an opened checkpoint (e.g. a batch prefetch reader)
        opened: Any = contextlib.nullcontext(path)
    else:
        opened = open_checkpoint(path, revision=revision)
    with opened as ckpt:
        model_type = ckpt.model_type
        if mode == "reference":
            records, q_out = _reference_records(
                ckpt, seeds, threshold, q_arr, neurons_per_layer, progress, on_sample, null
            )
        else:
            adapter = get_adapter(ckpt.config)
            adapter.validate(ckpt)
            graph_kw = dict(eps=eps, structural_distance=structural_distance,
                            structural_scale=structural_scale)
            spec_kw = dict(convention=convention, q=q_arr, directed=directed, min_reach=min_reach,
                           normalisation=normalisation, n_radii=n_radii, radius_upper=radius_upper,
                           backend=backend, radius_lower=radius_lower, fit_window=fit_window,
                           fit_range=fit_range, window_min_span=window_min_span)
            records = []
            bar = _progress(len(seeds), "samples", progress)
            try:
                for s in seeds:
                    rec, q_out = _paper_record(ckpt, adapter, s, neurons_per_layer, graph_kw, spec_kw)
                    if null is not None:
                        from mfa_engine.null_model import ShuffledCheckpoint

                        rec["null"], _ = _paper_record(ShuffledCheckpoint(ckpt, s), adapter, s,
                                                       neurons_per_layer, graph_kw, spec_kw)
                        rec["null"]["model"] = null
                    records.append(rec)
                    if on_sample is not None:
                        on_sample(rec)
                    bar.update(1)
            finally:
                bar.close()
        ckpt_path = str(ckpt.path)
    return _summarise(
        records,
        q_out,
        engine_version=__version__,
        checkpoint=ckpt_path,
        model_type=model_type,
        mode=mode,
        config=config,
        seconds=time.perf_counter() - t0,
    )


def _paper_record(
    ckpt: Any, adapter: Any, seed: int, neurons_per_layer: int | str, graph_kw: dict, spec_kw: dict
) -> tuple[dict, np.ndarray]:
    """One paper-mode sample: build the sampled NIN, analyse it, return (record, q grid)."""
    from mfa_engine.nin import build_nin

    g = build_nin(ckpt, adapter, neurons_per_layer=neurons_per_layer, seed=seed, **graph_kw)
    spec = analyze_graph(g, **spec_kw)
    rec = {
        "seed": seed,
        "tau": _floats(spec.tau),
        "alpha": _floats(spec.alpha),
        "f_alpha": _floats(spec.f_alpha),
        "alpha0": float(spec.alpha0),
        "alpha0_argmax": float(spec.alpha0_argmax),
        "width": float(spec.width),
        "width_hull": float(spec.width_hull),
        "n_centres": int(spec.n_centres),
        "r2_min": float(np.nanmin(spec.r2)),
        "n_nodes": int(g.n_nodes),
        "n_edges": int(g.n_edges),
        "structural_distance": g.structural_distance,
        "diagnostics": spec.diagnostics,
    }
    if spec.dims is not None:
        rec["dims"] = _floats(spec.dims)
    return rec, np.asarray(spec.q, dtype=np.float64)


def _floats(a: Any) -> list[float]:
    return [float(x) for x in np.asarray(a, dtype=np.float64).ravel()]


def _reference_records(
    ckpt: Any,
    seeds: list[int],
    threshold: float,
    q: np.ndarray | None,
    neurons_per_layer: int | str,
    progress: bool,
    on_sample: Callable[[dict], None] | None,
    null: str | None = None,
) -> tuple[list[dict], np.ndarray]:
    """Per-seed records in reference mode (one read of each weight block serves all seeds).

    With a null model each seed is also analysed on its own shuffled checkpoint (the null
    permutation is drawn per seed, so seeds cannot share reads there).
    """
    from mfa_engine.reference import analyze_reference

    if isinstance(neurons_per_layer, str):
        raise ConfigError(
            "reference mode samples a fixed number of neurons per layer (published: 32 or 64); "
            f"neurons_per_layer={neurons_per_layer!r} is not supported there"
        )
    bar = None
    callback = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc="reference: blocks", leave=False, unit="block")

        def callback(stage: str, done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.set_description(f"reference: {stage}")
            bar.refresh()

    try:
        res = analyze_reference(ckpt, seeds, threshold=threshold, q=q, progress=callback,
                                n_per_layer=int(neurons_per_layer))
    finally:
        if bar is not None:
            bar.close()
    records = []
    for s in res["per_seed"]:
        rec = _reference_record(s)
        if null is not None:
            from mfa_engine.null_model import ShuffledCheckpoint

            shuffled = ShuffledCheckpoint(ckpt, int(s["seed"]))
            res0 = analyze_reference(shuffled, [int(s["seed"])], threshold=threshold, q=q,
                                     n_per_layer=int(neurons_per_layer))
            rec["null"] = _reference_record(res0["per_seed"][0])
            rec["null"]["model"] = null
        records.append(rec)
        if on_sample is not None:
            on_sample(rec)
    return records, np.asarray(res["q"], dtype=np.float64)


def _reference_record(s: dict) -> dict:
    """The per-sample record of one seed of ``analyze_reference``."""
    return {
        "seed": int(s["seed"]),
        "tau": _floats(s["tau"]),
        "alpha": _floats(s["alpha"]),
        "f_alpha": _floats(s["f_alpha"]),
        "alpha0": float(s["alpha0"]),
        "width": float(s["width"]),
        "n_centres": int(s["n_centres"]),
        "r2_min": float(np.nanmin(np.asarray(s["r2"], dtype=np.float64))),
        "n_radii": int(len(s["radii"])),
    }


def _spectrum_stats(records: list[dict]) -> dict:
    """Mean spectrum, and mean, spread, median and 95% bootstrap interval of alpha0 and width."""
    from mfa_engine.analysis.uncertainty import bootstrap_ci

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


def _summarise(records: list[dict], q: np.ndarray, **head: Any) -> dict:
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
        **_spectrum_stats(records),
        "n_flagged": sum(1 for r in records if (r.get("diagnostics") or {}).get("flagged")),
        "samples": records,
        "seconds": round(float(head["seconds"]), 4),
    }
    nulls = [r["null"] for r in records if isinstance(r.get("null"), dict)]
    if nulls:
        doc["null"] = {"model": nulls[0].get("model"), **_spectrum_stats(nulls)}
    return doc
