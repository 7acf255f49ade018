"""Batch runs: plan the missing (checkpoint, mode, seed) samples, execute, store, summarise.

The plan is every (checkpoint, mode, seed) of the request minus the rows already in the store
under the same configuration; each checkpoint with missing samples becomes one task (one
streamed read serves all its samples and modes). Rows are appended to the store as samples
finish, so a killed run loses at most the samples in flight and a re-run computes only those.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mfa_engine import __version__
from mfa_engine.batch.executors import InlineExecutor
from mfa_engine.batch.identity import local_fingerprint, pin_commit
from mfa_engine.batch.progress import BatchProgress
from mfa_engine.batch.series import CheckpointSpec, expand_series
from mfa_engine.batch.store import ResultsStore
from mfa_engine.batch.summary import summarise_series
from mfa_engine.batch.tasks import Task, TaskResult
from mfa_engine.checkpoint_analysis import as_options
from mfa_engine.errors import ConfigError, MFAError
from mfa_engine.options import MODES

__all__ = ["BatchReport", "run_batch", "plan_tasks", "mode_config", "MODES"]

#: Options run_batch sets itself (from ``samples`` and ``seed``), refused in an options mapping.
_RESERVED = ("mode", "samples", "seed")


def mode_config(mode: str, options: Any) -> dict[str, Any]:
    """The configuration of ``mode`` recorded in the store and hashed into the row keys.

    Args:
        mode: ``"paper"`` or ``"reference"``.
        options: ``AnalysisOptions`` or a mapping of option names.

    Returns:
        ``{"mode": mode, <option>: value}`` for the options that change results in that mode
        (:meth:`AnalysisOptions.config`: the fields whose metadata names the mode; the
        backend, seeds and sample count are not part of it).
    """
    if mode not in MODES:
        raise ConfigError(f"mode must be 'paper' or 'reference', got {mode!r}")
    return as_options(options, mode=mode).config()


def _mode_options(mode: str, opts: Any, samples: int, seed: int) -> Any:
    """The validated options of one mode, with the run's samples and seed."""
    if mode not in MODES:
        raise ConfigError(f"mode must be 'paper' or 'reference', got {mode!r}")
    if isinstance(opts, Mapping):
        bad = sorted(k for k in opts if str(k).replace("-", "_") in _RESERVED)
        if bad:
            raise ConfigError(f"options of {mode} mode must not set {', '.join(bad)} (run_batch sets them)")
    return as_options(opts, mode=mode, samples=samples, seed=seed)


def _series(checkpoints: Iterable[str | CheckpointSpec]) -> list[CheckpointSpec]:
    """The checkpoints of a run, without duplicates, ordered by step."""
    items = list(checkpoints)
    specs = [c for c in items if isinstance(c, CheckpointSpec)]
    args = [str(c) for c in items if not isinstance(c, CheckpointSpec)]
    if args:
        specs += expand_series(args)
    if not specs:
        raise ConfigError("no checkpoints given; expected directories, globs or MODEL@rev1,rev2")
    return sorted({s.key: s for s in specs}.values(), key=lambda s: (s.step is None, s.step or 0, s.key))


@dataclass
class BatchReport:
    """Outcome of :func:`run_batch`.

    Attributes:
        series: The checkpoints, by step.
        computed: Samples computed and stored by this run.
        skipped: Samples already in the store (not recomputed).
        failed: ``{"checkpoint", "step", "error"}`` per failed checkpoint.
        summaries: mode -> summary document (:func:`summarise_series`).
        prefetched: Tasks whose samples were all served from one read.
        bytes_read: Bytes fetched from the Hub by this run (0 for local checkpoints).
    """

    series: list[CheckpointSpec]
    computed: int = 0
    skipped: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    prefetched: int = 0
    bytes_read: int = 0

    @property
    def ok(self) -> bool:
        """True if no checkpoint failed."""
        return not self.failed


def _identify(series: list[CheckpointSpec], store: ResultsStore) -> tuple[list[CheckpointSpec], dict[int, str]]:
    """Pin repo-id checkpoints to their commit and check local fingerprints against the store.

    Returns:
        The series (repo ids pinned) and ``{position: error}`` for the checkpoints refused: the
        Hub could not name the commit, or a local checkpoint changed since its rows were stored.
    """
    out, errors = [], {}
    for i, spec in enumerate(series):
        try:
            spec = pin_commit(spec)
        except MFAError as exc:
            errors[i] = str(exc)
        out.append(spec)
        if i in errors:
            continue
        fp = local_fingerprint(spec)
        if fp is None:
            continue
        old = store.identity(spec.key, spec.step)
        if old is not None and old != fp and store.has_rows(spec.key, spec.step):
            errors[i] = (f"checkpoint {spec.key} changed since its {store.has_rows(spec.key, spec.step)} "
                         "stored samples were computed (size, mtime or header of its files differ); "
                         "its results were not reused: use a new --store, or restore the files")
        elif old != fp:
            store.set_identity(spec.key, spec.step, fp)
    return out, errors


def plan_tasks(series: Sequence[CheckpointSpec], store: ResultsStore, seeds: Sequence[int],
               options: dict[str, Any], hashes: dict[str, str],
               engine_version: str = "", exclude: Collection[int] = ()) -> tuple[list[Task], int]:
    """Tasks for the samples not yet stored (checkpoints at the positions ``exclude`` left out).

    Returns:
        ``(tasks, skipped)``: one task per checkpoint with missing samples, and the number of
        requested samples already in the store.
    """
    tasks, skipped = [], 0
    for i, spec in enumerate(series):
        if i in exclude:
            continue
        missing: dict[str, list[int]] = {}
        for mode in options:
            done = store.done_seeds(spec.key, spec.step, mode, hashes[mode])
            todo = [s for s in seeds if s not in done]
            skipped += len(seeds) - len(todo)
            if todo:
                missing[mode] = todo
        if missing:
            tasks.append(Task(i, spec, missing, {m: options[m] for m in missing},
                              {m: hashes[m] for m in missing}, engine_version))
    return tasks, skipped


def run_batch(
    checkpoints: Iterable[str | CheckpointSpec],
    store: str | Path | ResultsStore,
    *,
    options: dict[str, Any],
    samples: int = 10,
    seed: int = 0,
    force: bool = False,
    executor: Any = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> BatchReport:
    """Analyse a checkpoint series into a results store; resumable.

    Args:
        checkpoints: CHECKPOINT arguments (see :func:`expand_series`) or specs.
        store: Store directory or an open store.
        options: mode -> ``AnalysisOptions`` or a mapping of option names (without mode,
            samples, seed); one entry per mode to run.
        samples: Samples per checkpoint (seeds ``seed .. seed + samples - 1``).
        seed: First seed.
        force: Accept a store made with another configuration (the new one becomes current).
        executor: From :func:`mfa_engine.batch.executors.make_executor` (default in-process).
        progress: Show progress bars (else log lines go to ``log``).
        log: Line sink for log lines (default stderr); None and no bars prints to stderr.

    Returns:
        The :class:`BatchReport` (with a summary per mode).

    Raises:
        ConfigError: Bad options or checkpoints.
        StoreError: The store belongs to another configuration (without ``force``).
    """
    if not options:
        raise ConfigError("run_batch: no mode given; options must map 'paper'/'reference' to options")
    options = {m: _mode_options(m, o, samples, seed) for m, o in options.items()}
    seeds = next(iter(options.values())).seeds
    series = _series(checkpoints)
    own = not isinstance(store, ResultsStore)
    st = ResultsStore(store) if own else store
    try:
        configs = {m: o.config() for m, o in options.items()}
        hashes = {m: st.ensure_config(m, configs[m], force=force, engine_version=__version__)
                  for m in options}
        series, refused = _identify(series, st)
        tasks, skipped = plan_tasks(series, st, seeds, options, hashes, __version__, exclude=refused)
        report = BatchReport(series, skipped=skipped)
        report.failed += [{"checkpoint": series[i].key, "step": series[i].step, "error": e}
                          for i, e in refused.items()]
        stored = {t.index: 0 for t in tasks}
        index_of = {t.spec.key: t.index for t in tasks}
        prog = BatchProgress(tasks, bars=progress, log=log)

        def on_row(row: dict[str, Any]) -> None:
            if st.append(row):
                report.computed += 1
                stored[index_of[row["checkpoint"]]] += 1
            else:  # stored meanwhile by a concurrent run: counted as found in the store
                report.skipped += 1
            prog.sample(index_of[row["checkpoint"]])

        def on_done(res: TaskResult) -> None:
            spec = series[res.index]
            report.prefetched += int(res.prefetched)
            report.bytes_read += res.bytes_read
            if res.bytes_total:
                st.record_read(spec.key, spec.step, res.bytes_read, res.bytes_total)
            if res.error is not None:
                report.failed.append({"checkpoint": spec.key, "step": spec.step, "error": res.error})
            prog.finished(res, stored[res.index])

        try:
            (executor or InlineExecutor()).run(tasks, on_row, on_done)
        finally:
            prog.close()
        order = [(s.key, s.step) for s in series]
        for mode in options:
            report.summaries[mode] = summarise_series(
                st.rows(mode, hashes[mode]), engine_version=__version__, mode=mode,
                config=configs[mode], computed=report.computed, skipped=report.skipped,
                checkpoints=order, seeds=seeds, failed=report.failed,
            )
        return report
    finally:
        if own:
            st.close()
