"""``MFACallback``: multifractal analysis of a ``transformers.Trainer`` run while it trains.

Importing this module imports transformers (``mfa_engine.MFACallback`` and
``mfa_engine.tracking.MFACallback`` load it lazily, on first use).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from mfa_engine.api import as_options
from mfa_engine.errors import ConfigError
from mfa_engine.tracking.tracker import Tracker, TrackResult

__all__ = ["MFACallback"]

logger = logging.getLogger("mfa_engine.tracking")


def _find_trainer(callback: Any) -> Any:
    """The ``Trainer`` whose callback handler holds ``callback``, found on the calling stack."""
    frame = sys._getframe(1)
    while frame is not None:
        obj = frame.f_locals.get("self")
        handler = getattr(obj, "callback_handler", None)
        if handler is not None and callback in getattr(handler, "callbacks", ()) and hasattr(obj, "log"):
            return obj
        frame = frame.f_back
    return None


class MFACallback(TrainerCallback):
    """Analyses the model's weights on each save (and/or every N steps) without holding up training.

    Each trigger hands the sampled rows and columns of the current weights (read from the live
    state dict: nothing is written to disk, the whole model is not copied) to a background
    worker that runs the analysis of ``mfa analyze`` with ``options`` and appends the rows to
    ``store`` (the results store of ``mfa batch``, keyed by run and step). Finished analyses are
    logged through ``Trainer.log`` at the analysed step: alpha0, width and E(t) with 95%
    intervals (``mfa/<mode>/...``; the transformers reporters prefix ``train/``), and the real
    minus null values when ``options.null`` is set. They thus reach TensorBoard, W&B and
    whatever ``report_to`` names. Only the world-process-zero (rank 0) analyses.

    Args:
        store: Results store directory.
        options: ``AnalysisOptions`` or a mapping of option names (default: ``mfa analyze``'s).
        on_save: Analyse at each checkpoint save.
        every_n_steps: Also analyse every N optimizer steps (None: only on save).
        at_start: Analyse the weights at the start of training (the reference of E(t)).
        run: The run's key in the store; default ``args.run_name``, else the absolute
            ``output_dir``.
        max_pending: Hand-overs that may wait behind the running analysis; a step beyond that
            is skipped with a logged warning.
        wait_at_end: At the last step, wait for the queued analyses and log them.
        worker: ``"thread"`` or ``"process"`` (:class:`~mfa_engine.tracking.tracker.Tracker`).
        trainer: The ``Trainer`` whose ``log`` sends the scalars; found automatically when the
            callback is one of its callbacks.

    Attributes:
        tracker: The run's :class:`~mfa_engine.tracking.tracker.Tracker` (None before training
            starts and on ranks other than 0; closed after training, with its ``failures``,
            ``skipped`` and ``analysed`` steps).
        results: Every :class:`~mfa_engine.tracking.tracker.TrackResult` logged so far.
    """

    def __init__(self, store: str | Path, options: Any = None, *, on_save: bool = True,
                 every_n_steps: int | None = None, at_start: bool = True, run: str | None = None,
                 max_pending: int = 1, wait_at_end: bool = True, worker: str = "thread",
                 trainer: Any = None) -> None:
        if every_n_steps is not None and (isinstance(every_n_steps, bool) or int(every_n_steps) < 1):
            raise ConfigError(f"every_n_steps must be a positive integer or None, got {every_n_steps!r}")
        self.store = Path(store)
        self.options = as_options(options)  # a bad option fails here, before training
        self.on_save_trigger = bool(on_save)
        self.every_n_steps = None if every_n_steps is None else int(every_n_steps)
        self.at_start = bool(at_start)
        self.run = run
        self.max_pending = int(max_pending)
        self.wait_at_end = bool(wait_at_end)
        if worker not in ("thread", "process"):
            raise ConfigError(f"worker must be 'thread' or 'process', got {worker!r}")
        self.worker = worker
        self.trainer = trainer
        self.tracker: Tracker | None = None
        self.results: list[TrackResult] = []
        self._last_step: int | None = None

    # ----------------------------------------------------------------- events
    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        if self.trainer is None:
            self.trainer = _find_trainer(self)
            if self.trainer is None:
                logger.warning("mfa tracking: no Trainer found for MFACallback; results go to the store "
                               "only (pass trainer=)")
        if self.tracker is None or self.tracker.closed:
            run = self.run or getattr(args, "run_name", None) or str(Path(args.output_dir).resolve())
            self.tracker = Tracker(self.store, self.options, run=run, max_pending=self.max_pending,
                                   worker=self.worker)
            self._last_step = None
        if self.at_start:
            self._submit(model, state.global_step)

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if self.tracker is None or self.tracker.closed:
            return
        if self.every_n_steps and state.global_step % self.every_n_steps == 0:
            self._submit(model, state.global_step)
        self._finish_if_last(state)
        self._emit(state)

    def on_save(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if self.tracker is None or self.tracker.closed:
            return
        if self.on_save_trigger:
            self._submit(model, state.global_step)
        self._finish_if_last(state)
        self._emit(state)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.tracker is None or self.tracker.closed:
            return
        if self.wait_at_end:
            self.tracker.wait()
        self._emit(state)
        self.tracker.close(wait=self.wait_at_end)

    # ----------------------------------------------------------------- helpers
    def _submit(self, model: Any, step: int) -> None:
        if model is None or step == self._last_step:
            return
        self._last_step = step
        self.tracker.submit(model, step)

    def _finish_if_last(self, state: Any) -> None:
        if self.wait_at_end and state.max_steps and state.global_step >= state.max_steps:
            self.tracker.wait()

    def _emit(self, state: Any) -> None:
        """Log the finished analyses through ``Trainer.log``, each at its own step."""
        for res in self.tracker.poll():
            self.results.append(res)
            if self.trainer is None or not res.scalars:
                continue
            current = state.global_step
            state.global_step = res.step  # the reporters write at state.global_step
            try:
                self.trainer.log(dict(res.scalars))
            except Exception:
                logger.exception("mfa tracking: logging the analysis of step %d failed", res.step)
            finally:
                state.global_step = current
