"""Paper mode: exact multi-hop distances on the sampled neuron interaction network.

Per seed: build the sampled NIN (:func:`mfa_engine.nin.build_nin`), count the nodes within
each radius from every node (distance-bounded multi-source shortest paths) and fit the
box-growing (or sandbox) spectrum (:func:`mfa_engine.graph_spectrum.graph_spectrum`). The method is in
docs/architecture.md; the mode interface in :mod:`mfa_engine.modes`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mfa_engine.arch import get_adapter
from mfa_engine.checkpoints.nulls import null_checkpoint
from mfa_engine.graph_spectrum import graph_fit, graph_spectrum
from mfa_engine.nin import build_nin
from mfa_engine.progress import progress_bar

__all__ = ["plan", "run", "sample_record", "sample_fit"]


def _nin(ckpt: Any, adapter: Any, seed: int, options: Any, structural_scale: str | None = None) -> Any:
    return build_nin(ckpt, adapter, neurons_per_layer=options.neurons_per_layer, seed=seed,
                     eps=options.eps, structural_distance=options.structural_distance,
                     structural_scale=structural_scale or options.structural_scale)


def _adapter(ckpt: Any) -> Any:
    adapter = get_adapter(ckpt.config)
    adapter.validate(ckpt)
    return adapter


def plan(recorder: Any, seeds: Sequence[int], options: Any) -> None:
    """Make, against a recording checkpoint, exactly the reads :func:`run` makes.

    The NIN of every seed is built from the recorder (its reads return zeros), so the
    requests are those of :func:`run` by construction.

    Args:
        recorder: A checkpoint whose ``read_block`` records requests.
        seeds: The seeds :func:`run` will be given.
        options: The ``AnalysisOptions``.
    """
    adapter = _adapter(recorder)
    for s in seeds:
        # The recorder's reads return zeros: no weight distance to take a median of; the
        # structural scale does not change which blocks are read.
        _nin(recorder, adapter, s, options, structural_scale="absolute")
        if options.null is not None:  # the null's draws depend on positions only, not values
            _nin(null_checkpoint(options.null, recorder, s), adapter, s, options, structural_scale="absolute")


def _floats(a: Any) -> list[float]:
    return [float(x) for x in np.asarray(a, dtype=np.float64).ravel()]


def sample_record(seed: int, graph: Any, spec: Any) -> dict:
    """The JSON record of one paper-mode sample (an entry of ``samples``).

    ``alpha0`` is tau'(0); ``alpha0_argmax``, ``width_hull``, ``structural_distance`` (the value
    used) and ``diagnostics`` (:mod:`mfa_engine.analysis.diagnostics`) come with it.
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
    return rec


def _sample(ckpt: Any, adapter: Any, seed: int, options: Any) -> dict:
    """Build the NIN of one seed, fit its spectrum and return its record."""
    g = _nin(ckpt, adapter, seed, options)
    return sample_record(seed, g, graph_spectrum(g, options))


def sample_fit(checkpoint: Any, seed: int, options: Any) -> dict[str, Any]:
    """The fit of one sample, for a fit plot (:func:`mfa_engine.graph_spectrum.graph_fit`).

    Args:
        checkpoint: Opened checkpoint.
        seed: The sample's seed.
        options: The ``AnalysisOptions`` (paper mode).

    Returns:
        :func:`~mfa_engine.graph_spectrum.graph_fit`'s dict plus ``"seed"``.
    """
    return {**graph_fit(_nin(checkpoint, _adapter(checkpoint), seed, options), options), "seed": int(seed)}


def run(
    checkpoint: Any,
    seeds: Sequence[int],
    options: Any,
    on_sample: Callable[[dict], None] | None = None,
    *,
    progress: bool = False,
) -> tuple[list[dict], np.ndarray]:
    """Per-seed records of paper mode.

    With ``neurons_per_layer="all"`` every seed gives the same network: it is analysed once and
    its record repeated with each seed (the work of one sample, whatever ``samples`` says).
    With ``options.null`` (``"shuffle"``) each record also holds ``"null"``: the record of the
    same seed on the checkpoint with every weight matrix permuted at random
    (:func:`mfa_engine.checkpoints.nulls.null_checkpoint`; :func:`plan` records its reads too).

    Args:
        checkpoint: Opened checkpoint (``open_checkpoint`` contract).
        seeds: Seeds of the samples.
        options: The ``AnalysisOptions``.
        on_sample: Called with each per-sample record as soon as it is computed.
        progress: Show a progress bar on stderr.

    Returns:
        ``(records, q [Q])``.
    """
    adapter = _adapter(checkpoint)
    q = options.q_grid()
    records = []
    with progress_bar(len(seeds), "samples", progress) as bar:
        whole: dict | None = None  # the full network is the same graph for every seed
        for s in seeds:
            if options.neurons_per_layer == "all" and whole is not None:
                rec = {**whole, "seed": int(s)}  # computed once (the null model still varies)
            else:
                rec = _sample(checkpoint, adapter, s, options)
                if options.neurons_per_layer == "all":
                    whole = dict(rec)
            if options.null is not None:  # the same sample of the shuffled network
                    rec["null"] = {**_sample(null_checkpoint(options.null, checkpoint, s), adapter, s, options),
                               "model": options.null}
            records.append(rec)
            if on_sample is not None:
                on_sample(rec)
            bar.update(1)
    return records, np.asarray(q, dtype=np.float64)
