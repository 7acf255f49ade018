"""One batch task: every missing (mode, seed) of one checkpoint, from one streamed read."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mfa_engine.batch.series import CheckpointSpec
from mfa_engine.checkpoint_analysis import as_options, resolved_options
from mfa_engine.checkpoints import open_checkpoint
from mfa_engine.checkpoints.hub import is_repo_id
from mfa_engine.checkpoints.prefetch import prefetch_checkpoint, record_requests
from mfa_engine.errors import ConfigError, MFAError
from mfa_engine.modes import get_mode
from mfa_engine.summary import bytes_total

__all__ = ["Task", "TaskResult", "compute_task", "warm_task"]


@dataclass
class Task:
    """Work of one checkpoint.

    Attributes:
        index: Position of the checkpoint in the series.
        spec: The checkpoint.
        seeds: mode -> seeds still to compute (sorted).
        options: mode -> :class:`~mfa_engine.options.AnalysisOptions` of that mode (a mapping
            of option names is converted).
        config_hash: mode -> configuration hash of the rows.
        engine_version: Stored with each row.
    """

    index: int
    spec: CheckpointSpec
    seeds: dict[str, list[int]]
    options: dict[str, Any]
    config_hash: dict[str, str]
    engine_version: str = ""

    def __post_init__(self) -> None:
        self.options = {m: as_options(o, mode=m) for m, o in self.options.items()}

    @property
    def n_samples(self) -> int:
        """Number of (mode, seed) pairs of the task."""
        return sum(len(v) for v in self.seeds.values())


@dataclass
class TaskResult:
    """Outcome of a task.

    Attributes:
        index: The task's index.
        rows: Rows produced (only filled when the executor returns rows instead of streaming).
        error: One-line error message if the checkpoint failed, else None.
        seconds: Wall time of the task.
        prefetched: True if one read of each tensor served all samples (False: the recorded
            requests exceeded the prefetch budget and samples read separately).
        streamed: Rows a pool worker sent through its queue (the driver waits for all of
            them before it reports the task done).
        bytes_read: Bytes fetched from the Hub for this checkpoint (0 for local files).
        bytes_total: Size of the checkpoint's weight files.
    """

    index: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    prefetched: bool = False
    streamed: int = 0
    bytes_read: int = 0
    bytes_total: int = 0


def _read_passes(task: Task) -> int:
    """How many times the analysis would read the checkpoint without prefetching.

    Paper mode with neuron sampling reads once per seed; with centre sampling (the full network,
    built once) and reference mode once for all their seeds.
    """
    return sum(len(seeds) if mode == "paper" and task.options[mode].sampling == "neurons" else 1
               for mode, seeds in task.seeds.items())


def _plans(task: Task) -> list[Callable[[Any], None]]:
    """Each mode's ``plan`` bound to its seeds and options (run against a recorder).

    Paper mode with ``neurons_per_layer="all"`` is left out: the full network gains nothing
    from prefetching and is too large to hold (its samples read the checkpoint themselves).
    """
    plans: list[Callable[[Any], None]] = []
    for mode, seeds in task.seeds.items():
        opts = task.options[mode]
        if _whole_neurons(opts):
            continue
        plan = get_mode(mode).plan
        plans.append(lambda rec, plan=plan, seeds=seeds, opts=opts: plan(rec, seeds, opts))
    return plans


def _open(task: Task) -> Any:
    """Open the task's checkpoint (a Hub id with the range cache / download of its options)."""
    opts = next(iter(task.options.values()), None)
    hub = {} if opts is None else {k: v for k, v in (("range_cache", opts.range_cache),
                                                     ("download", opts.download)) if v}
    return open_checkpoint(task.spec.path, revision=task.spec.revision, **hub)


def _whole_neurons(opts: Any) -> bool:
    """The full network by neuron sampling (``neurons_per_layer="all"``), not by centre sampling."""
    return opts.neurons_per_layer == "all" and (opts.mode == "reference" or opts.sampling == "neurons")


def _check_ranged(task: Task) -> None:
    if any(_whole_neurons(o) for o in task.options.values()):
        raise ConfigError(
            f"neurons_per_layer='all' reads every weight whole, but {task.spec.path} is read from "
            "the Hub by byte range; pass --download to download the whole files first"
        )


def warm_task(task: Task) -> int:
    """Fetch the byte ranges of a Hub checkpoint's task into the range cache (no analysis).

    Used to fetch the next checkpoint while the current one computes. Local checkpoints and
    failures are left to :func:`compute_task` (which reports them).

    Returns:
        Bytes fetched (headers included).
    """
    if not is_repo_id(task.spec.path):
        return 0
    try:
        with _open(task) as ckpt:
            if getattr(ckpt, "source", None) != "hub":
                return 0
            _check_ranged(task)
            ckpt.fetch(record_requests(ckpt, _plans(task)))
            return int(ckpt.bytes_read)  # headers included
    except Exception:  # noqa: BLE001 - compute_task opens it again and reports the failure
        return 0


def compute_task(task: Task, on_row: Callable[[dict[str, Any]], None] | None = None) -> TaskResult:
    """Compute every missing sample of a task; rows are passed to ``on_row`` as they finish.

    Each mode's ``run`` gets all the task's seeds of that mode (any set of seeds).

    The checkpoint is opened once; its reads for all modes and seeds are recorded and served
    from one streamed read (:mod:`mfa_engine.checkpoints.prefetch`). A failure (corrupt checkpoint,
    too few centres, ...) is caught and returned as ``error``; rows finished before it stand.

    Args:
        task: The task.
        on_row: Called with each row ``{checkpoint, step, mode, seed, config_hash, record,
            engine_version}``; without it rows are collected in the result.

    Returns:
        The :class:`TaskResult`.
    """
    t0 = time.perf_counter()
    result = TaskResult(task.index)
    sink = on_row if on_row is not None else result.rows.append
    spec = task.spec
    try:
        # the backend of each mode resolved once per task, before the checkpoint is opened
        options = {mode: resolved_options(o) for mode, o in task.options.items()}
        with _open(task) as ckpt:
            reader: Any = ckpt
            remote = getattr(ckpt, "source", None) == "hub"
            requests = None
            if remote or _read_passes(task) > 1:
                requests = record_requests(ckpt, _plans(task))
            if remote:  # every range of every sample and mode, fetched in one parallel pass
                _check_ranged(task)
                ckpt.fetch(requests)
            if _read_passes(task) > 1:  # else the one analysis call already reads each block once
                reader = prefetch_checkpoint(ckpt, requests) or ckpt
            result.prefetched = reader is not ckpt or _read_passes(task) == 1
            for mode, seeds in task.seeds.items():

                def emit(rec: dict, mode: str = mode) -> None:
                    sink({"checkpoint": spec.key, "step": spec.step, "mode": mode,
                          "seed": int(rec["seed"]), "config_hash": task.config_hash[mode],
                          "record": rec, "engine_version": task.engine_version})

                get_mode(mode).run(reader, seeds, options[mode], emit)
            result.bytes_read = int(getattr(ckpt, "bytes_read", 0) or 0)
            result.bytes_total = bytes_total(ckpt)
    except MFAError as exc:
        result.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad checkpoint must not stop a series
        last = traceback.extract_tb(exc.__traceback__)[-1]
        result.error = f"{type(exc).__name__}: {exc} (at {last.filename}:{last.lineno})"
    result.seconds = time.perf_counter() - t0
    return result
