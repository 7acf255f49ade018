"""Batch analysis of checkpoint series: resumable results store, executors, summaries.

``run_batch(checkpoints, store, options={"reference": {...}}, samples=10)`` analyses every
checkpoint of a series (one streamed read per checkpoint serves all its samples and modes),
appends one row per (checkpoint, mode, seed) to an SQLite results store, skips what is already
stored, and returns a report with the summary document of each mode. Modules:

    series.py     CHECKPOINT arguments -> checkpoints ordered by step
    store.py      ResultsStore (SQLite WAL, append-only, config hash, CSV/JSON export)
    prefetch.py   one read of a checkpoint serving all samples and modes
    tasks.py      Task and compute_task (one checkpoint)
    executors.py  in-process, local process pool, Ray
    progress.py   progress bars / log lines
    summary.py    summary JSON and emergence over the series
    runner.py     run_batch
"""

from __future__ import annotations

from mfa_engine.batch.runner import MODES, BatchReport, mode_config, run_batch
from mfa_engine.batch.series import CheckpointSpec, expand_series
from mfa_engine.batch.store import ResultsStore, config_hash
from mfa_engine.batch.summary import series_emergence, summarise_series

__all__ = [
    "MODES",
    "BatchReport",
    "CheckpointSpec",
    "ResultsStore",
    "config_hash",
    "expand_series",
    "mode_config",
    "run_batch",
    "series_emergence",
    "summarise_series",
]
