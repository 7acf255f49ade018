"""Multifractal analysis of a model while it trains (docs/tracking.md).

    track(model, step, store=..., options=...)   bare PyTorch loop (rank 0 only)
    MFACallback(store, options, ...)             transformers.Trainer callback (imports
                                                 transformers on first access)
    Tracker                                      one run: hand-over, background analysis, store
    StateDictCheckpoint                          live weights behind the checkpoint read contract

Modules: weights.py (state-dict reader, snapshots), worker.py (bounded background thread or process),
tracker.py (Tracker, scalars), loop.py (track), callback.py (MFACallback).
"""

from __future__ import annotations

from typing import Any

from mfa_engine.tracking.loop import close_all, process_rank, track
from mfa_engine.tracking.tracker import Tracker, TrackResult, summary_scalars
from mfa_engine.tracking.weights import (
    StateDictCheckpoint,
    WeightSnapshot,
    take_snapshot,
)

__all__ = [
    "MFACallback",
    "StateDictCheckpoint",
    "TrackResult",
    "Tracker",
    "WeightSnapshot",
    "close_all",
    "process_rank",
    "summary_scalars",
    "take_snapshot",
    "track",
]


def __getattr__(name: str) -> Any:
    if name == "MFACallback":  # imports transformers: only on first use
        from mfa_engine.tracking.callback import MFACallback

        globals()[name] = MFACallback
        return MFACallback
    raise AttributeError(f"module 'mfa_engine.tracking' has no attribute {name!r}")
