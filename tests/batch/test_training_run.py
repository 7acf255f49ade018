"""The batch pipeline on real training dynamics: a tiny GPT-NeoX trained on stdlib docstrings
(log-spaced checkpoints from step 0 to 400), paper and reference mode, CIs and the null model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mfa_engine.batch import run_batch

pytestmark = pytest.mark.slow


def _spearman(x, y) -> float:
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1])


@pytest.fixture(scope="module")
def training_batch(tiny_training_run, tmp_path_factory):
    root, info = tiny_training_run
    store = tmp_path_factory.mktemp("training-store")
    report = run_batch([str(root / "step*")], store, samples=5,
                       options={"paper": {"neurons_per_layer": 16, "null": "shuffle"},
                                "reference": {"neurons_per_layer": 16}})
    return root, info, report, store


def test_training_run_learns_and_is_saved_log_spaced(tiny_training_run):
    root, info = tiny_training_run
    assert info["steps"] == [0, 4, 16, 40, 100, 250, 400]
    assert all((root / f"step{s}" / "model.safetensors").is_file() for s in info["steps"])
    loss = np.array(info["loss"])
    assert loss[0] > np.log(60)  # about uniform over the ~99 characters at initialisation
    assert loss[-1] < loss[0] - 1.5 and loss[-1] == loss.min()
    assert json.loads((root / "losses.json").read_text())["loss"] == info["loss"]


def test_batch_on_a_training_run_gives_intervals_and_null(training_batch):
    root, info, report, store = training_batch
    assert report.ok and report.computed == 7 * 5 * 2
    for mode in ("paper", "reference"):
        doc = report.summaries[mode]
        ck = doc["checkpoints"]
        assert [c["step"] for c in ck] == info["steps"]
        assert ck[0]["emergence"] == 0.0 and ck[0]["emergence_ci"] == [0.0, 0.0]
        for c in ck:
            assert c["n_samples"] == 5
            for key in ("alpha0", "width"):
                lo, hi = c[f"{key}_ci"]
                # The headline is the median of the unflagged samples; the percentile interval of
                # a median lies within the values it resamples.
                kept = [s[key] for s in c["samples"] if not s["flagged"]] or [s[key] for s in c["samples"]]
                assert c[key] == pytest.approx(float(np.median(kept)))
                assert min(kept) <= lo <= c[key] <= hi <= max(kept)
                assert c[f"{key}_mean"] == pytest.approx(np.mean([s[key] for s in c["samples"]]))
            lo, hi = c["emergence_ci"]
            assert lo <= c["emergence"] <= hi
        if mode == "paper":
            for c in ck:  # real minus null E with its paired interval
                assert c["emergence_contrast"] == pytest.approx(c["emergence"] - c["null"]["emergence"])
                lo, hi = c["emergence_contrast_ci"]
                assert lo <= c["emergence_contrast"] <= hi
            assert all("null" in c and c["null"]["n_samples"] == 5 for c in ck)
            assert ck[0]["null"]["emergence"] == 0.0
            assert all(c["null"]["emergence_ci"][0] <= c["null"]["emergence"] <= c["null"]["emergence_ci"][1]
                       for c in ck)
        else:
            assert all("null" not in c for c in ck)


def test_reference_emergence_follows_learning(training_batch):
    """Reference-mode E rises as the held-out loss falls (the published definition)."""
    _, info, report, _ = training_batch
    e = [c["emergence"] for c in report.summaries["reference"]["checkpoints"]]
    assert _spearman(e, -np.array(info["loss"])) > 0.9
    last = report.summaries["reference"]["checkpoints"][-1]
    assert last["emergence_ci"][0] > 0.2


def test_every_paper_sample_of_the_run_carries_diagnostics(training_batch):
    from mfa_engine.batch import ResultsStore

    _, info, report, store = training_batch
    with ResultsStore(store) as st:
        rows = st.rows("paper")
    assert len(rows) == 7 * 5
    for r in rows:
        d = r["record"]["diagnostics"]
        assert {"n_alpha_increasing", "q0_on_hull", "r2_min", "fit_window", "self_share_lowest",
                "saturated_share_highest", "flags", "flagged"} <= d.keys()
        assert 0 < d["fit_window"][0] < d["fit_window"][1] and 0.0 <= d["self_share_lowest"] <= 1.0
        assert isinstance(r["record"]["null"]["diagnostics"], dict)
    by_step: dict = {}
    for r in rows:
        by_step[r["step"]] = by_step.get(r["step"], 0) + bool(r["record"]["diagnostics"]["flagged"])
    assert [c["n_flagged"] for c in report.summaries["paper"]["checkpoints"]] == [by_step[s] for s in info["steps"]]
