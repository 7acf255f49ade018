"""BackgroundWorker: order, the bound on waiting jobs, failures, close."""

from __future__ import annotations

import threading

import pytest

from mfa_engine.tracking.worker import BackgroundWorker


def test_jobs_run_in_order_and_the_queue_is_bounded():
    gate = threading.Event()
    done: list[int] = []

    def handle(job: int) -> None:
        gate.wait(10)
        done.append(job)

    w = BackgroundWorker(handle, max_pending=1)
    assert w.submit(1)  # runs (blocked on the gate)
    assert w.submit(2)  # waits behind it
    assert not w.has_room()
    assert not w.submit(3)  # refused, never queued
    assert not w.idle
    gate.set()
    assert w.wait(10) and w.idle
    assert done == [1, 2]
    assert w.submit(4) and w.wait(10) and done == [1, 2, 4]
    w.close()
    assert not w.submit(5)


def test_max_pending_zero_accepts_only_when_idle():
    gate = threading.Event()
    w = BackgroundWorker(lambda job: gate.wait(10), max_pending=0)
    assert w.submit("a") and not w.submit("b")
    gate.set()
    assert w.wait(10) and w.submit("c")
    w.close()
    with pytest.raises(ValueError, match="max_pending"):
        BackgroundWorker(lambda job: None, max_pending=-1)


def test_a_failing_job_is_reported_and_the_worker_goes_on():
    errors: list[tuple[int, str]] = []
    done: list[int] = []

    def handle(job: int) -> None:
        if job == 1:
            raise RuntimeError("boom")
        done.append(job)

    w = BackgroundWorker(handle, on_error=lambda job, exc: errors.append((job, str(exc))))
    for job in (1, 2):
        assert w.submit(job)
        w.wait(10)
    w.close()
    assert errors == [(1, "boom")] and done == [2]


def test_close_without_wait_drops_queued_jobs():
    gate, started = threading.Event(), threading.Event()
    done: list[int] = []

    def handle(job: int) -> None:
        started.set()
        gate.wait(10)
        done.append(job)

    w = BackgroundWorker(handle, max_pending=2)
    assert w.submit(1) and w.submit(2) and w.submit(3)
    assert started.wait(10)
    w.close(wait=False)
    gate.set()
    w._thread.join(10)
    assert done == [1]


def test_process_worker_runs_jobs_in_a_process_and_reports_errors():
    import math

    from mfa_engine.tracking.worker import ProcessWorker

    results: list[tuple[int, int]] = []
    errors: list[tuple[int, str]] = []
    w = ProcessWorker(math.factorial, max_pending=1, on_result=lambda job, r: results.append((job, r)),
                      on_error=lambda job, exc: errors.append((job, type(exc).__name__)))
    for job in (5, -1, 6):
        assert w.submit(job)
        assert w.wait(120)
    assert w.idle and results == [(5, 120), (6, 720)] and errors == [(-1, "ValueError")]
    w.close()
    assert not w.submit(3)
