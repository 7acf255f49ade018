"""Public entry points: ``analyze_graph`` (any graph) and ``analyze_checkpoint`` (JSON contract)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from mfa_engine.errors import ConfigError
from mfa_engine.options import AnalysisOptions

__all__ = ["analyze_graph", "analyze_checkpoint", "as_options", "make_q_grid", "graph_radius_grid"]

#: Accepted values of ``radius_lower`` (lower end of the default radius grid).
RADIUS_LOWER_CHOICES = ("quantile", "min")

#: Above this many S x N distance entries, the radius grid is estimated from a subset of centres.
_GRID_MAX_ENTRIES = 20_000_000


def make_q_grid(q_min: float = -3.0, q_max: float = 3.0, q_step: float = 0.1) -> np.ndarray:
    """An evenly spaced q grid (see :func:`mfa_engine.analysis.qgrid.q_grid`).

    Raises:
        ConfigError: Bad bounds or fewer than 3 values.
    """
    from mfa_engine.analysis.qgrid import q_grid

    return q_grid(q_min, q_max, q_step)


def _prepared_graph(graph: Any, directed: bool) -> Any:
    """Check a graph argument and prepare it once for every path call of the analysis.

    A layered graph is checked by the path API (NaN, negative distances); a sparse matrix
    must also have finite entries (an explicit inf is an error here, not "no edge").
    """
    from mfa_engine.paths import prepare_graph
    from mfa_engine.paths.inputs import is_layered

    if is_layered(graph):
        return prepare_graph(graph, directed)
    import scipy.sparse as sp

    if not sp.issparse(graph):
        raise ConfigError(
            f"graph must be a SciPy sparse matrix of edge distances or a LayeredGraph, got {type(graph).__name__}"
        )
    if graph.ndim != 2 or graph.shape[0] != graph.shape[1]:
        raise ConfigError(f"graph must be a square matrix, got shape {graph.shape}")
    from mfa_engine.paths.inputs import check_sparse_structure

    check_sparse_structure(graph)  # before SciPy converts it
    g = sp.csr_array(graph)
    data = g.data
    if data.size and (not np.isfinite(data).all() or (data < 0).any()):
        raise ConfigError("graph has NaN, infinite or negative edge distances; distances must be finite and >= 0")
    return prepare_graph(g, directed)


def _check_radii(radii: Any) -> np.ndarray:
    """An explicit radius grid: 1-D, finite, positive, strictly increasing (before counting)."""
    r = np.asarray(radii, dtype=np.float64).ravel()
    if r.size < 2 or not np.all(np.isfinite(r)) or r[0] <= 0 or not np.all(np.diff(r) > 0):
        raise ConfigError(
            f"radii must be at least 2 finite, positive, strictly increasing values, got {r.tolist()[:8]}"
        )
    return r


def graph_radius_grid(
    graph: Any,
    centres: np.ndarray,
    *,
    n_radii: int = 64,
    upper: str = "p99",
    directed: bool = True,
    backend: str = "auto",
    lower: str = "quantile",
    edges: tuple[np.ndarray, float | None] | None = None,
) -> np.ndarray:
    """The default radius grid of a graph (docs/method.md, Box growing).

    ``lower="quantile"`` (default): a data scale times a fixed unit grid, from the 5% quantile
    of the edge distances (weighted edges of a LayeredGraph; never below its structural
    distance) to the 99th percentile of the finite distances from the centres
    (:func:`mfa_engine.analysis.radii.scaled_radius_grid`). ``lower="min"``: the earlier grid,
    log-spaced from the smallest positive distance from the centres.

    Distances are taken from all centres when ``S x N`` is at most 2e7 entries, else from an
    evenly spaced subset of the centres (so memory stays bounded).

    Args:
        graph: CSR matrix, LayeredGraph, or a graph from :func:`mfa_engine.paths.prepare_graph`.
        centres: int64 ``[S]`` centre ids.
        n_radii: Number of radii.
        upper: ``"p99"``, ``"max"`` or ``"rounded"`` (distinct rounded distances).
        directed: Follow edge directions.
        backend: Paths backend.
        lower: ``"quantile"`` or ``"min"`` (ignored for ``upper="rounded"``).
        edges: ``(edge distances, floor)`` for ``lower="quantile"``; default taken from
            ``graph`` (a prepared graph has no structural floor, and a prepared DAG gives its
            path distances instead of its edge distances).

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
    e, floor = _edge_distances(graph) if edges is None else edges
    return scaled_radius_grid(vals if e is None else e, vals, n=n_radii, upper=upper, floor=floor)


def _edge_distances(graph: Any) -> tuple[np.ndarray | None, float | None]:
    """Edge distances for the lower end of the grid (None if unknown) and the floor.

    A NIN gives its weighted edges and its structural distance as the floor; another layered
    graph or a sparse matrix every edge and no floor; a prepared DAG nothing (None).
    """
    weights = getattr(graph, "weight_distances", None)
    if weights is not None:
        w = weights()
        if (np.isfinite(w) & (w > 0)).any():
            return w, getattr(graph, "structural_distance", None)
    blocks = getattr(graph, "blocks", None)
    if blocks is not None:
        parts = [np.asarray(b, dtype=np.float64).ravel() for b in blocks]
        return (np.concatenate(parts) if parts else np.zeros(0)), getattr(graph, "structural_distance", None)
    kind = getattr(graph, "kind", None)
    if kind == "dag":
        return None, None
    m = graph.obj if kind == "csr" else graph
    return np.asarray(m.data, dtype=np.float64), None


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
    """Multifractal spectrum of a graph by box growing around centres (docs/method.md, Box growing).

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
    from mfa_engine.analysis import check_q, spectrum_from_counts
    from mfa_engine.paths import multi_source_counts

    # Every option is checked before any path is computed.
    AnalysisOptions(convention=convention, normalisation=normalisation, n_radii=n_radii,
                    radius_upper=radius_upper, min_reach=min_reach, directed=bool(directed), backend=backend,
                    radius_lower=radius_lower, fit_window=fit_window, fit_range=fit_range,
                    window_min_span=window_min_span)
    qa = check_q(q)
    r = None if radii is None else _check_radii(radii)
    g = _prepared_graph(graph, bool(directed))
    n = g.n_nodes
    if centres is None:
        c = np.arange(n, dtype=np.int64)
    else:
        c = np.asarray(centres, dtype=np.int64).ravel()
        if c.size and (c.min() < 0 or c.max() >= n):
            raise ConfigError(f"centres must be node ids in [0, {n}), got values from {c.min()} to {c.max()}")
    if c.size == 0:
        raise ConfigError("no centres given: centres must name at least one node")
    if r is None:
        r = graph_radius_grid(g, c, n_radii=n_radii, upper=radius_upper, directed=directed, backend=backend,
                              lower=radius_lower, edges=_edge_distances(graph))
    counts = multi_source_counts(g, c, r, directed=directed, backend=backend)
    return spectrum_from_counts(
        counts,
        r,
        q=qa,
        convention=convention,
        normalisation=normalisation,
        n_nodes=n,
        fit_range=fit_range,
        min_reach=min_reach,
        fit_window=fit_window,
        window_min_span=window_min_span,
    )


def analyze_checkpoint(
    path: str | Path | Any,
    options: AnalysisOptions | Mapping[str, Any] | None = None,
    *,
    revision: str | None = None,
    progress: bool = False,
    on_sample: Callable[[dict], None] | None = None,
    **overrides: Any,
) -> dict:
    """Analyse one checkpoint; returns the JSON document of ``mfa analyze --json``.

    The options are validated before the checkpoint is opened. The mode's module does the
    work (:mod:`mfa_engine.modes`): paper mode builds the sampled NIN of each seed
    (``seed, seed+1, ...``), counts the nodes within each radius from every node, and fits
    the spectrum; reference mode reproduces the published NeuroMFA code (GPT-NeoX only;
    docs/reference-mode.md). This function adds the means over samples.

    Args:
        path: Checkpoint directory, HF cache model directory, or file inside one; or an
            already opened checkpoint object of the ``open_checkpoint`` contract (used as is and
            not closed here; ``revision`` is then ignored).
        options: :class:`mfa_engine.options.AnalysisOptions`, or a mapping of option names;
            default all defaults.
        revision: Revision (e.g. ``step1000``) for the HF cache layout.
        progress: Show a progress bar on stderr.
        on_sample: Called with each per-sample record as soon as it is computed.
        **overrides: Options given as keywords (``mode="reference"``, ``samples=3``,
            ``q=[...]``, ...; every field of ``AnalysisOptions``), applied over ``options``.

    A repo id ``Org/Name`` that is neither a local folder nor fully in the local HF cache is
    read from the Hugging Face Hub by byte range (options ``cache_dir`` and ``download``;
    docs/hub.md): the reads of every sample are recorded first and fetched at once.

    Returns:
        ``{"engine_version", "checkpoint", "model_type", "mode", "config", "q", "tau", "alpha",
        "f_alpha", "alpha0", "width", "alpha0_std", "width_std", "alpha0_median",
        "width_median", "alpha0_ci", "width_ci", "n_flagged", "samples": [...], "bytes_read",
        "bytes_total"}`` (``*_ci``: 95% bootstrap intervals over the samples, see
        :mod:`mfa_engine.analysis.uncertainty`), plus ``"null"`` with the same fields when a null
        model is asked for; ``bytes_read`` counts the bytes this call fetched from the Hub (0 for
        local files and cached ranges), ``bytes_total`` the size of the checkpoint's weight
        files. Paper-mode samples carry ``alpha0`` (= tau'(0)), ``alpha0_argmax``, ``width``,
        ``width_hull``, ``structural_distance`` (the value used) and ``diagnostics``
        (``mfa_engine.analysis.diagnostics``; docs/method.md, Spectrum).

    Raises:
        ConfigError: An invalid or unknown option (before anything is read).
    """
    from mfa_engine import __version__
    from mfa_engine.checkpoints import open_checkpoint
    from mfa_engine.modes import get_mode

    opts = as_options(options, **overrides)
    mode = get_mode(opts.mode)
    config = {"mode": opts.mode, "revision": revision, **opts.to_dict()}
    t0 = time.perf_counter()
    given = hasattr(path, "read_block")
    if given:  # an opened checkpoint (e.g. a batch prefetch reader)
        opened: Any = contextlib.nullcontext(path)
    else:
        hub = {k: v for k, v in (("range_cache", opts.cache_dir), ("download", opts.download)) if v}
        opened = open_checkpoint(path, revision=revision, **hub)
    with opened as ckpt:
        # opened here: count the headers too; else only what this call fetches
        read_before = int(getattr(ckpt, "bytes_read", 0) or 0) if given else 0
        _fetch_read_plan(ckpt, opts, progress)
        from mfa_engine.threads import limited

        with limited(opts.threads):
            records, q = mode.run(ckpt, opts.seeds, opts, on_sample, progress=progress)
        head = {"engine_version": __version__, "checkpoint": str(ckpt.path),
                "model_type": ckpt.model_type, "mode": opts.mode, "config": config,
                "bytes_read": int(getattr(ckpt, "bytes_read", 0) or 0) - read_before,
                "bytes_total": _bytes_total(ckpt)}
    return _summarise(records, q, seconds=time.perf_counter() - t0, **head)


def _bytes_total(ckpt: Any) -> int:
    """Size of the checkpoint's weight files (the Hub's sizes for a Hub checkpoint)."""
    total = getattr(ckpt, "bytes_total", None)
    if total is not None:
        return int(total)
    size = 0
    for f in getattr(ckpt, "files", []):
        with contextlib.suppress(OSError):
            size += Path(f.path).stat().st_size
    return size


def _fetch_read_plan(ckpt: Any, opts: AnalysisOptions, progress: bool = False) -> None:
    """For a Hub checkpoint: fetch the byte ranges of every read of the analysis at once.

    The reads are recorded first with the mode's ``plan`` (the sampling needs no weights),
    then fetched in parallel into the range cache; the analysis then reads from the cache.
    """
    from mfa_engine.checkpoints.hub import HubCheckpoint

    if not isinstance(ckpt, HubCheckpoint):  # a proxy (batch prefetch) has fetched already
        return
    if opts.neurons_per_layer == "all":
        raise ConfigError(
            f"neurons_per_layer='all' reads every weight whole, but {ckpt.repo_id} is read from "
            "the Hub by byte range; pass download=True (mfa analyze --download) to download the "
            "whole files first"
        )
    from mfa_engine.batch.prefetch import record_requests
    from mfa_engine.modes import get_mode

    plan = get_mode(opts.mode).plan
    ckpt.progress = None if progress else False  # a byte bar for large fetches on a terminal
    ckpt.fetch(record_requests(ckpt, [lambda rec: plan(rec, opts.seeds, opts)]))


def as_options(options: AnalysisOptions | Mapping[str, Any] | None = None, **overrides: Any) -> AnalysisOptions:
    """An :class:`AnalysisOptions` from a record or mapping plus keyword overrides.

    Raises:
        ConfigError: An unknown option name or an invalid value.
    """
    if isinstance(options, AnalysisOptions):
        return options.replace(**overrides) if overrides else options
    if options is not None and not isinstance(options, Mapping):
        raise ConfigError(f"options must be AnalysisOptions or a mapping, got {type(options).__name__}")
    return AnalysisOptions.from_mapping(options, **overrides)


def _floats(a: Any) -> list[float]:
    return [float(x) for x in np.asarray(a, dtype=np.float64).ravel()]


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
        "bytes_read": int(head.get("bytes_read", 0)),
        "bytes_total": int(head.get("bytes_total", 0)),
    }
    nulls = [r["null"] for r in records if isinstance(r.get("null"), dict)]
    if nulls:
        doc["null"] = {"model": nulls[0].get("model"), **_spectrum_stats(nulls)}
    return doc
