"""Several devices: one worker process per device, centre slices split across them, the
per-source counts merged.

Sources are independent, so each device computes the counts of a disjoint slice of the centres
(``multi_source_counts`` on its own device, with the same exactness rules) and the driver places
the rows back in the caller's order: the result is identical to one device. Work per source is
known in advance on a DAG (the blocks at and above its level), so slices are balanced by a
static longest-first split; on general graphs every source counts the same.

Workers are local processes (``executor="local"``: spawned, one per device, each pinned with
``CUDA_VISIBLE_DEVICES`` before torch loads) or Ray tasks (``executor="ray"``, one GPU each).
A device name ``"cpu"`` is a CPU stand-in (no GPU visible to that worker), so the same driver
code runs here: ``devices=["cpu", "cpu"]`` with ``backend="cpu"`` (or ``"triton"`` under
``TRITON_INTERPRET=1``). Samples of an analysis are already spread over GPUs by the batch
executors (docs/gpu.md); this module splits the centres of one graph.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np

from mfa_engine._device import cuda_device_count
from mfa_engine.paths.api import multi_source_counts
from mfa_engine.paths.prepare import PreparedGraph, prepare_graph

__all__ = ["source_work", "split_sources", "multi_device_counts", "device_list"]


def device_list(devices: int | Sequence[str] | None) -> list[str]:
    """Device names: an int n -> CUDA devices "0" .. "n-1"; None -> every visible CUDA device
    (at least one entry; "cpu" when there is none); a sequence -> as given ("0", "1", "cpu")."""
    if devices is None:

        n = cuda_device_count()
        return [str(i) for i in range(n)] or ["cpu"]
    if isinstance(devices, int):
        if devices < 1:
            raise ValueError(f"devices must be at least 1, got {devices}")
        return [str(i) for i in range(devices)]
    out = [str(d) for d in devices]
    if not out:
        raise ValueError("devices is empty")
    return out


def source_work(prepared: Any, src: np.ndarray) -> np.ndarray:
    """Relative work of each source (float64 [S]): on a DAG the min-plus work of the blocks out
    of levels at or above the source's level; 1 per source on a general graph."""
    kind, obj = prepared
    if kind != "dag":
        return np.ones(src.size)
    sizes = np.diff(obj.lvl_off).astype(np.float64)
    per_level = np.zeros(obj.n_levels)
    for a, b in obj.pairs:
        per_level[a] += sizes[a] * sizes[b]
    above = np.cumsum(per_level[::-1])[::-1]  # work of blocks out of levels >= l
    pos = src if obj.inv is None else obj.inv[src]
    return above[obj.level_of_position(pos)] + 1.0


def split_sources(work: np.ndarray, n_parts: int) -> list[np.ndarray]:
    """Static longest-first split: indices [S_i] per part, each sorted; parts' work balanced.

    Args:
        work: float [S] work per source.
        n_parts: Number of parts (devices).
    """
    order = np.argsort(-np.asarray(work, np.float64), kind="stable")
    load = np.zeros(n_parts)
    parts: list[list[int]] = [[] for _ in range(n_parts)]
    for i in order:
        p = int(np.argmin(load))
        parts[p].append(int(i))
        load[p] += work[i]
    return [np.array(sorted(p), np.int64) for p in parts]


def _pin(device: str) -> None:
    """Make ``device`` the only GPU this worker process sees (before torch is imported)."""
    os.environ["CUDA_VISIBLE_DEVICES"] = "" if device == "cpu" else device


def _worker(device: str, graph: Any, src: np.ndarray, radii: np.ndarray, directed: bool, backend: str) -> np.ndarray:
    """Counts int64 [S_i, R] of one slice on one device (runs in the worker process)."""
    _pin(device)

    return multi_source_counts(graph, src, radii, directed=directed, backend=backend)


def _run_local(devices: list[str], jobs: list[tuple[Any, ...]]) -> list[np.ndarray]:

    ctx = mp.get_context("spawn")  # a fresh interpreter per device: CUDA is pinned before it loads
    pools = [ProcessPoolExecutor(1, mp_context=ctx, initializer=_pin, initargs=(d,)) for d in devices]
    try:
        futs = [pool.submit(_worker, d, *job) for pool, d, job in zip(pools, devices, jobs)]
        return [f.result() for f in futs]
    finally:
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)


def _run_ray(devices: list[str], jobs: list[tuple[Any, ...]]) -> list[np.ndarray]:
    import ray

    if not ray.is_initialized():
        ray.init(ignore_reinit_error=True, log_to_driver=False)
    gpu = [d != "cpu" for d in devices]
    remote = ray.remote(_ray_worker)
    refs = [remote.options(num_gpus=1 if g else 0).remote(d, *job) for d, g, job in zip(devices, gpu, jobs)]
    return list(ray.get(refs))


def _ray_worker(device: str, graph: Any, src: np.ndarray, radii: np.ndarray, directed: bool,
                backend: str) -> np.ndarray:  # fmt: skip
    """Ray task: Ray already set CUDA_VISIBLE_DEVICES to the GPU it granted (CPU stand-ins: none)."""
    if device == "cpu":
        _pin("cpu")

    return multi_source_counts(graph, src, radii, directed=directed, backend=backend)


def _without_device_state(graph: Any) -> Any:
    """A prepared DAG without its device-resident block plans (they stay in this process)."""


    if isinstance(graph, PreparedGraph) and graph.kind == "dag":
        lv = graph.obj
        lv2 = replace(lv, _packed={k: v for k, v in lv._packed.items() if isinstance(k, str)})
        return replace(graph, obj=lv2)
    return graph


def multi_device_counts(
    graph: Any,
    sources: Any,
    radii: Any,
    *,
    devices: int | Sequence[str] | None = None,
    directed: bool = True,
    backend: str = "auto",
    executor: str = "local",
) -> np.ndarray:
    """``multi_source_counts`` with the centres split over several devices.

    Args:
        graph: As for :func:`mfa_engine.paths.multi_source_counts` (a prepared graph is prepared
            again in each worker: pass the raw graph or the prepared one, both work).
        sources: int [S] node ids.
        radii: float [R] radius grid.
        devices: Number of CUDA devices, their ids ("0", "1", ...), "cpu" stand-ins, or None for
            every visible device.
        directed: Follow edges i -> j only.
        backend: Backend each worker uses ("auto" resolves in the worker, on its device).
        executor: "local" (one spawned process per device) or "ray" (one task per device).

    Returns:
        int64 [S, R], identical to one device.
    """

    devs = device_list(devices)
    src = np.asarray(sources, dtype=np.int64).reshape(-1)
    rad = np.asarray(radii, dtype=np.float64).reshape(-1)
    if len(devs) == 1 or src.size <= 1:
        if devs[0] == "cpu" and backend in ("auto",):
            backend = "cpu"
        return multi_source_counts(graph, src, rad, directed=directed, backend=backend)
    if executor not in ("local", "ray"):
        raise ValueError(f"executor must be 'local' or 'ray', got {executor!r}")
    prepared = prepare_graph(graph, directed)  # validates once, here, and gives the work model
    parts = split_sources(source_work(prepared, src), len(devs))
    used = [(d, p) for d, p in zip(devs, parts) if p.size]
    sendable = _without_device_state(graph)
    jobs = [(sendable, src[p], rad, directed, backend) for _, p in used]
    run = _run_local if executor == "local" else _run_ray
    results = run([d for d, _ in used], jobs)
    out = np.zeros((src.size, rad.size), np.int64)
    for (_, p), res in zip(used, results):
        out[p] = res
    return out
