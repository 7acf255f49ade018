"""Reference mode: the mode interface (``plan`` / ``run``) over the published pipeline.

:func:`plan` and :func:`run` are used by ``analyze_checkpoint`` and batch runs (see
docs/architecture.md "Modes"); the pipeline itself is
:func:`mfa_engine.reference.pipeline.analyze_reference`. Semantics: docs/reference-mode.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mfa_engine.checkpoints.nulls import null_checkpoint
from mfa_engine.errors import CheckpointError
from mfa_engine.progress import progress_callback
from mfa_engine.reference.lists import record_reads
from mfa_engine.reference.pipeline import analyze_reference
from mfa_engine.reference.sampling import config_of, reference_sample_indices

__all__ = ["plan", "run"]


def _samples(ckpt: Any, seeds: Sequence[int], options: Any) -> list[Any]:
    config = config_of(ckpt)
    if config is None:
        raise CheckpointError("reference mode: the checkpoint object has no .config dict")
    return [reference_sample_indices(config, s, n_per_layer=int(options.neurons_per_layer)) for s in seeds]


def plan(recorder: Any, seeds: Sequence[int], options: Any) -> None:
    """Make, against a recording checkpoint, exactly the reads :func:`run` makes.

    Args:
        recorder: A checkpoint whose ``read_block`` records requests (e.g.
            ``mfa_engine.checkpoints.prefetch.RecordingCheckpoint``).
        seeds: The seeds :func:`run` will be given.
        options: The ``AnalysisOptions``.
    """
    record_reads(recorder, _samples(recorder, seeds, options))
    if options.null is not None:  # run() reads each seed's null on its own shuffled checkpoint
        for s, sample in zip(seeds, _samples(recorder, seeds, options)):
            record_reads(null_checkpoint(options.null, recorder, s), [sample])


def _record(s: dict) -> dict:
    """The JSON record of one seed of :func:`analyze_reference` (an entry of ``samples``)."""
    return {
        "seed": int(s["seed"]),
        "tau": [float(x) for x in s["tau"]],
        "alpha": [float(x) for x in s["alpha"]],
        "f_alpha": [float(x) for x in s["f_alpha"]],
        "alpha0": float(s["alpha0"]),
        "width": float(s["width"]),
        "n_centres": int(s["n_centres"]),
        "r2_min": float(np.nanmin(np.asarray(s["r2"], dtype=np.float64))),
        "n_radii": int(len(s["radii"])),
    }


def run(
    checkpoint: Any,
    seeds: Sequence[int],
    options: Any,
    on_sample: Callable[[dict], None] | None = None,
    *,
    progress: bool = False,
) -> tuple[list[dict], np.ndarray]:
    """Per-seed records of reference mode (one read of each weight block serves all seeds).

    With ``options.null`` each record also holds ``"null"``: the same seed analysed on the
    checkpoint with every weight matrix permuted at random (:mod:`mfa_engine.checkpoints.shuffled`).

    Args:
        checkpoint: Opened checkpoint (``open_checkpoint`` contract; gpt_neox).
        seeds: Seeds of the samples.
        options: The ``AnalysisOptions`` (``neurons_per_layer``, ``threshold``, the q grid).
        on_sample: Called with each per-sample record.
        progress: Show a progress bar on stderr.

    Returns:
        ``(records, q [Q])``: one record per seed (the ``samples`` entries of the JSON
        document) and the q grid.
    """
    with progress_callback("reference", progress) as callback:
        res = analyze_reference(checkpoint, list(seeds), threshold=options.threshold,
                                q=options.q_grid(), progress=callback,
                                n_per_layer=int(options.neurons_per_layer))
    records = []
    for s in res["per_seed"]:
        rec = _record(s)
        if options.null is not None:  # a null permutation per seed: seeds cannot share reads
            seed = int(s["seed"])
            null = analyze_reference(null_checkpoint(options.null, checkpoint, seed), [seed], threshold=options.threshold,
                                     q=options.q_grid(), n_per_layer=int(options.neurons_per_layer))
            rec["null"] = {**_record(null["per_seed"][0]), "model": options.null}
        records.append(rec)
        if on_sample is not None:
            on_sample(rec)
    return records, np.asarray(res["q"], dtype=np.float64)
