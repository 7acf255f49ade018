"""One streamed read of a checkpoint serves every sample and mode, with identical numbers."""

from __future__ import annotations

from collections import Counter

import numpy as np

from mfa_engine.api import analyze_checkpoint
from mfa_engine.batch.series import expand_series
from mfa_engine.batch.tasks import Task, compute_task
from mfa_engine.checkpoints import open_checkpoint
from mfa_engine.checkpoints import prefetch as pf


class CountingCheckpoint:
    """Wraps a checkpoint and counts read_block calls per tensor."""

    def __init__(self, ckpt):
        self._ckpt = ckpt
        self.reads = Counter()

    def __getattr__(self, name):
        return getattr(self._ckpt, name)

    def __contains__(self, name):
        return name in self._ckpt

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._ckpt.close()

    def read_block(self, name, rows, cols):
        self.reads[name] += 1
        return self._ckpt.read_block(name, rows, cols)


def test_each_tensor_is_read_once_for_all_seeds_and_modes(neox_series, monkeypatch):
    path = neox_series / "step1000"
    counting = {}

    def open_counting(p, revision=None):
        counting["ckpt"] = CountingCheckpoint(open_checkpoint(p, revision))
        return counting["ckpt"]

    import mfa_engine.batch.tasks as tasks_module

    monkeypatch.setattr(tasks_module, "open_checkpoint", open_counting)
    served = {}
    real = pf.prefetch_checkpoint

    def spy(ckpt, requests, **kw):
        served["reader"] = real(ckpt, requests, **kw)
        served["n_requests"] = len(requests)
        return served["reader"]

    monkeypatch.setattr(tasks_module, "prefetch_checkpoint", spy)
    spec = expand_series([str(path)])[0]
    opts = {"paper": {"neurons_per_layer": 5}, "reference": {}}
    task = Task(0, spec, {"paper": [0, 1, 2], "reference": [0, 1, 3]}, opts, {"paper": "p", "reference": "r"})
    res = compute_task(task)
    assert res.error is None and res.prefetched
    reads = counting["ckpt"].reads
    assert len(reads) == 8 and set(reads.values()) == {1}  # 2 blocks x 4 matrices, once each
    reader = served["reader"]
    assert reader.misses == 0 and reader.hits == served["n_requests"] > 8
    assert reader.cached_bytes == 0  # every sub-block was served and dropped
    # Same numbers as mfa analyze per mode and seed.
    for mode, seeds in task.seeds.items():
        got = {r["seed"]: r["record"] for r in res.rows if r["mode"] == mode}
        assert sorted(got) == seeds
        for seed in seeds:  # one seed per call: a mode's numbers do not depend on the seed set
            doc = analyze_checkpoint(path, mode=mode, samples=1, seed=seed, **opts[mode])
            assert got[seed] == doc["samples"][0]


def test_budget_and_unrecorded_reads(neox_series):
    with open_checkpoint(neox_series / "step0") as ckpt:
        name = "gpt_neox.layers.0.attention.dense.weight"
        req = [(name, np.array([3, 1]), np.array([0, 5, 2]))]
        assert pf.prefetch_checkpoint(ckpt, req, budget=8) is None  # 24 bytes > budget
        reader = pf.prefetch_checkpoint(ckpt, req + req)
        want = ckpt.read_block(name, [3, 1], [0, 5, 2])
        for _ in range(2):  # a request recorded twice is served twice
            np.testing.assert_array_equal(reader.read_block(name, [3, 1], [0, 5, 2]), want)
        np.testing.assert_array_equal(reader.read_block(name, [3, 1], [0, 5, 2]), want)
        assert (reader.hits, reader.misses) == (2, 1)
