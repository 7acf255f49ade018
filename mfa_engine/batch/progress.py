"""Progress of a batch run: an overall bar with ETA, one bar per running checkpoint, or log lines."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from mfa_engine.batch.tasks import Task, TaskResult
from mfa_engine.progress import progress_bar

__all__ = ["BatchProgress"]


class BatchProgress:
    """Progress display of a batch run.

    With ``bars`` (a terminal), tqdm shows the samples done overall (with ETA) and one bar per
    checkpoint being computed. Without bars, one log line per finished checkpoint is written,
    which suits log files.

    Args:
        tasks: The tasks of the run.
        bars: Show tqdm bars (on stderr).
        log: Line sink for the log mode (default: stderr).
    """

    def __init__(self, tasks: list[Task], bars: bool, log: Callable[[str], None] | None = None) -> None:
        self.tasks = {t.index: t for t in tasks}
        self.total = sum(t.n_samples for t in tasks)
        self.bars = bars
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.done_tasks = 0
        self.done_samples = 0
        self.t0 = time.perf_counter()
        self._bar: Any = None
        self._ckpt_bars: dict[int, Any] = {}
        if bars:
            self._bar = progress_bar(self.total, f"{len(tasks)} checkpoints", True, leave=True,
                                     position=0, dynamic_ncols=True)

    def sample(self, task_index: int) -> None:
        """One sample of ``task_index`` finished."""
        self.done_samples += 1
        if not self.bars:
            return
        bar = self._ckpt_bars.get(task_index)
        if bar is None:
            task = self.tasks[task_index]
            bar = progress_bar(task.n_samples, f"  {task.spec.label}", True,
                               position=1 + len(self._ckpt_bars), dynamic_ncols=True)
            self._ckpt_bars[task_index] = bar
        bar.update(1)
        self._bar.update(1)

    def finished(self, result: TaskResult, n_rows: int) -> None:
        """A task finished (``n_rows`` of its samples were stored)."""
        self.done_tasks += 1
        task = self.tasks[result.index]
        bar = self._ckpt_bars.pop(result.index, None)
        if bar is not None:
            bar.close()
        missing = task.n_samples - n_rows
        if self._bar is not None and missing > 0:
            self._bar.total -= missing  # failed samples will not come
            self._bar.refresh()
        head = f"[{self.done_tasks}/{len(self.tasks)}] {task.spec.label} ({task.spec.key})"
        if result.error is not None:
            line = f"{head}: FAILED after {n_rows} samples: {result.error}"
        else:
            line = f"{head}: {n_rows} samples in {result.seconds:.2f} s"
        if self.bars:
            self._bar.write(line, file=sys.stderr)
        else:
            elapsed = time.perf_counter() - self.t0
            eta = elapsed / max(self.done_samples, 1) * (self.total - self.done_samples)
            self.log(f"{line}; overall {self.done_samples}/{self.total} samples, "
                     f"{elapsed:.1f} s elapsed, ETA {eta:.1f} s")

    def close(self) -> None:
        """Close all bars."""
        for bar in self._ckpt_bars.values():
            bar.close()
        if self._bar is not None:
            self._bar.close()
