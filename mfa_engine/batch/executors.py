"""Executors of batch tasks: in-process, a local process pool, and Ray.

Every executor calls, in the driver process, ``on_row(row)`` for each finished sample and
``on_done(result)`` for each finished task; the driver alone writes the results store.

* ``InlineExecutor``: tasks one after the other in this process (rows streamed per sample).
* ``PoolExecutor``: a process pool (``spawn``); one worker per visible GPU when CUDA is
  present (each worker sees one device), else ``workers`` CPU processes sharing the cores.
  Workers stream rows per sample through a queue.
* ``RayExecutor``: one Ray task per checkpoint on a Ray cluster (``address``) or a local one;
  rows come back with the task. Results are identical to local runs (same code, same inputs).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_mod
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from typing import Any

from mfa_engine._device import cuda_device_count
from mfa_engine.batch.tasks import Task, TaskResult, compute_task, warm_task
from mfa_engine.errors import BackendError, ConfigError

__all__ = ["InlineExecutor", "PoolExecutor", "RayExecutor", "make_executor", "visible_gpus"]

OnRow = Callable[[dict[str, Any]], None]
OnDone = Callable[[TaskResult], None]

#: How long the driver waits for a finished task's queued rows before it reports the task failed.
_ROW_WAIT_SECONDS = 60.0


def visible_gpus() -> int:
    """Number of CUDA devices torch can see (0 without torch, a driver or CUDA)."""
    return cuda_device_count()


class InlineExecutor:
    """Runs tasks sequentially in this process."""

    name = "inline"

    def run(self, tasks: Sequence[Task], on_row: OnRow, on_done: OnDone) -> None:
        """Run every task; rows and results go to the callbacks as they finish.

        While a task computes, a background thread fetches the next Hub checkpoint's byte
        ranges into the range cache (:func:`~mfa_engine.batch.tasks.warm_task`).
        """
        with ThreadPoolExecutor(1, thread_name_prefix="mfa-warm") as bg:
            warming = None
            for i, task in enumerate(tasks):
                warmed = warming.result() if warming is not None else 0  # ranges now cached
                warming = bg.submit(warm_task, tasks[i + 1]) if i + 1 < len(tasks) else None
                res = compute_task(task, on_row)
                res.bytes_read += warmed
                on_done(res)


# ---------------------------------------------------------------------- process pool
_ROWS: Any = None


def _init_worker(rows: Any, devices: Any, threads: int) -> None:
    global _ROWS
    _ROWS = rows
    try:
        dev = devices.get_nowait()
    except queue_mod.Empty:
        dev = None
    if dev is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(dev)
    if threads > 0:
        os.environ.setdefault("NUMBA_NUM_THREADS", str(threads))
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def _pool_task(task: Task) -> TaskResult:
    sent = 0

    def push(row: dict[str, Any]) -> None:
        nonlocal sent
        _ROWS.put((task.index, row))
        sent += 1

    res = compute_task(task, push)
    res.streamed = sent
    return res


class PoolExecutor:
    """A local process pool.

    Args:
        workers: Number of processes.
        gpus: Visible CUDA devices; each worker is pinned to one of them when > 0.
    """

    name = "local"

    def __init__(self, workers: int, gpus: int = 0) -> None:
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.gpus = gpus

    def run(self, tasks: Sequence[Task], on_row: OnRow, on_done: OnDone) -> None:
        """Run the tasks on the pool; callbacks run here, in the driver."""
        ctx = mp.get_context("spawn")
        rows = ctx.Queue()
        devices = ctx.Queue()
        for d in range(self.gpus):
            devices.put(d)
        threads = 0 if self.gpus else max(1, (os.cpu_count() or 1) // self.workers)

        received: dict[int, int] = {}

        def take(timeout: float | None) -> bool:
            """Pass one queued row to on_row; False if none came within the timeout."""
            try:
                index, row = rows.get(timeout=timeout) if timeout else rows.get_nowait()
            except queue_mod.Empty:
                return False
            received[index] = received.get(index, 0) + 1
            on_row(row)
            return True

        def finish(task: Task, res: TaskResult) -> None:
            # A task's future can complete before the rows it queued reach this process (the
            # queue's feeder thread and the result travel separately): wait for all of them.
            while received.get(task.index, 0) < res.streamed:
                if not take(timeout=_ROW_WAIT_SECONDS):
                    res = TaskResult(task.index, error=(
                        f"worker sent {res.streamed} rows but only {received.get(task.index, 0)} "
                        f"arrived within {_ROW_WAIT_SECONDS:g} s"))
                    break
            on_done(res)

        with ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(rows, devices, threads)) as pool:
            pending = {pool.submit(_pool_task, t): t for t in tasks}
            while pending:
                done, _ = wait(list(pending), timeout=0.2, return_when=FIRST_COMPLETED)
                while take(timeout=None if done else 0.2):
                    pass
                for fut in done:
                    task = pending.pop(fut)
                    try:
                        res = fut.result()
                    except Exception as exc:  # a worker died (e.g. out of memory)
                        res = TaskResult(task.index, error=f"worker failed: {type(exc).__name__}: {exc}")
                    finish(task, res)
            while take(timeout=None):
                pass


# ---------------------------------------------------------------------- Ray
def _ray_task(task: Task) -> TaskResult:
    return compute_task(task, None)


class RayExecutor:
    """One Ray task per checkpoint.

    Args:
        address: Ray cluster address (``ray://host:10001``, ``host:6379`` or ``"auto"``); None
            connects to a running local instance if this process already called ``ray.init``,
            else starts a local one.
        gpus_per_task: GPUs reserved per task (default 1 if the cluster has GPUs, else 0).
        cpus_per_task: CPUs reserved per task.
    """

    name = "ray"

    def __init__(self, address: str | None = None, gpus_per_task: float | None = None,
                 cpus_per_task: float = 1.0) -> None:
        self.address = address
        self.gpus_per_task = gpus_per_task
        self.cpus_per_task = cpus_per_task

    def run(self, tasks: Sequence[Task], on_row: OnRow, on_done: OnDone) -> None:
        """Submit every task, then hand results to the callbacks as tasks finish."""
        try:
            import ray
        except ImportError:
            raise BackendError(
                "--executor ray needs Ray: pip install 'mfa-engine[distributed]'"
            ) from None
        if not ray.is_initialized():
            root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            env = {"PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": env} if self.address is None else None)
        gpus = self.gpus_per_task
        if gpus is None:
            gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        remote = ray.remote(_ray_task).options(num_cpus=self.cpus_per_task, num_gpus=gpus,
                                               max_retries=1)
        refs = {remote.remote(t): t for t in tasks}
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                task = refs.pop(ref)
                try:
                    res = ray.get(ref)
                except Exception as exc:  # the worker process died
                    res = TaskResult(task.index, error=f"ray task failed: {type(exc).__name__}: {exc}")
                for row in res.rows:
                    on_row(row)
                res.rows = []
                on_done(res)


def make_executor(kind: str, workers: int | None = None, address: str | None = None) -> Any:
    """Choose an executor.

    Args:
        kind: ``"local"`` or ``"ray"``.
        workers: Local processes (default: one per visible GPU, else 1 = in-process).
        address: Ray address.

    Returns:
        An executor with ``run(tasks, on_row, on_done)``.

    Raises:
        ConfigError: Unknown kind or a worker count < 1.
    """
    if kind == "ray":
        return RayExecutor(address)
    if kind != "local":
        raise ConfigError(f"executor must be 'local' or 'ray', got {kind!r}")
    gpus = visible_gpus()
    n = workers if workers is not None else max(1, gpus)
    if n < 1:
        raise ConfigError(f"--workers must be >= 1, got {n}")
    if n == 1 and gpus <= 1:
        return InlineExecutor()
    return PoolExecutor(n, gpus=min(gpus, n))
