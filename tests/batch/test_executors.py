"""Executors: a local process pool and Ray give the in-process results."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from mfa_engine.batch import ResultsStore, run_batch
from mfa_engine.batch.executors import InlineExecutor, PoolExecutor, RayExecutor, make_executor
from mfa_engine.errors import ConfigError

OPTS = {"paper": {"neurons_per_layer": 4}, "reference": {}}


def _values(store_dir):
    with ResultsStore(store_dir) as st:
        return [(r["checkpoint"], r["step"], r["mode"], r["seed"], r["record"]) for r in st.rows()]


def _run(series, store, executor):
    return run_batch([str(series / "step0"), str(series / "step2000")], store, options=OPTS,
                     samples=2, executor=executor, log=lambda _: None)


@pytest.mark.parametrize("gpus", [0, 1, 4])
def test_make_executor_choices(monkeypatch, gpus):
    from mfa_engine.batch import executors

    monkeypatch.setattr(executors, "visible_gpus", lambda: gpus)
    default = make_executor("local")  # one worker per GPU, in-process with at most one
    if gpus <= 1:
        assert isinstance(default, InlineExecutor)
    else:
        assert isinstance(default, PoolExecutor) and default.workers == gpus and default.gpus == gpus
    pool = make_executor("local", workers=2)
    assert isinstance(pool, PoolExecutor) and pool.workers == 2 and pool.gpus == min(gpus, 2)
    assert isinstance(make_executor("ray", address="auto"), RayExecutor)
    with pytest.raises(ConfigError, match="executor must be"):
        make_executor("dask")
    with pytest.raises(ConfigError, match="workers must be >= 1"):
        make_executor("local", workers=0)


@pytest.mark.slow
def test_process_pool_equals_inline(neox_series, tmp_path):
    inline = _run(neox_series, tmp_path / "inline", InlineExecutor())
    pool = _run(neox_series, tmp_path / "pool", PoolExecutor(2))
    assert pool.computed == inline.computed == 8 and pool.ok
    assert _values(tmp_path / "pool") == _values(tmp_path / "inline")


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed")
def test_ray_equals_local(neox_series, tmp_path):
    import ray

    root = str(Path(__file__).resolve().parents[2])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": root}})
    try:
        local = _run(neox_series, tmp_path / "local", InlineExecutor())
        remote = _run(neox_series, tmp_path / "ray", RayExecutor())
    finally:
        ray.shutdown()
    assert remote.ok and remote.computed == local.computed == 8
    assert remote.summaries == local.summaries
    assert _values(tmp_path / "ray") == _values(tmp_path / "local")
