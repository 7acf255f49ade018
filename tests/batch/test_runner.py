"""run_batch: equality with analyze_checkpoint, resume, failures, config refusal, emergence."""

from __future__ import annotations

import numpy as np
import pytest

from mfa_engine.analysis.emergence import emergence
from mfa_engine.api import analyze_checkpoint
from mfa_engine.batch import ResultsStore, run_batch
from mfa_engine.errors import ConfigError, StoreError

from .conftest import STEPS, copy_series, truncate_weights

PAPER = {"neurons_per_layer": 5}


def test_reference_series_matches_analyze_per_checkpoint_and_seed(neox_series, tmp_path):
    rep = run_batch([str(neox_series / "step*")], tmp_path / "s", options={"reference": {}},
                    samples=3, seed=2, log=lambda _: None)
    assert (rep.computed, rep.skipped, rep.failed, rep.prefetched) == (9, 0, [], 3)
    doc = rep.summaries["reference"]
    assert [c["step"] for c in doc["checkpoints"]] == list(STEPS)
    with ResultsStore(tmp_path / "s") as st:
        rows = st.rows("reference")
    for step, entry in zip(STEPS, doc["checkpoints"]):
        ref = analyze_checkpoint(neox_series / f"step{step}", mode="reference", samples=3, seed=2)
        mine = [r["record"] for r in rows if r["step"] == step]
        assert mine == ref["samples"]  # every per-sample value identical
        assert entry["alpha0"] == pytest.approx(ref["alpha0"], rel=1e-15)
        assert entry["width_std"] == pytest.approx(ref["width_std"], rel=1e-12)
        assert [s["seed"] for s in entry["samples"]] == [2, 3, 4]
    a = np.array([[s["alpha0"] for s in c["samples"]] for c in doc["checkpoints"]])
    w = np.array([[s["width"] for s in c["samples"]] for c in doc["checkpoints"]])
    e, e_std = emergence(a, w, stat="median")  # reference mode: no flags, the medians
    np.testing.assert_allclose([c["emergence"] for c in doc["checkpoints"]], e, rtol=1e-12)
    np.testing.assert_allclose([c["emergence_std"] for c in doc["checkpoints"]], e_std, rtol=1e-9)
    assert doc["checkpoints"][0]["emergence"] == 0.0 and doc["checkpoints"][1]["emergence"] != 0.0


def test_resume_computes_only_missing_samples_with_identical_values(neox_series, tmp_path):
    opts = {"paper": PAPER, "reference": {}}
    first = run_batch([str(neox_series / "step*")], tmp_path / "a", options=opts, samples=2, log=lambda _: None)
    assert (first.computed, first.skipped) == (12, 0)
    more = run_batch([str(neox_series / "step*")], tmp_path / "a", options=opts, samples=3, log=lambda _: None)
    assert (more.computed, more.skipped) == (6, 12)
    again = run_batch([str(neox_series / "step*")], tmp_path / "a", options=opts, samples=3, log=lambda _: None)
    assert (again.computed, again.skipped) == (0, 18)
    fresh = run_batch([str(neox_series / "step*")], tmp_path / "b", options=opts, samples=3, log=lambda _: None)
    assert fresh.summaries == {m: {**d, "computed": 18, "skipped": 0} for m, d in again.summaries.items()}
    with ResultsStore(tmp_path / "a") as a, ResultsStore(tmp_path / "b") as b:
        assert a.count() == b.count() == 18
        strip = lambda rows: [{k: v for k, v in r.items()} for r in rows]  # noqa: E731
        assert strip(a.rows()) == strip(b.rows())


def test_corrupt_checkpoint_is_reported_and_skipped(neox_series, tmp_path):
    root = copy_series(neox_series, tmp_path / "series")
    truncate_weights(root / "step1000")
    lines = []
    rep = run_batch([str(root / "step*")], tmp_path / "s", options={"reference": {}}, samples=2, log=lines.append)
    assert not rep.ok and rep.computed == 4
    (fail,) = rep.failed
    assert fail["step"] == 1000 and "truncated" in fail["error"]
    assert [c["step"] for c in rep.summaries["reference"]["checkpoints"]] == [0, 2000]
    assert any("FAILED" in line and "step1000" in line for line in lines)


def test_store_of_another_config_is_refused_unless_forced(neox_series, tmp_path):
    ck = [str(neox_series / "step0")]
    run_batch(ck, tmp_path / "s", options={"reference": {}}, samples=1, log=lambda _: None)
    with pytest.raises(StoreError, match="threshold 150.0 -> 120.0"):
        run_batch(ck, tmp_path / "s", options={"reference": {"threshold": 120.0}}, samples=1)
    rep = run_batch(ck, tmp_path / "s", options={"reference": {"threshold": 120.0}}, samples=1,
                    force=True, log=lambda _: None)
    assert (rep.computed, rep.skipped) == (1, 0)
    # Execution options (backend) are not part of the config.
    rep = run_batch(ck, tmp_path / "s", options={"reference": {"threshold": 120.0, "backend": "cpu"}},
                    samples=1, log=lambda _: None)
    assert (rep.computed, rep.skipped) == (0, 1)


def test_bad_options(neox_series, tmp_path):
    ck = [str(neox_series / "step0")]
    with pytest.raises(ConfigError, match="must not set seed"):
        run_batch(ck, tmp_path, options={"paper": {"seed": 3}})
    with pytest.raises(ConfigError, match=r"samples must be an integer in \[1, 10000\]"):
        run_batch(ck, tmp_path, options={"paper": {}}, samples=0)
    with pytest.raises(ConfigError, match="mode must be"):
        run_batch(ck, tmp_path, options={"fast": {}})
