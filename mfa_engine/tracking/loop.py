"""``mfa_engine.track(model, step, store=..., options=...)``: tracking from a bare PyTorch loop.

One :class:`~mfa_engine.tracking.tracker.Tracker` is kept per (store, run) for the life of the
process (closed at exit, after its queued analyses); each call hands the model's current
weights to it. Only rank 0 of a distributed run analyses: on any other rank the call does
nothing and returns None.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mfa_engine.api import as_options
from mfa_engine.errors import ConfigError
from mfa_engine.tracking.tracker import Tracker

__all__ = ["close_all", "process_rank", "track"]

_TRACKERS: dict[tuple[str, str], Tracker] = {}
_LOCK = threading.Lock()


def process_rank() -> int:
    """Rank of this process: ``torch.distributed`` when initialised, else ``$RANK``, else 0."""
    dist = getattr(sys.modules.get("torch"), "distributed", None)  # never imports torch itself
    if dist is not None and dist.is_available() and dist.is_initialized():
        return int(dist.get_rank())
    try:
        return int(os.environ.get("RANK", "0") or 0)
    except ValueError:
        raise ConfigError(f"environment variable RANK must be an integer, got {os.environ['RANK']!r}") from None


def _run_name(model: Any) -> str:
    inner = getattr(model, "_orig_mod", None) or getattr(model, "module", None) or model
    config = getattr(inner, "config", None)
    name = getattr(config, "name_or_path", "") or ""
    return name or type(inner).__name__


def track(model: Any, step: int, store: str | Path, options: Any = None, *, run: str | None = None,
          config: Mapping[str, Any] | None = None, max_pending: int = 1,
          worker: str = "thread") -> Tracker | None:
    """Hand the current weights of ``model`` at ``step`` to a background analysis.

    Returns at once: the training thread only copies the rows and columns the analysis reads.
    Results go to ``store`` (one row per sample, keyed by ``run`` and ``step``; ``mfa plot
    STORE`` and the batch summaries read them). A step is skipped with a logged warning when
    ``max_pending`` earlier steps still wait; a failed analysis is logged, never raised.

    Args:
        model: A ``torch.nn.Module`` of a supported architecture (a transformers model, or any
            module with the same parameter names given ``config``); DDP and ``torch.compile``
            wrappers are unwrapped.
        step: The training step.
        store: Results store directory.
        options: ``AnalysisOptions`` or a mapping of option names (default: ``mfa analyze``'s).
        run: The run's key in the store; default the model's ``name_or_path`` or class name
            (give each run its own name: a step already stored for a run is not recomputed).
        config: The model's config dict when the module has no ``.config``.
        max_pending: Hand-overs that may wait behind the running analysis.
        worker: ``"thread"`` or ``"process"`` (see :class:`Tracker`); used by the first call
            for a run.

    Returns:
        The run's :class:`Tracker` (``wait()``, ``poll()``, ``close()``, ``failures``), or None
        on a rank other than 0.

    Raises:
        ConfigError: Invalid options, or options other than the first call's for this run.
        StoreError: The store holds another configuration of the mode.
    """
    if process_rank() != 0:
        return None
    name = run if run is not None else _run_name(model)
    key = (str(Path(store).expanduser().resolve()), name)
    with _LOCK:
        tracker = _TRACKERS.get(key)
        if tracker is None:
            tracker = Tracker(store, options, run=name, config=config, max_pending=max_pending, worker=worker)
            _TRACKERS[key] = tracker
        elif options is not None:
            if as_options(options) != tracker.options:
                raise ConfigError(f"track(): run {name!r} in {store} is already tracked with other "
                                  "options; use another run name or store")
    tracker.submit(model, step)
    return tracker


def close_all(wait: bool = True) -> None:
    """Close every tracker made by :func:`track` (after their queued analyses when ``wait``)."""
    with _LOCK:
        trackers = list(_TRACKERS.values())
        _TRACKERS.clear()
    for t in trackers:
        t.close(wait=wait)


atexit.register(close_all)
