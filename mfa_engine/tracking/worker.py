"""Background workers with a bounded queue: jobs beyond the bound are refused.

The training thread hands over a job with ``submit``, which never blocks: when ``max_pending``
jobs already wait behind the running one the job is refused (the caller skips that step and
says so). A job that raises is reported to ``on_error`` and the worker goes on.
:class:`BackgroundWorker` runs the jobs on a thread of the process; :class:`ProcessWorker` in
one spawned worker process (``handle`` and the jobs must then be picklable), away from the
training process's GIL.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

__all__ = ["BackgroundWorker", "ProcessWorker"]

logger = logging.getLogger("mfa_engine.tracking")

_STOP = object()


class BackgroundWorker:
    """One daemon thread running ``handle(job)`` for each submitted job, in order.

    Args:
        handle: Called on the worker thread with each job. An exception is passed to
            ``on_error(job, exc)`` (default: logged) and never stops the worker.
        max_pending: Jobs that may wait behind the running one (>= 0).
        on_result: Called on the worker thread with ``(job, result)`` after ``handle`` returns.
        on_error: Called with ``(job, exc)`` when ``handle`` or ``on_result`` raises.
        name: Thread name.
    """

    def __init__(self, handle: Callable[[Any], Any], *, max_pending: int = 1,
                 on_result: Callable[[Any, Any], None] | None = None,
                 on_error: Callable[[Any, BaseException], None] | None = None,
                 name: str = "mfa-tracking") -> None:
        if max_pending < 0:
            raise ValueError(f"max_pending must be >= 0, got {max_pending}")
        self._handle = handle
        self._on_result = on_result
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
                result = self._handle(job)
                if self._on_result is not None:
                    self._on_result(job, result)
            except Exception as exc:  # noqa: BLE001 - a failed job must never stop training
                _report(self._on_error, job, exc)
            finally:
                with self._idle:
                    self._running = False
                    self._idle.notify_all()


def _report(on_error: Callable[[Any, BaseException], None] | None, job: Any, exc: BaseException) -> None:
    if on_error is None:
        logger.error("mfa tracking: background job failed", exc_info=exc)
        return
    try:
        on_error(job, exc)
    except Exception:
        logger.exception("mfa tracking: error handler failed")


class ProcessWorker:
    """One spawned worker process running ``handle(job)`` for each submitted job, in order.

    Same interface as :class:`BackgroundWorker`; ``handle`` must be a module-level function and
    jobs and results picklable. ``on_result`` and ``on_error`` run in this process (on the
    executor's thread). A worker process that dies fails its job (reported to ``on_error``) and
    the next job starts a new process.

    Args:
        handle: Module-level function run in the worker process with each job.
        max_pending: Jobs that may wait behind the running one (>= 0).
        on_result: Called with ``(job, result)``.
        on_error: Called with ``(job, exc)`` when the job raised or its process died.
    """

    def __init__(self, handle: Callable[[Any], Any], *, max_pending: int = 1,
                 on_result: Callable[[Any, Any], None] | None = None,
                 on_error: Callable[[Any, BaseException], None] | None = None) -> None:
        if max_pending < 0:
            raise ValueError(f"max_pending must be >= 0, got {max_pending}")
        self._handle = handle
        self._on_result = on_result
        self._on_error = on_error
        self._max_pending = max_pending
        self._cond = threading.Condition()
        self._outstanding = 0
        self._closed = False
        self._pool: Any = None

    @property
    def max_pending(self) -> int:
        """Jobs that may wait behind the running one."""
        return self._max_pending

    def has_room(self) -> bool:
        """True if a job submitted now would be accepted."""
        return self._outstanding <= self._max_pending

    @property
    def idle(self) -> bool:
        """True when no job runs or waits."""
        with self._cond:
            return self._outstanding == 0

    def _executor(self) -> Any:
        if self._pool is not None and getattr(self._pool, "_broken", False):  # its process died
            self._pool.shutdown(wait=False)
            self._pool = None
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    def submit(self, job: Any) -> bool:
        """Send a job to the worker process unless ``max_pending`` jobs already wait.

        Returns:
            True if sent, False if refused (the worker is behind, or closed).
        """
        with self._cond:
            if self._closed or not self.has_room():
                return False
            self._outstanding += 1
        try:
            future = self._executor().submit(self._handle, job)
        except Exception as exc:  # noqa: BLE001 - e.g. the worker process cannot start: reported
            self._finish(job, None, exc)
            return True
        future.add_done_callback(lambda f, job=job: self._done(job, f))
        return True

    def _done(self, job: Any, future: Any) -> None:
        exc = future.exception()
        self._finish(job, None if exc is not None else future.result(), exc)

    def _finish(self, job: Any, result: Any, exc: BaseException | None) -> None:
        try:
            if exc is None and self._on_result is not None:
                self._on_result(job, result)
        except Exception as err:  # noqa: BLE001 - reported below like a failed job
            exc = err
        try:
            if exc is not None:
                _report(self._on_error, job, exc)
        finally:
            with self._cond:
                self._outstanding -= 1
                self._cond.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every submitted job has finished; True if idle within ``timeout``."""
        with self._cond:
            return self._cond.wait_for(lambda: self._outstanding == 0, timeout)

    def close(self, wait: bool = True, timeout: float | None = None) -> None:
        """Refuse new jobs and stop the worker process (after the sent jobs when ``wait``)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
        if wait:
            self.wait(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=not wait)
