"""Analyse a model's weights while it trains: hand-over on the training thread, analysis behind it.

A :class:`Tracker` belongs to one run (the ``checkpoint`` key of its rows in the results store)
and one ``AnalysisOptions``. :meth:`Tracker.submit` is all the training thread does: it copies
the sub-blocks of the weights that the analysis will read (the read plan is recorded once from
the shapes; sampling needs no weights) and queues them. A background worker (a thread, or a
spawned process with ``worker="process"``) analyses the copy with the mode's ``run``, exactly as ``mfa batch`` analyses a checkpoint file, appends one row per
sample to the results store (keyed by run and step, one transaction each), and turns the
series so far into scalars (alpha0, width, E(t) with their 95% intervals, and the real minus the
null values when a null model is configured) that :meth:`Tracker.poll` returns.

When the worker is behind (``max_pending`` hand-overs already wait) a step is skipped with a
logged warning; a failed hand-over or analysis is logged, recorded in :attr:`Tracker.failures`,
and never raised into the training loop.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mfa_engine import __version__
from mfa_engine.api import as_options
from mfa_engine.batch.store import ResultsStore
from mfa_engine.batch.summary import summarise_series
from mfa_engine.checkpoints.prefetch import record_requests
from mfa_engine.errors import ConfigError, MFAError
from mfa_engine.modes import get_mode
from mfa_engine.tracking.weights import (
    StateDictCheckpoint,
    WeightSnapshot,
    model_state,
    take_snapshot,
)
from mfa_engine.tracking.worker import BackgroundWorker, ProcessWorker

__all__ = ["AnalysisJob", "TrackResult", "Tracker", "analyse_job", "summary_scalars"]

logger = logging.getLogger("mfa_engine.tracking")


@dataclass
class TrackResult:
    """The analysis of one step.

    Attributes:
        step: The training step.
        scalars: ``mfa/<mode>/<name>`` -> value, ready for a trainer's loggers.
        entry: The step's checkpoint entry of the summary document (``mfa batch --summary``).
        seconds: Wall time of the analysis on the worker.
        warnings: Messages of the analysis (rows found already stored).
    """

    step: int
    scalars: dict[str, float]
    entry: dict[str, Any]
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


@dataclass
class AnalysisJob:
    """Everything the analysis of one step needs (picklable: it may go to a worker process).

    Attributes:
        store_dir: The results store.
        run: The run's key in the store.
        options: The ``AnalysisOptions``.
        engine_version: Stored with each row.
        step: The training step.
        snapshot: The copied weights.
    """

    store_dir: Path
    run: str
    options: Any
    engine_version: str
    step: int
    snapshot: WeightSnapshot


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _paired_contrast(entry: Mapping[str, Any], key: str) -> tuple[Any, Any] | None:
    """(value, [lo, hi] or None) of the summary's paired real minus null for ``key``, if any."""
    if key == "emergence":
        if "emergence_contrast" not in entry:
            return None
        return entry.get("emergence_contrast"), entry.get("emergence_contrast_ci")
    block = (entry.get("contrast") or {}).get(key) if isinstance(entry.get("contrast"), Mapping) else None
    if not isinstance(block, Mapping):
        return None
    return block.get("median"), block.get("ci")


def summary_scalars(entry: Mapping[str, Any], mode: str) -> dict[str, float]:
    """Scalars of one summary entry: alpha0, width, E(t), their intervals and the null.

    Args:
        entry: A checkpoint entry of :func:`mfa_engine.batch.summarise_series`.
        mode: The mode (part of each name).

    Returns:
        ``mfa/<mode>/alpha0``, ``.../alpha0_ci_lo``, ``.../alpha0_ci_hi``, the same for
        ``width`` and ``emergence``, ``.../n_samples``; with a null block also ``null_<name>``
        and ``<name>_minus_null`` (real minus null: the paired values of the summary,
        ``contrast`` and ``emergence_contrast``, with ``<name>_minus_null_ci_lo``/``_hi``, where
        the entry has them; else the difference of the two values). Undefined values are left out.
    """
    prefix = f"mfa/{mode}/"
    out: dict[str, float] = {}

    def put(name: str, value: Any) -> None:
        if _finite(value):
            out[prefix + name] = float(value)

    null = entry.get("null") if isinstance(entry.get("null"), Mapping) else None
    for key in ("alpha0", "width", "emergence"):
        put(key, entry.get(key))
        ci = entry.get(f"{key}_ci")
        if ci:
            put(f"{key}_ci_lo", ci[0])
            put(f"{key}_ci_hi", ci[1])
        if null is not None:
            put(f"null_{key}", null.get(key))
            paired = _paired_contrast(entry, key)
            if paired is not None:
                put(f"{key}_minus_null", paired[0])
                if paired[1]:
                    put(f"{key}_minus_null_ci_lo", paired[1][0])
                    put(f"{key}_minus_null_ci_hi", paired[1][1])
            elif _finite(entry.get(key)) and _finite(null.get(key)):
                put(f"{key}_minus_null", entry[key] - null[key])
    put("n_samples", entry.get("n_samples"))
    return out


class Tracker:
    """Analyses the weights of one training run into a results store, in the background.

    Args:
        store: Results store directory (the store of ``mfa batch``; created if missing).
        options: ``AnalysisOptions`` or a mapping of option names (default: the defaults of
            ``mfa analyze``); its ``mode``, ``samples`` and ``seed`` are used as given.
        run: The run's key in the store (the ``checkpoint`` column); rows are keyed by run and
            step, so a step already stored for this run is not recomputed.
        config: The model's config dict, for a model without ``.config``.
        max_pending: Hand-overs that may wait behind the running analysis; a step beyond that
            is skipped with a warning.
        worker: ``"thread"`` (a thread of this process) or ``"process"`` (one spawned worker
            process: the analysis never holds this process's GIL; its first job pays the
            process start and imports).

    Raises:
        ConfigError: Invalid options.
        StoreError: The store holds results of another configuration for the mode.
    """

    def __init__(self, store: str | Path, options: Any = None, *, run: str,
                 config: Mapping[str, Any] | None = None, max_pending: int = 1,
                 worker: str = "thread") -> None:
        if worker not in ("thread", "process"):
            raise ConfigError(f"worker must be 'thread' or 'process', got {worker!r}")
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 0:
            raise ConfigError(f"max_pending must be an integer >= 0, got {max_pending!r}")
        self.options = as_options(options)
        self.mode = self.options.mode
        self.store_dir = Path(store)
        self.run = str(run)
        self.engine_version = __version__
        self._config = None if config is None else dict(config)
        self._mode_config = self.options.config()
        with ResultsStore(self.store_dir) as st:  # fail now on a store of another configuration
            self.config_hash = st.ensure_config(self.mode, self._mode_config, engine_version=__version__)
        self.failures: list[tuple[int, str]] = []
        self.skipped: list[int] = []
        self.analysed: list[int] = []
        self.handover_seconds: list[float] = []
        self._results: collections.deque[TrackResult] = collections.deque()
        self._plan_key: Any = None
        self._requests: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False
        kind = BackgroundWorker if worker == "thread" else ProcessWorker
        self._worker = kind(analyse_job, max_pending=max_pending, on_result=self._finished,
                            on_error=self._job_failed)

    # ----------------------------------------------------------------- training thread
    def submit(self, model: Any, step: int) -> bool:
        """Hand the current weights of ``model`` over for analysis at ``step``; never raises.

        Args:
            model: The model (``torch.nn.Module``, wrappers allowed) or a state-dict mapping.
            step: The training step of the weights.

        Returns:
            True if queued; False if skipped (worker behind, tracker closed) or failed (logged).
        """
        step = int(step)
        if self._closed:
            return False
        if not self._worker.has_room():
            self.skipped.append(step)
            logger.warning("mfa tracking: step %d of run %s skipped: the analysis of an earlier step is "
                           "still running (max_pending=%d)", step, self.run, self._worker.max_pending)
            return False
        t0 = time.perf_counter()
        try:
            tensors, config = model_state(model, self._config)
            source = StateDictCheckpoint(tensors, config, path=self.run, step=step)
            snapshot = take_snapshot(source, self._plan(source))
        except Exception as exc:  # noqa: BLE001 - a failed analysis never stops training
            self._record_failure(step, exc)
            return False
        finally:
            self.handover_seconds.append(time.perf_counter() - t0)
        job = AnalysisJob(self.store_dir, self.run, self.options, self.engine_version, step, snapshot)
        if not self._worker.submit(job):
            self.skipped.append(step)
            logger.warning("mfa tracking: step %d of run %s skipped: the worker is behind", step, self.run)
            return False
        return True

    def _plan(self, source: StateDictCheckpoint) -> list[Any]:
        """The recorded reads of the analysis (recorded once per model shape)."""
        names = source.keys()
        key = (source.model_type, tuple((k, source.shape(k)) for k in names))
        if key != self._plan_key:
            plan = get_mode(self.mode).plan
            self._requests = record_requests(source, [lambda rec: plan(rec, self.options.seeds, self.options)])
            self._plan_key = key
        return self._requests

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def poll(self) -> list[TrackResult]:
        """The analyses finished since the last call, in the order they finished."""
        out = []
        while self._results:
            out.append(self._results.popleft())
        return out

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the queued analyses are done; True if done within ``timeout``."""
        return self._worker.wait(timeout)

    def close(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop accepting steps; finish the queued analyses first when ``wait``."""
        self._closed = True
        self._worker.close(wait=wait, timeout=timeout)

    # ----------------------------------------------------------------- worker side
    def _finished(self, job: AnalysisJob, result: TrackResult) -> None:
        for text in result.warnings:
            logger.warning("mfa tracking: %s", text)
        with self._lock:
            self.analysed.append(job.step)
        self._results.append(result)
        e = result.entry
        logger.info("mfa tracking: run %s step %d analysed in %.1f s (alpha0 %.4g, width %.4g, E %s)",
                    self.run, job.step, result.seconds, e["alpha0"], e["width"], e["emergence"])

    def _job_failed(self, job: AnalysisJob, exc: BaseException) -> None:
        self._record_failure(job.step, exc)

    def _record_failure(self, step: int, exc: BaseException) -> None:
        text = str(exc) if isinstance(exc, MFAError) else f"{type(exc).__name__}: {exc}"
        with self._lock:
            self.failures.append((step, text))
        logger.error("mfa tracking: analysis of run %s step %d failed (training goes on): %s",
                     self.run, step, text, exc_info=not isinstance(exc, MFAError))


def analyse_job(job: AnalysisJob) -> TrackResult:
    """Analyse one hand-over into the store and summarise the run so far (worker side).

    Seeds already stored for (run, step) under the configuration are not recomputed. E(t) is
    measured from the run's first stored step.

    Returns:
        The step's :class:`TrackResult`.
    """
    t0 = time.perf_counter()
    opts, mode = job.options, job.options.mode
    config = opts.config()
    warnings: list[str] = []
    with ResultsStore(job.store_dir) as st:
        chash = st.ensure_config(mode, config, engine_version=job.engine_version)
        done = st.done_seeds(job.run, job.step, mode, chash)

        def emit(rec: dict) -> None:
            row = {"checkpoint": job.run, "step": job.step, "mode": mode, "seed": int(rec["seed"]),
                   "config_hash": chash, "record": rec, "engine_version": job.engine_version}
            if not st.append(row):
                warnings.append(f"run {job.run} step {job.step} seed {row['seed']} was already in "
                                f"{job.store_dir}; kept the stored row")

        seeds = [s for s in opts.seeds if s not in done]
        if seeds:
            get_mode(mode).run(job.snapshot, seeds, opts, emit)
        wanted = set(opts.seeds)
        rows = [r for r in st.rows(mode, chash, checkpoint=job.run) if r["seed"] in wanted]
    first = min(r["step"] for r in rows)
    order = [(job.run, s) for s in dict.fromkeys([first, job.step])]
    doc = summarise_series([r for r in rows if r["step"] in (first, job.step)], engine_version=job.engine_version,
                           mode=mode, config=config, computed=0, skipped=0, checkpoints=order)
    entry = doc["checkpoints"][-1]
    return TrackResult(job.step, summary_scalars(entry, mode), entry, time.perf_counter() - t0, warnings)
