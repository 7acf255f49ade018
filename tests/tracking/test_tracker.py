"""Tracker without a Trainer: equality with mfa batch, skipped steps, failures, scalars."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from mfa_engine.batch import CheckpointSpec, ResultsStore, run_batch, summarise_series
from mfa_engine.errors import StoreError
from mfa_engine.tracking import Tracker, summary_scalars

from ._trainer import TRACK_OPTIONS, tiny_model


def _perturb(model, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))


def test_rows_and_scalars_equal_mfa_batch_on_saved_weights(tmp_path):
    model = tiny_model(5)
    tracker = Tracker(tmp_path / "store", {**TRACK_OPTIONS, "null": "shuffle"}, run="run-a")
    specs = []
    for step in (0, 3):
        if step:
            _perturb(model, step)
        assert tracker.submit(model, step)
        model.save_pretrained(tmp_path / f"ckpt{step}")  # while the analysis runs
        specs.append(CheckpointSpec(str(tmp_path / f"ckpt{step}"), None, step, f"ckpt{step}"))
        assert tracker.wait(60)
    tracker.close()
    assert tracker.failures == [] and tracker.analysed == [0, 3]
    results = tracker.poll()
    assert [r.step for r in results] == [0, 3]
    report = run_batch(specs, tmp_path / "batch", options={"paper": {"neurons_per_layer": 16, "null": "shuffle"}},
                       samples=2)
    with ResultsStore(tmp_path / "store") as a, ResultsStore(tmp_path / "batch") as b:
        tracked, batch = a.rows("paper"), b.rows("paper")
    assert [(r["step"], r["seed"]) for r in tracked] == [(r["step"], r["seed"]) for r in batch]
    for r, s in zip(tracked, batch):
        assert r["checkpoint"] == "run-a" and r["record"] == s["record"]
    entry = report.summaries["paper"]["checkpoints"][-1]
    assert results[-1].entry["emergence"] == entry["emergence"]
    assert results[-1].entry["emergence_ci"] == entry["emergence_ci"]
    assert results[-1].scalars == summary_scalars(entry, "paper")
    assert results[-1].scalars["mfa/paper/emergence_minus_null"] == entry["emergence"] - entry["null"]["emergence"]


def test_summary_scalars_names_and_values():
    entry = {"alpha0": 1.5, "alpha0_ci": [1.4, 1.6], "width": 3.0, "width_ci": None, "emergence": None,
             "emergence_ci": None, "n_samples": 4,
             "null": {"alpha0": 1.25, "width": 2.0, "emergence": 0.1}}
    assert summary_scalars(entry, "paper") == {
        "mfa/paper/alpha0": 1.5, "mfa/paper/alpha0_ci_lo": 1.4, "mfa/paper/alpha0_ci_hi": 1.6,
        "mfa/paper/null_alpha0": 1.25, "mfa/paper/alpha0_minus_null": 0.25,
        "mfa/paper/width": 3.0, "mfa/paper/null_width": 2.0, "mfa/paper/width_minus_null": 1.0,
        "mfa/paper/null_emergence": 0.1, "mfa/paper/n_samples": 4.0,
    }
    # The summary's paired contrasts, when present, are the minus-null scalars (with their CIs).
    paired = {**entry, "emergence": 0.3, "emergence_contrast": 0.2, "emergence_contrast_ci": [0.1, 0.3],
              "contrast": {"alpha0": {"median": 0.24, "ci": [0.2, 0.3]}, "width": {"median": 0.9, "ci": None}}}
    got = summary_scalars(paired, "paper")
    assert got["mfa/paper/alpha0_minus_null"] == 0.24 and got["mfa/paper/alpha0_minus_null_ci_lo"] == 0.2
    assert got["mfa/paper/width_minus_null"] == 0.9 and "mfa/paper/width_minus_null_ci_lo" not in got
    assert got["mfa/paper/emergence_minus_null"] == 0.2 and got["mfa/paper/emergence_minus_null_ci_hi"] == 0.3


def test_a_step_is_skipped_when_the_worker_is_behind(tmp_path, monkeypatch, caplog):
    from mfa_engine.modes import paper

    gate = threading.Event()
    real_run = paper.run

    def slow_run(*args, **kwargs):
        gate.wait(30)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(paper, "run", slow_run)
    model = tiny_model(0)
    tracker = Tracker(tmp_path / "store", TRACK_OPTIONS, run="r", max_pending=0)
    with caplog.at_level(logging.WARNING, logger="mfa_engine.tracking"):
        assert tracker.submit(model, 0)
        assert not tracker.submit(model, 1)
        assert not tracker.submit(model, 2)
    assert tracker.skipped == [1, 2]
    assert sum("step 1 of run r skipped" in r.getMessage() for r in caplog.records) == 1
    gate.set()
    tracker.close()
    assert tracker.analysed == [0] and tracker.failures == []


def test_failures_are_logged_never_raised(tmp_path, caplog):
    model = tiny_model(0)
    tracker = Tracker(tmp_path / "store", TRACK_OPTIONS, run="r")
    state = dict(model.state_dict())
    with caplog.at_level(logging.ERROR, logger="mfa_engine.tracking"):
        # hand-overs fail: a bare state dict without its config; an unsupported architecture
        assert not tracker.submit(state, 0)
        bad = Tracker(tmp_path / "store", TRACK_OPTIONS, run="r2", config={"model_type": "t5"})
        assert not bad.submit(state, 0)
        # analysis fails on the worker: NaN weights
        nan_model = tiny_model(0)
        with torch.no_grad():
            for p in nan_model.parameters():
                p.fill_(float("nan"))
        assert tracker.submit(nan_model, 1)
        tracker.wait(30)
    tracker.close()
    bad.close()
    assert [s for s, _ in bad.failures] == [0] and "t5" in bad.failures[0][1]
    assert [s for s, _ in tracker.failures] == [0, 1]
    assert "config=" in dict(tracker.failures)[0] and "NaN" in dict(tracker.failures)[1]
    assert tracker.analysed == []
    assert any("training goes on" in r.getMessage() for r in caplog.records)


def test_a_store_of_another_configuration_is_refused_up_front(tmp_path):
    model = tiny_model(0)
    t = Tracker(tmp_path / "store", TRACK_OPTIONS, run="r")
    t.submit(model, 0)
    t.close()
    with pytest.raises(StoreError, match="another config"):
        Tracker(tmp_path / "store", {**TRACK_OPTIONS, "n_radii": 32}, run="r")


def test_resumed_run_skips_stored_seeds_and_measures_from_the_first_step(tmp_path):
    model = tiny_model(0)
    t1 = Tracker(tmp_path / "store", TRACK_OPTIONS, run="r")
    t1.submit(model, 0)
    t1.close()
    _perturb(model, 1)
    t2 = Tracker(tmp_path / "store", TRACK_OPTIONS, run="r")  # a resumed run: same key
    assert t2.submit(model, 0) and t2.wait(60)  # already stored: nothing recomputed, no duplicate
    assert t2.submit(model, 8)
    t2.close()
    with ResultsStore(tmp_path / "store") as st:
        rows = st.rows("paper")
    assert [(r["step"], r["seed"]) for r in rows] == [(0, 0), (0, 1), (8, 0), (8, 1)]
    doc = summarise_series(rows, engine_version="", mode="paper", config={}, computed=0, skipped=0)
    last = t2.poll()[-1]
    assert last.step == 8 and last.entry["emergence"] == doc["checkpoints"][-1]["emergence"]
    assert np.isfinite(last.scalars["mfa/paper/emergence"])


def test_a_worker_process_gives_the_same_rows(tmp_path):
    model = tiny_model(4)
    rows = {}
    for worker in ("thread", "process"):
        t = Tracker(tmp_path / worker, TRACK_OPTIONS, run="r", worker=worker)
        assert t.submit(model, 2) and t.wait(300)
        t.close()
        assert t.failures == [] and t.analysed == [2]
        with ResultsStore(tmp_path / worker) as st:
            rows[worker] = [(r["seed"], r["record"]) for r in st.rows("paper")]
    assert rows["thread"] == rows["process"] and len(rows["thread"]) == 2


def test_bad_tracker_arguments_are_config_errors(tmp_path):
    from mfa_engine.errors import ConfigError

    with pytest.raises(ConfigError, match="worker"):
        Tracker(tmp_path / "store", TRACK_OPTIONS, run="r", worker="fiber")
    with pytest.raises(ConfigError, match="max_pending"):
        Tracker(tmp_path / "store", TRACK_OPTIONS, run="r", max_pending=-1)
    with pytest.raises(ConfigError, match="neurons_per_layer"):
        Tracker(tmp_path / "store", {"neurons_per_layer": 0}, run="r")
