"""Analyse one checkpoint: options, backend, open, fetch the read plan, run the mode, summarise.

:func:`analyze_checkpoint` is the checkpoint-level entry point (re-exported by
:mod:`mfa_engine.api`). Everything that can be checked without the checkpoint is checked
first: the options record is validated when built, and its ``backend`` is resolved to a
concrete backend here, once, before anything is opened or read; the modes and the graph engine
get the resolved record.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mfa_engine import __version__
from mfa_engine._device import PATH_BACKENDS, resolve_backend
from mfa_engine.checkpoints import open_checkpoint
from mfa_engine.checkpoints.hub import HubCheckpoint
from mfa_engine.checkpoints.open import split_revision
from mfa_engine.checkpoints.prefetch import record_requests
from mfa_engine.errors import ConfigError
from mfa_engine.modes import get_mode
from mfa_engine.options import AnalysisOptions
from mfa_engine.summary import bytes_total, summarise
from mfa_engine.threads import limited

__all__ = ["analyze_checkpoint", "as_options", "resolved_options", "fetch_read_plan", "document_config"]


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


def resolved_options(options: AnalysisOptions) -> AnalysisOptions:
    """The record with its ``backend`` resolved to the concrete backend that will run.

    Raises:
        BackendError: The backend cannot run on this machine (e.g. ``triton`` without a CUDA
            device), before any checkpoint is read.
    """
    backend = resolve_backend(options.backend, PATH_BACKENDS, "paths")  # the paths dispatch's own resolution
    return options if backend == options.backend else options.replace(backend=backend)


def document_config(options: AnalysisOptions, revision: str | None) -> dict[str, Any]:
    """The ``config`` entry of a result document: every option except machine paths."""
    return {"mode": options.mode, "revision": revision,
            **{k: v for k, v in options.to_dict().items() if k != "range_cache"}}


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

    The options are validated and the backend resolved before the checkpoint is opened. The
    mode's module does the work (:mod:`mfa_engine.modes`): paper mode builds the sampled NIN of
    each seed (``seed, seed+1, ...``), counts the nodes within each radius from every node, and
    fits the spectrum; reference mode reproduces the published NeuroMFA code (GPT-NeoX only;
    docs/reference-mode.md). This function adds the means over samples.

    Args:
        path: Checkpoint directory, HF cache model directory, or file inside one; a Hub repo id
            ``Org/Name`` (``Org/Name@rev`` names the revision too); or an already opened
            checkpoint object of the ``open_checkpoint`` contract (used as is and not closed
            here; ``revision`` is then ignored).
        options: :class:`mfa_engine.options.AnalysisOptions`, or a mapping of option names;
            default all defaults.
        revision: Revision (e.g. ``step1000``) for the HF cache layout or the Hub.
        progress: Show a progress bar on stderr.
        on_sample: Called with each per-sample record as soon as it is computed.
        **overrides: Options given as keywords (``mode="reference"``, ``samples=3``,
            ``q=[...]``, ...; every field of ``AnalysisOptions``), applied over ``options``.

    A repo id ``Org/Name`` that is neither a local folder nor fully in the local HF cache is
    read from the Hugging Face Hub by byte range (options ``range_cache`` and ``download``;
    docs/hub.md): the reads of every sample are recorded first and fetched at once.

    Returns:
        ``{"engine_version", "checkpoint", "model_type", "mode", "config", "q", "tau", "alpha",
        "f_alpha", "alpha0", "width", "alpha0_ci", "width_ci", "alpha0_mean", "width_mean",
        "alpha0_std", "width_std", "alpha0_mean_ci", "width_mean_ci", "alpha0_median",
        "width_median", "headline", "n_flagged", "flagged", "profile"?, "samples": [...],
        "bytes_read", "bytes_total"}`` (``alpha0``/``width``: medians over the unflagged
        samples, ``*_ci`` the 95% bootstrap intervals of those medians, see
        :mod:`mfa_engine.summary` and :mod:`mfa_engine.analysis.uncertainty`), plus ``"null"``
        with the same fields and ``"contrast"`` (real minus null, paired per seed) when a null
        model is asked for; ``bytes_read`` counts the bytes this call fetched from the Hub (0 for
        local files and cached ranges), ``bytes_total`` the size of the checkpoint's weight
        files. Paper-mode samples carry ``alpha0`` (= tau'(0)), ``alpha0_argmax``, ``width``,
        ``width_hull``, ``structural_distance`` (the value used) and ``diagnostics``
        (``mfa_engine.analysis.diagnostics``; docs/method.md, Spectrum). ``config`` holds the
        options (the backend as resolved) and no machine path.

    Raises:
        ConfigError: An invalid or unknown option (before anything is read).
        BackendError: The backend cannot run here (before anything is read).
    """
    opts = resolved_options(as_options(options, **overrides))
    if not hasattr(path, "read_block"):
        path, revision = split_revision(path, revision)
    mode = get_mode(opts.mode)
    config = document_config(opts, revision)
    t0 = time.perf_counter()
    given = hasattr(path, "read_block")
    if given:  # an opened checkpoint (e.g. a batch prefetch reader)
        opened: Any = contextlib.nullcontext(path)
    else:
        hub = {k: v for k, v in (("range_cache", opts.range_cache), ("download", opts.download)) if v}
        opened = open_checkpoint(path, revision=revision, **hub)
    with opened as ckpt:
        # opened here: count the headers too; else only what this call fetches
        read_before = int(getattr(ckpt, "bytes_read", 0) or 0) if given else 0
        resolve = getattr(mode, "resolved_config", None)  # e.g. paper mode's window for this family
        if resolve is not None:
            config.update(resolve(ckpt, opts))
        fetch_read_plan(ckpt, opts, progress)
        with limited(opts.threads):  # the ``threads`` option (0: MFA_THREADS or every core)
            records, q = mode.run(ckpt, opts.seeds, opts, on_sample, progress=progress)
        head = {"engine_version": __version__, "checkpoint": str(ckpt.path),
                "model_type": ckpt.model_type, "mode": opts.mode, "config": config,
                "bytes_read": int(getattr(ckpt, "bytes_read", 0) or 0) - read_before,
                "bytes_total": bytes_total(ckpt)}
    return summarise(records, q, seconds=time.perf_counter() - t0, **head)


def fetch_read_plan(ckpt: Any, opts: AnalysisOptions, progress: bool = False) -> None:
    """For a Hub checkpoint: fetch the byte ranges of every read of the analysis at once.

    The reads are recorded first with the mode's ``plan`` (the sampling needs no weights),
    then fetched in parallel into the range cache; the analysis then reads from the cache.
    Centre sampling reads the full network: every weight matrix whole, once per checkpoint
    (docs/hub.md).

    Raises:
        ConfigError: ``neurons_per_layer='all'`` with neuron sampling on a checkpoint read by
            byte range; centre sampling of a network above the memory budget (before any fetch).
    """
    if not isinstance(ckpt, HubCheckpoint):  # a proxy (batch prefetch) has fetched already
        return
    if opts.neurons_per_layer == "all" and (opts.mode == "reference" or opts.sampling == "neurons"):
        raise ConfigError(
            f"neurons_per_layer='all' reads every weight whole, but {ckpt.repo_id} is read from "
            "the Hub by byte range; pass download=True to download the whole files first"
        )
    plan = get_mode(opts.mode).plan
    ckpt.progress = None if progress else False  # a byte bar for large fetches on a terminal
    ckpt.fetch(record_requests(ckpt, [lambda rec: plan(rec, opts.seeds, opts)]))
