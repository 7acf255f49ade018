"""Summary document and emergence over a series (docs/method.md, Emergence)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mfa_engine.analysis.emergence import emergence
from mfa_engine.analysis.uncertainty import resample_indices
from mfa_engine.batch.summary import series_emergence, summarise_series


def _rows(table):
    """table: {(ckpt, step): {seed: (alpha0, width)}} -> store-like rows."""
    return [{"checkpoint": c, "step": st, "mode": "paper", "seed": s, "alpha0": a, "width": w,
             "record": {"alpha0": a, "width": w}}
            for (c, st), per in table.items() for s, (a, w) in per.items()]


def test_emergence_equals_the_analysis_function():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.8, 1.6, size=(4, 3))
    w = rng.uniform(0.2, 0.9, size=(4, 3))
    maps_a, maps_w = [dict(enumerate(r)) for r in a], [dict(enumerate(r)) for r in w]
    for stat in ("median", "mean"):
        got = series_emergence(maps_a, maps_w, stat=stat)
        e, e_std = emergence(a, w, stat=stat)
        np.testing.assert_allclose([g[0] for g in got], e, rtol=1e-13)
        np.testing.assert_allclose([g[1] for g in got], e_std, rtol=1e-12, atol=1e-15)
        assert got[0] == (0.0, 0.0)
    # The default is the headline: medians (hand check of t = 1 against numpy).
    got = series_emergence(maps_a, maps_w)
    assert got[1][0] == pytest.approx((np.median(w[1]) / np.median(w[0])) * math.log(np.median(a[0]) / np.median(a[1])))


def test_emergence_hand_values_and_undefined_cases():
    got = series_emergence([{0: 2.0}, {0: 1.0}, {0: -1.0}], [{0: 0.5}, {0: 1.0}, {0: 1.0}])
    assert got[1][0] == pytest.approx(2.0 * math.log(2.0))
    assert got[2] == (None, None)  # alpha0 <= 0: log undefined
    assert series_emergence([{0: 1.0}, {0: 1.0}], [{0: 0.0}, {0: 1.0}])[1] == (None, None)


def test_summary_contract_order_means_and_seed_filter():
    table = {("/b/step1000", 1000): {0: (1.0, 0.4), 1: (1.2, 0.6), 7: (9.0, 9.0)},
             ("/a/step0", 0): {0: (1.5, 0.5), 1: (1.7, 0.7)},
             ("/z/final", None): {0: (1.0, 1.0), 1: (1.0, 1.0)}}
    doc = summarise_series(_rows(table), engine_version="9", mode="paper", config={"k": 1},
                           computed=3, skipped=2, seeds=[0, 1])
    assert list(doc) == ["engine_version", "mode", "config", "computed", "skipped", "checkpoints", "failed",
                         "reference_checkpoint", "warnings"]
    assert (doc["computed"], doc["skipped"], doc["mode"]) == (3, 2, "paper")
    assert [c["step"] for c in doc["checkpoints"]] == [0, 1000, None]
    c1 = doc["checkpoints"][1]
    assert c1["samples"] == [{"seed": 0, "alpha0": 1.0, "width": 0.4, "flagged": False},
                             {"seed": 1, "alpha0": 1.2, "width": 0.6, "flagged": False}]
    assert c1["alpha0"] == pytest.approx(1.1) and c1["alpha0_std"] == pytest.approx(0.1)
    assert c1["width"] == pytest.approx(0.5) and c1["width_std"] == pytest.approx(0.1)
    assert c1["alpha0_mean"] == pytest.approx(1.1) and c1["width_mean"] == pytest.approx(0.5)
    assert c1["emergence"] == pytest.approx((0.5 / 0.6) * math.log(1.6 / 1.1))
    assert doc["checkpoints"][0]["emergence"] == 0.0
    # Explicit order and a checkpoint without rows (left out).
    doc2 = summarise_series(_rows(table), engine_version="9", mode="paper", config={}, computed=0,
                            skipped=0, checkpoints=[("/b/step1000", 1000), ("/x", 5)])
    assert [c["checkpoint"] for c in doc2["checkpoints"]] == ["/b/step1000"]
    assert doc2["checkpoints"][0]["n_samples"] == 3


def _null_rows(table):
    """table: {(ckpt, step): {seed: (alpha0, width, null_alpha0, null_width)}} -> rows."""
    return [{"checkpoint": c, "step": st, "mode": "paper", "seed": s, "alpha0": a, "width": w,
             "record": {"alpha0": a, "width": w, "null": {"alpha0": na, "width": nw, "model": "shuffle"}}}
            for (c, st), per in table.items() for s, (a, w, na, nw) in per.items()]


def test_summary_medians_and_bootstrap_intervals():
    rng = np.random.default_rng(3)
    a = 1.5 + rng.normal(0, 0.05, (3, 8)) + np.array([[0.0], [-0.05], [-0.15]])
    w = 0.8 + rng.normal(0, 0.05, (3, 8))
    table = {(f"/s/step{t}", t): {s: (a[t, s], w[t, s]) for s in range(8)} for t in range(3)}
    doc = summarise_series(_rows(table), engine_version="9", mode="paper", config={}, computed=0, skipped=0)
    e, _ = emergence(a, w, stat="median")
    for t, c in enumerate(doc["checkpoints"]):
        assert c["alpha0_median"] == pytest.approx(np.median(a[t])) == c["alpha0"]
        assert c["width_median"] == pytest.approx(np.median(w[t])) == c["width"]
        assert c["alpha0_mean"] == pytest.approx(np.mean(a[t]))
        for key, v in (("alpha0", a[t]), ("width", w[t])):
            lo, hi = c[f"{key}_ci"]
            assert lo < c[key] < hi
            # The percentile interval of the median of 8 values: numpy on explicit resamples
            # agrees to the Monte Carlo error of 2000 resamples (the order statistics are few).
            meds = np.median(v[resample_indices(8)], axis=1)
            olo, ohi = np.percentile(meds, [2.5, 97.5])
            assert lo == pytest.approx(olo, abs=0.3 * c[f"{key}_std"])
            assert hi == pytest.approx(ohi, abs=0.3 * c[f"{key}_std"])
            assert np.min(v) <= lo and hi <= np.max(v)
        assert c["emergence"] == pytest.approx(e[t], abs=1e-12)
        lo, hi = c["emergence_ci"]
        assert lo <= c["emergence"] <= hi
    assert doc["checkpoints"][0]["emergence_ci"] == [0.0, 0.0]
    assert doc["checkpoints"][2]["emergence_ci"][0] > 0  # alpha0 fell by 0.15: E clearly > 0
    assert "null" not in doc["checkpoints"][0]


def test_summary_with_one_sample_has_degenerate_intervals():
    table = {("/a", 0): {0: (1.5, 0.5)}, ("/b", 1): {0: (1.2, 0.6)}}
    c0, c1 = summarise_series(_rows(table), engine_version="9", mode="paper", config={}, computed=0,
                              skipped=0)["checkpoints"]
    assert c0["alpha0_ci"] == [1.5, 1.5] and c1["width_ci"] == [0.6, 0.6]
    assert c1["emergence_ci"] == [pytest.approx(c1["emergence"])] * 2


def test_summary_null_block_next_to_the_real_values():
    table = {("/a/step0", 0): {0: (1.5, 0.5, 1.4, 0.5), 1: (1.7, 0.7, 1.4, 0.6)},
             ("/a/step1", 1): {0: (1.0, 0.4, 1.4, 0.5), 1: (1.2, 0.6, 1.3, 0.6)}}
    doc = summarise_series(_null_rows(table), engine_version="9", mode="paper", config={}, computed=0,
                           skipped=0)
    c0, c1 = doc["checkpoints"]
    assert c0["null"]["alpha0"] == pytest.approx(1.4) and c0["null"]["n_samples"] == 2
    assert c0["null"]["emergence"] == 0.0 and c0["null"]["emergence_ci"] == [0.0, 0.0]
    assert c1["null"]["alpha0"] == pytest.approx(1.35) and c1["null"]["width"] == pytest.approx(0.55)
    assert c1["null"]["emergence"] == pytest.approx((0.55 / 0.55) * math.log(1.4 / 1.35))
    assert c1["emergence"] == pytest.approx((0.5 / 0.6) * math.log(1.6 / 1.1))
    lo, hi = c1["null"]["emergence_ci"]
    assert lo <= c1["null"]["emergence"] <= hi


def test_summary_counts_flagged_samples():
    rows = _rows({("c", 0): {0: (1.0, 0.5), 1: (1.1, 0.6), 2: (1.2, 0.7)}})
    rows[0]["record"]["diagnostics"] = {"flagged": True, "flags": ["low_r2"]}
    rows[1]["record"]["diagnostics"] = {"flagged": False, "flags": []}
    doc = summarise_series(rows, engine_version="x", mode="paper", config={}, computed=3, skipped=0)
    assert doc["checkpoints"][0]["n_flagged"] == 1  # the third row has no diagnostics


def test_flagged_samples_leave_the_headline_and_e_consistently():
    """A flagged outlier at t1 is out of the t1 median, of E(t1) and of E's resamples."""
    a = {0: [1.5, 1.6, 1.7, 1.55], 1: [1.2, 1.3, 9.0, 1.25]}
    w = {0: [0.5, 0.6, 0.7, 0.55], 1: [0.6, 0.7, 9.0, 0.65]}
    table = {(f"/c{t}", t): {s: (a[t][s], w[t][s]) for s in range(4)} for t in (0, 1)}
    rows = _rows(table)
    for r in rows:
        r["record"]["diagnostics"] = {"flagged": r["step"] == 1 and r["seed"] == 2, "flags": []}
    c0, c1 = summarise_series(rows, engine_version="9", mode="paper", config={}, computed=0,
                              skipped=0)["checkpoints"]
    assert c1["alpha0"] == pytest.approx(1.25) and c1["width"] == pytest.approx(0.65)  # median of 3
    assert c1["alpha0_median"] == pytest.approx(1.275)  # over all 4
    assert c0["alpha0"] == pytest.approx(1.575)
    assert c1["emergence"] == pytest.approx((0.65 / 0.575) * math.log(1.575 / 1.25))
    lo, hi = c1["emergence_ci"]
    assert lo <= c1["emergence"] <= hi and hi < 1.0  # the 9.0 never enters a resample's median


def test_emergence_contrast_is_real_minus_null_with_a_paired_interval():
    """Null = real scaled per seed (alpha0 x k_s at every step): its E equals the real E for
    every resample of seeds, so the contrast and its paired interval are exactly zero; a null
    that does not move gives the real E."""
    rng = np.random.default_rng(5)
    k = rng.uniform(0.8, 1.2, 6)
    a = 1.5 * rng.uniform(0.9, 1.1, 6)[None, :] * np.array([[1.0], [0.9], [0.8]])
    w = 0.6 * rng.uniform(0.9, 1.1, 6)[None, :] * np.array([[1.0], [1.1], [1.2]])
    table = {(f"/c{t}", t): {s: (a[t, s], w[t, s], a[t, s] * k[s], w[t, s]) for s in range(6)} for t in range(3)}
    doc = summarise_series(_null_rows(table), engine_version="9", mode="paper", config={}, computed=0,
                           skipped=0)
    for c in doc["checkpoints"]:
        assert c["emergence_contrast"] == pytest.approx(c["emergence"] - c["null"]["emergence"], abs=1e-12)
        assert c["emergence_contrast_ci"] == pytest.approx([0.0, 0.0], abs=1e-12) or c["step"] == 0
        assert c["contrast"]["n_pairs"] == 6
        d = a[c["step"]] - a[c["step"]] * k
        assert c["contrast"]["alpha0"]["median"] == pytest.approx(np.median(d))
    table = {(f"/c{t}", t): {s: (a[t, s], w[t, s], 1.0 + 0.01 * s, 0.5) for s in range(6)} for t in range(3)}
    doc = summarise_series(_null_rows(table), engine_version="9", mode="paper", config={}, computed=0,
                           skipped=0)
    c2 = doc["checkpoints"][2]
    assert c2["null"]["emergence"] == pytest.approx(0.0, abs=1e-15)
    assert c2["emergence_contrast"] == pytest.approx(c2["emergence"])
    lo, hi = c2["emergence_contrast_ci"]
    elo, ehi = c2["emergence_ci"]
    assert lo == pytest.approx(elo) and hi == pytest.approx(ehi)  # same resamples, null E = 0 in each
