"""Paper mode: exact multi-hop distances, from sampled centres of the full network or on a sampled NIN.

Centre sampling (``sampling="centres"``, the default): the full NIN of the checkpoint is built
once (:func:`mfa_engine.nin.build_nin` with every neuron), or, above ``MFA_NETWORK_MEMORY``,
streamed from the checkpoint level by level (:mod:`mfa_engine.modes.paper_stream`: the same
records, from one stream for every seed's centres); each seed draws its centres,
stratified in proportion to the node layers' sizes (:func:`draw_centres`); the nodes within
each radius of the fixed grid in ``u = ln(r / r_unit)`` are counted over all nodes, and the
spectrum is fitted over the model family's pre-registered window
(:mod:`mfa_engine.analysis.windows`). Neuron sampling (``sampling="neurons"``): per seed, the
sampled NIN, every node a centre (the paper's quantity; it does not estimate the full
network). The method is in docs/method.md; the mode interface in :mod:`mfa_engine.modes`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mfa_engine.analysis.radii import U_GRID, fixed_radius_grid, r_unit_of
from mfa_engine.analysis.spectrum import local_slope_profile, partition_curves, spectrum_from_counts
from mfa_engine.analysis.windows import resolve_window
from mfa_engine.arch import get_adapter
from mfa_engine.checkpoints.nulls import null_checkpoint
from mfa_engine.errors import ConfigError
from mfa_engine.graph_spectrum import graph_counts
from mfa_engine.limits import network_mode
from mfa_engine.modes import paper_stream
from mfa_engine.nin import build_nin, nin_level_sizes
from mfa_engine.paths import prepare_graph
from mfa_engine.progress import progress_bar

__all__ = ["plan", "run", "sample_record", "sample_fit", "centres_per_layer", "centre_strata", "draw_centres", "design_weights",
           "resolved_config", "CENTRE_TAG"]

#: First entry of the centre generator's seed sequence (``default_rng([CENTRE_TAG, seed])``), so
#: that centre draws never coincide with the neuron draws of the same seed.
CENTRE_TAG = 0x63656E74


def _nin(ckpt: Any, adapter: Any, seed: int, options: Any, structural_scale: str | None = None) -> Any:
    """The network a sample is measured on: the sampled NIN (neurons) or the full NIN (centres)."""
    npl = "all" if options.sampling == "centres" else options.neurons_per_layer
    return build_nin(ckpt, adapter, neurons_per_layer=npl, seed=seed,
                     eps=options.eps, structural_distance=options.structural_distance,
                     structural_scale=structural_scale or options.structural_scale)


def _adapter(ckpt: Any) -> Any:
    adapter = get_adapter(ckpt.config)
    adapter.validate(ckpt)
    return adapter


def centres_per_layer(sizes: Sequence[int], n: int | str) -> list[int]:
    """How many centres each node layer gets: proportional to its size, largest remainder.

    Layer l's quota is ``n * sizes[l] / sum(sizes)``; every layer gets its floor, and the
    centres left go one each to the layers with the largest fractional parts (ties: the
    earlier layer). ``n >= sum(sizes)`` or ``"all"`` takes every node.

    Args:
        sizes: Node-layer sizes ``[L]``.
        n: Centres in all, an integer >= 1, or ``"all"``.

    Returns:
        ``[L]`` counts summing to ``min(n, sum(sizes))``, each at most its layer's size.
    """
    sz = np.asarray(sizes, dtype=np.int64)
    total = int(sz.sum())
    if n == "all" or int(n) >= total:
        return [int(v) for v in sz]
    n = int(n)
    num = n * sz  # exact integer quotas: floor = num // total, remainder = num % total
    base = num // total
    rem = num % total
    left = n - int(base.sum())
    order = np.lexsort((np.arange(sz.size), -rem))  # largest remainder first, then layer order
    base[order[:left]] += 1
    return [int(v) for v in base]


def draw_centres(sizes: Sequence[int], n: int | str, seed: int) -> tuple[np.ndarray, list[int]]:
    """The centres of one sample: stratified (node layers, or :func:`centre_strata`), uniform within each stratum.

    The draw depends only on the layer sizes, ``n`` and ``seed`` (generator
    ``numpy.random.default_rng([CENTRE_TAG, seed])``, layers in order), so the same seed picks the
    same centres at every checkpoint of a series.

    Args:
        sizes: Node-layer sizes ``[L]`` of the full network.
        n: Centres in all (:func:`centres_per_layer`), or ``"all"``.
        seed: The sample's seed.

    Returns:
        ``(centres, per_layer)``: sorted int64 node ids ``[C]`` and the count per layer ``[L]``.
    """
    per = centres_per_layer(sizes, n)
    rng = np.random.default_rng([CENTRE_TAG, int(seed)])
    off = np.concatenate([[0], np.cumsum(np.asarray(sizes, dtype=np.int64))])
    parts = []
    for l, (size, k) in enumerate(zip(sizes, per)):
        idx = np.arange(size, dtype=np.int64) if k >= size else np.sort(rng.choice(int(size), size=k, replace=False))
        parts.append(idx.astype(np.int64) + off[l])
    return (np.concatenate(parts) if parts else np.zeros(0, np.int64)), per


def plan(recorder: Any, seeds: Sequence[int], options: Any) -> None:
    """Make, against a recording checkpoint, exactly the reads :func:`run` makes.

    The NIN of every seed (neuron sampling) or the full NIN once (centre sampling: every weight
    matrix whole), and the null network of every seed, are built from the recorder (its reads
    return zeros), so the requests are those of :func:`run` by construction.

    A streamed full network (above ``MFA_NETWORK_MEMORY``) reads every weight matrix whole
    twice for the pre-pass and once per stream, then the same for the null of every seed
    (:func:`mfa_engine.modes.paper_stream.record_reads`).

    Args:
        recorder: A checkpoint whose ``read_block`` records requests.
        seeds: The seeds :func:`run` will be given.
        options: The ``AnalysisOptions``.
    """
    adapter = _adapter(recorder)
    centres = options.sampling == "centres"
    if centres:
        draws = _draws(adapter, seeds, options)
        if _mode(adapter, draws, options) == "stream":  # pre-pass and streams, then each null's
            union = _union(draws)
            paper_stream.record_reads(recorder, adapter, paper_stream.stream_passes(adapter, union.size, U_GRID.size))
            for s in seeds:
                if options.null is not None:
                    n_null = paper_stream.stream_passes(adapter, draws[s][0].size, U_GRID.size)
                    paper_stream.record_reads(null_checkpoint(options.null, recorder, s), adapter, n_null)
            return
    for i, s in enumerate(seeds):
        # The recorder's reads return zeros: no weight distance to take a median of; the
        # structural scale does not change which blocks are read.
        if not (centres and i > 0):  # the full network is read once
            _nin(recorder, adapter, s, options, structural_scale="absolute")
        if options.null is not None:  # the null's draws depend on positions only, not values
            _nin(null_checkpoint(options.null, recorder, s), adapter, s, options, structural_scale="absolute")


def _floats(a: Any) -> list[float]:
    return [float(x) for x in np.asarray(a, dtype=np.float64).ravel()]


def sample_record(seed: int, graph: Any, spec: Any, extra: dict | None = None) -> dict:
    """The JSON record of one paper-mode sample (an entry of ``samples``).

    ``alpha0`` is tau'(0); ``alpha0_argmax``, ``width_hull``, ``structural_distance`` (the value
    used) and ``diagnostics`` (:mod:`mfa_engine.analysis.diagnostics`) come with it, and the
    keys of ``extra`` (``sampling``, ``r_unit``, ``profile``, ``window_u`` and, with centre
    sampling, ``centres_per_layer``; README, JSON contract).
    """
    rec = {
        "seed": int(seed),
        "tau": _floats(spec.tau),
        "alpha": _floats(spec.alpha),
        "f_alpha": _floats(spec.f_alpha),
        "alpha0": float(spec.alpha0),
        "alpha0_argmax": float(spec.alpha0_argmax),
        "width": float(spec.width),
        "width_hull": float(spec.width_hull),
        "n_centres": int(spec.n_centres),
        "r2_min": float(np.nanmin(spec.r2)),
        "n_nodes": int(graph.n_nodes),
        "n_edges": int(graph.n_edges),
        "structural_distance": getattr(graph, "structural_distance", None),
        "diagnostics": spec.diagnostics,
    }
    if spec.dims is not None:
        rec["dims"] = _floats(spec.dims)
    rec.update(extra or {})
    return rec


class _Network:
    """The network samples are measured on, prepared once, with its data scale ``r_unit``."""

    def __init__(self, graph: Any, options: Any, adapter: Any = None) -> None:
        self.graph = graph
        self.strata = centre_strata(graph, adapter)
        if options.structural_scale == "median" and options.structural_distance == 1.0 and \
                graph.structural_distance is not None:
            # build_nin took the same median (of the same weighted edges) for the structural edges
            self.r_unit = float(graph.structural_distance)
        else:
            self.r_unit = r_unit_of(graph.weight_distances())
        # centre sampling counts many centre sets on one network: prepare it once
        self.prepared = prepare_graph(graph, options.directed) if options.sampling == "centres" else None


def centre_strata(graph: Any, adapter: Any = None) -> list[int]:
    """The strata of centre sampling: node layers, each QKV layer split into its q, k and v parts.

    The strata are contiguous runs of nodes (node ids in order), so :func:`draw_centres` and
    :func:`design_weights` take their sizes as they take layer sizes. Splitting the QKV layer by
    role removes the largest source of between-centre variance: at the structural step a q or
    k node reaches a whole head of context nodes, a v node one node per head of its group.

    Args:
        graph: The network (``LayeredGraph`` with ``layer_sizes``, ``node_kind`` and
            ``node_neuron``).
        adapter: Its architecture adapter (``qkv_roles``); None: layers only.

    Returns:
        Stratum sizes ``[S]`` summing to the number of nodes.
    """
    sizes = [int(n) for n in graph.layer_sizes]
    kinds = getattr(graph, "node_kind", None)
    neurons = getattr(graph, "node_neuron", None)
    if adapter is None or kinds is None or neurons is None or not hasattr(adapter, "qkv_roles"):
        return sizes
    role = adapter.qkv_roles()[0]
    out: list[int] = []
    start = 0
    for n in sizes:
        if n and kinds[start] == "qkv":
            r = role[np.asarray(neurons[start:start + n], dtype=np.int64)]
            cuts = np.flatnonzero(np.diff(r)) + 1  # runs of one role (q, k, v are contiguous)
            out.extend(int(x) for x in np.diff(np.concatenate([[0], cuts, [n]])))
        else:
            out.append(n)
        start += n
    return out


def _network(ckpt: Any, adapter: Any, seed: int, options: Any) -> _Network:
    return _Network(_nin(ckpt, adapter, seed, options), options, adapter)


class _Streamed:
    """A full network above the memory budget: its pre-pass and the counts of ``sources`` from one
    stream of its blocks (:mod:`mfa_engine.modes.paper_stream`); samples take their rows."""

    def __init__(self, ckpt: Any, adapter: Any, options: Any, sources: np.ndarray, progress: bool) -> None:
        self.graph = paper_stream.scan_network(ckpt, adapter, options, progress=progress)
        self.strata = centre_strata(self.graph, adapter)
        self.r_unit = self.graph.r_unit
        self.radii = fixed_radius_grid(self.r_unit)
        self.sources = np.unique(np.asarray(sources, np.int64))
        self.counts = paper_stream.stream_counts_of(ckpt, adapter, self.sources, self.radii, options, self.graph,
                                                    progress=progress)

    def counts_of(self, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """As :func:`_counts`: ``(counts [C, R], radii [R], u [R], n_nodes)`` of these centres."""
        return self.counts[np.searchsorted(self.sources, centres)], self.radii, U_GRID, self.graph.n_nodes

    def measure(self, centres: np.ndarray, options: Any, window: tuple[float, float] | None, seed: int,
                per_layer: list[int] | None) -> dict:
        """The record of one sample (as :func:`_measure`)."""
        return _record(self, *self.counts_of(centres), centres, options, window, seed, per_layer)


def _draws(adapter: Any, seeds: Sequence[int], options: Any) -> dict[int, tuple[np.ndarray, list[int]]]:
    """The centres of every seed (:func:`draw_centres` on the full network's strata; nothing read)."""
    strata = centre_strata(paper_stream.skeleton(adapter), adapter)
    return {int(s): draw_centres(strata, options.centres, s) for s in seeds}


def _union(draws: dict[int, tuple[np.ndarray, list[int]]]) -> np.ndarray:
    return np.unique(np.concatenate([c for c, _ in draws.values()])) if draws else np.zeros(0, np.int64)


def _mode(adapter: Any, draws: dict[int, tuple[np.ndarray, list[int]]], options: Any) -> str:
    """``"memory"`` or ``"stream"`` (:func:`mfa_engine.limits.network_mode`) for these centres.

    Raises:
        ConfigError: Streaming does not fit the budget, or the options need the whole network
            (a grid of radii from the data).
    """
    mode, _ = network_mode(nin_level_sizes(adapter), _union(draws).size, U_GRID.size)
    if mode == "stream" and options.radius_grid != "u":
        raise ConfigError("the full network is above MFA_NETWORK_MEMORY and is streamed level by level, which needs "
                          "radius_grid='u' (radius_grid='data' takes its radii from distances of the whole network); "
                          "use radius_grid='u' or raise MFA_NETWORK_MEMORY")
    return mode


def _counts(net: _Network, centres: np.ndarray | None, options: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``(counts [C, R], radii [R], u [R], n_nodes)`` of the centres on the options' grid."""
    fixed = options.radius_grid == "u"
    radii = fixed_radius_grid(net.r_unit) if fixed else None
    counts, radii, n = graph_counts(net.graph, options, radii=radii, centres=centres, prepared=net.prepared)
    u = U_GRID if fixed else np.log(radii / net.r_unit)
    return counts, radii, u, n


def design_weights(sizes: Sequence[int], per_layer: Sequence[int], centres: np.ndarray) -> np.ndarray | None:
    """Design weights of stratified centres: ``n_l / k_l`` for a centre of layer l.

    With them every average over the centres estimates the full network's average without
    the bias of the rounded layer quotas (docs/method.md, Centre sampling).

    Args:
        sizes: Node-layer sizes ``[L]``.
        per_layer: Centres drawn per layer ``[L]`` (:func:`centres_per_layer`).
        centres: int64 ``[C]`` node ids of the centres.

    Returns:
        float64 ``[C]``, or None when every weight is the same (e.g. every node a centre).
    """
    sz = np.asarray(sizes, dtype=np.float64)
    k = np.asarray(per_layer, dtype=np.float64)
    ratio = np.where(k > 0, sz / np.maximum(k, 1.0), 0.0)
    off = np.cumsum(np.asarray(sizes, dtype=np.int64))
    w = ratio[np.searchsorted(off, centres, side="right")]
    return None if w.size == 0 or np.all(w == w[0]) else w


def _fit(counts: np.ndarray, radii: np.ndarray, u: np.ndarray, n: int, options: Any,
         window: tuple[float, float] | None, weights: np.ndarray | None) -> Any:
    return spectrum_from_counts(
        counts, radii, q=options.q_grid(), convention=options.convention, normalisation=options.normalisation,
        n_nodes=n, fit_range=options.fit_range, min_reach=options.min_reach, fit_window=options.fit_window,
        window_min_span=options.window_min_span, u=u, window_u=window, weights=weights)


def _measure(net: _Network, centres: np.ndarray | None, options: Any, window: tuple[float, float] | None,
             seed: int, per_layer: list[int] | None) -> dict:
    """Count, fit and profile one sample; its record."""
    counts, radii, u, n = _counts(net, centres, options)
    return _record(net, counts, radii, u, n, centres, options, window, seed, per_layer)


def _record(net: Any, counts: np.ndarray, radii: np.ndarray, u: np.ndarray, n: int, centres: np.ndarray | None,
            options: Any, window: tuple[float, float] | None, seed: int, per_layer: list[int] | None) -> dict:
    """Fit and profile the counts of one sample; its record (``net``: ``graph``, ``strata``, ``r_unit``)."""
    weights = None if centres is None else design_weights(net.strata, per_layer, centres)
    spec = _fit(counts, radii, u, n, options, window, weights)
    profile = local_slope_profile(counts, radii, u, q=options.q_grid(), convention=options.convention,
                                  normalisation=options.normalisation, n_nodes=n, min_reach=options.min_reach,
                                  weights=weights)
    lo = int(np.searchsorted(radii, spec.radii[0]))
    hi = lo + int(spec.radii.size) - 1
    extra: dict[str, Any] = {
        "sampling": options.sampling,
        "r_unit": float(net.r_unit),
        "profile": {"u": profile["u"], "ln_mu": profile["ln_mu"], "ln_z": profile["ln_z"]},
        "window_u": [float(u[lo]), float(u[hi])],
    }
    if per_layer is not None:
        extra["centres_per_layer"] = [int(k) for k in per_layer]
    return sample_record(seed, net.graph, spec, extra)


def _window(ckpt: Any, options: Any) -> tuple[tuple[float, float] | None, str | None]:
    """The fixed window in u and its source (None, None unless ``fit_window="fixed"``)."""
    if options.fit_window != "fixed" or options.fit_range is not None:
        return None, None
    model_type = getattr(ckpt, "model_type", None) or (getattr(ckpt, "config", None) or {}).get("model_type")
    return resolve_window(options.window, model_type)


def resolved_config(ckpt: Any, options: Any) -> dict[str, Any]:
    """The options this mode resolves from the checkpoint, for the document's ``config``.

    Returns:
        ``{"window": [lo, hi] | None, "window_source": str | None}``: the fixed window in u
        (:mod:`mfa_engine.analysis.windows`) and where it came from (``"option"`` or
        ``"family:<model_type>"``); None unless ``fit_window="fixed"``.
    """
    w, source = _window(ckpt, options)
    return {"window": None if w is None else [float(w[0]), float(w[1])], "window_source": source}


def sample_fit(checkpoint: Any, seed: int, options: Any) -> dict[str, Any]:
    """The fit of one sample, for a fit plot.

    Args:
        checkpoint: Opened checkpoint.
        seed: The sample's seed.
        options: The ``AnalysisOptions`` (paper mode).

    Returns:
        ``{"q" [Q], "ln_r" [R], "ln_z" [Q, R], "window" (r_lo, r_hi), "tau" [Q], "convention",
        "spectrum", "u" [R], "window_u" (lo, hi), "seed"}`` (as
        :func:`mfa_engine.graph_spectrum.graph_fit`, plus the grid in u).
    """
    adapter = _adapter(checkpoint)
    centres, weights = None, None
    draws = _draws(adapter, [seed], options) if options.sampling == "centres" else {}
    if draws and _mode(adapter, draws, options) == "stream":
        net: Any = _Streamed(checkpoint, adapter, options, draws[int(seed)][0], False)
    else:
        net = _network(checkpoint, adapter, seed, options)
    if draws:
        centres, per_layer = draws[int(seed)]
        weights = design_weights(net.strata, per_layer, centres)
    window, _ = _window(checkpoint, options)
    counts, radii, u, n = net.counts_of(centres) if isinstance(net, _Streamed) else _counts(net, centres, options)
    spec = _fit(counts, radii, u, n, options, window, weights)
    _, ln_z = partition_curves(counts, radii, q=options.q_grid(), convention=options.convention,
                               normalisation=options.normalisation, n_nodes=n, min_reach=options.min_reach,
                               weights=weights)
    lo = int(np.searchsorted(radii, spec.radii[0]))
    hi = lo + int(spec.radii.size) - 1
    return {"q": options.q_grid(), "ln_r": np.log(radii), "ln_z": ln_z,
            "window": (float(radii[lo]), float(radii[hi])), "tau": np.asarray(spec.tau),
            "convention": options.convention, "spectrum": spec, "u": np.asarray(u, dtype=np.float64),
            "window_u": (float(u[lo]), float(u[hi])), "seed": int(seed)}


def run(
    checkpoint: Any,
    seeds: Sequence[int],
    options: Any,
    on_sample: Callable[[dict], None] | None = None,
    *,
    progress: bool = False,
) -> tuple[list[dict], np.ndarray]:
    """Per-seed records of paper mode.

    Centre sampling builds the full network once and measures each seed's centres on it (above
    ``MFA_NETWORK_MEMORY``: a pre-pass and one stream of the checkpoint's blocks from the union
    of every seed's centres, :class:`_Streamed`; the same records); with
    ``centres="all"`` (or neuron sampling with ``neurons_per_layer="all"``) every seed gives the
    same result: it is computed once and its record repeated with each seed. With
    ``options.null`` each record also holds ``"null"``: the record of the same seed (the same
    centres) on the seed's null checkpoint
    (:func:`mfa_engine.checkpoints.nulls.null_checkpoint`; :func:`plan` records its reads too).

    Args:
        checkpoint: Opened checkpoint (``open_checkpoint`` contract).
        seeds: Seeds of the samples.
        options: The ``AnalysisOptions``.
        on_sample: Called with each per-sample record as soon as it is computed.
        progress: Show a progress bar on stderr.

    Returns:
        ``(records, q [Q])``.

    Raises:
        ConfigError: Centre sampling of a network that does not fit the memory budget even
            streamed (:func:`mfa_engine.limits.network_mode`).
    """
    adapter = _adapter(checkpoint)
    q = options.q_grid()
    centres_mode = options.sampling == "centres"
    whole_network = options.centres == "all" if centres_mode else options.neurons_per_layer == "all"
    window, _ = _window(checkpoint, options)
    full: _Network | None = None
    streamed: _Streamed | None = None
    draws = _draws(adapter, seeds, options) if centres_mode else {}
    if centres_mode and _mode(adapter, draws, options) == "stream":
        streamed = _Streamed(checkpoint, adapter, options, _union(draws), progress)
    elif centres_mode:
        full = _network(checkpoint, adapter, 0, options)
    records = []
    with progress_bar(len(seeds), "samples", progress) as bar:
        whole: dict | None = None  # the whole network is the same measurement for every seed
        for s in seeds:
            centres, per_layer = draws[int(s)] if centres_mode else (None, None)
            if whole_network and whole is not None:
                rec = {**whole, "seed": int(s)}  # computed once (the null model still varies)
            elif streamed is not None:
                rec = streamed.measure(centres, options, window, s, per_layer)
                if whole_network:
                    whole = dict(rec)
            else:
                net = full if full is not None else _network(checkpoint, adapter, s, options)
                rec = _measure(net, centres, options, window, s, per_layer)
                if whole_network:
                    whole = dict(rec)
            if options.null is not None:  # the same sample (same centres) of the null network
                null_ck = null_checkpoint(options.null, checkpoint, s)
                if streamed is not None:  # its own pre-pass and stream, from this seed's centres
                    null_rec = _Streamed(null_ck, adapter, options, centres, progress).measure(
                        centres, options, window, s, per_layer)
                else:
                    null_rec = _measure(_network(null_ck, adapter, s, options), centres, options, window, s,
                                        per_layer)
                rec["null"] = {**null_rec, "model": options.null}
            records.append(rec)
            if on_sample is not None:
                on_sample(rec)
            bar.update(1)
    return records, np.asarray(q, dtype=np.float64)
