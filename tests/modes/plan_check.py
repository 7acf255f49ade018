"""Helper of the mode tests: the reads a mode's run() makes against those its plan() records."""

from __future__ import annotations

from typing import Any

import numpy as np

from mfa_engine.checkpoints.prefetch import RecordingCheckpoint


class PassThroughRecorder(RecordingCheckpoint):
    """Records every read_block request and serves it from the wrapped checkpoint."""

    def read_block(self, name: str, rows: Any, cols: Any) -> np.ndarray:
        super().read_block(name, rows, cols)
        return self._ckpt.read_block(name, rows, cols)


def as_keys(requests: list) -> list[tuple[str, tuple[int, ...], tuple[int, ...]]]:
    return [(n, tuple(int(x) for x in r), tuple(int(x) for x in c)) for n, r, c in requests]


def planned_and_run(mode: Any, ckpt: Any, seeds: list[int], options: Any) -> tuple[list, list, list]:
    """(requests of plan, requests of run, records of run)."""
    planner = RecordingCheckpoint(ckpt)
    mode.plan(planner, seeds, options)
    runner = PassThroughRecorder(ckpt)
    records, _ = mode.run(runner, seeds, options)
    return as_keys(planner.requests), as_keys(runner.requests), records
