"""A background worker thread with a bounded queue: jobs beyond the bound are refused.

The training thread hands over a job with :meth:`BackgroundWorker.submit`, which never blocks:
when ``max_pending`` jobs already wait behind the running one the job is refused (the caller
skips that step and says so). A job that raises is logged and the worker goes on.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable

__all__ = ["BackgroundWorker"]

logger = logging.getLogger("mfa_engine.tracking")

_STOP = object()


class BackgroundWorker:
    """One daemon thread running ``handle(job)`` for each submitted job, in order.

    Args:
        handle: Called on the worker thread with each job. An exception is passed to
            ``on_error(job, exc)`` (default: logged) and never stops the worker.
        max_pending: Jobs that may wait behind the running one (>= 0).
        on_error: Called with ``(job, exc)`` when ``handle`` raises.
        name: Thread name.
    """

    def __init__(self, handle: Callable[[Any], None], *, max_pending: int = 1,
                 on_error: Callable[[Any, BaseException], None] | None = None,
                 name: str = "mfa-tracking") -> None:
        if max_pending < 0:
            raise ValueError(f"max_pending must be >= 0, got {max_pending}")
        self._handle = handle
        self._on_error = on_error
        self._max_pending = max_pending
        self._queue: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        self._waiting = 0  # jobs queued, not yet started
        self._running = False
        self._idle = threading.Condition(self._lock)
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Any) -> bool:
        """Queue a job unless ``max_pending`` jobs already wait; never blocks.

        Returns:
            True if queued, False if refused (the worker is behind, or closed).
        """
        with self._lock:
            if self._closed or not self.has_room():
                return False
            self._waiting += 1
        self._queue.put(job)
        return True

    @property
    def max_pending(self) -> int:
        """Jobs that may wait behind the running one."""
        return self._max_pending

    def has_room(self) -> bool:
        """True if a job submitted now would be accepted."""
        busy = self._waiting + (1 if self._running else 0)
        return busy <= self._max_pending

    @property
    def idle(self) -> bool:
        """True when no job runs or waits."""
        with self._lock:
            return not self._running and self._waiting == 0

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every submitted job has finished.

        Returns:
            True if idle, False when ``timeout`` seconds passed first.
        """
        with self._idle:
            return self._idle.wait_for(lambda: not self._running and self._waiting == 0, timeout)

    def close(self, wait: bool = True, timeout: float | None = None) -> None:
        """Refuse new jobs and stop the thread (after the queued jobs when ``wait``)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if not wait:  # drop the jobs that have not started
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
                with self._lock:
                    self._waiting -= 1
        self._queue.put(_STOP)
        if wait:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                with self._idle:
                    self._idle.notify_all()
                return
            with self._lock:
                self._waiting -= 1
                self._running = True
            try:
                self._handle(job)
            except Exception as exc:  # noqa: BLE001 - a failed job must never stop training
                if self._on_error is not None:
                    try:
                        self._on_error(job, exc)
                    except Exception:  # noqa: BLE001
                        logger.exception("mfa tracking: error handler failed")
                else:
                    logger.exception("mfa tracking: background job failed")
            finally:
                with self._idle:
                    self._running = False
                    self._idle.notify_all()
