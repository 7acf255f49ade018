"""Tests of mfa_engine.summary: robust headline, flagged samples apart, profiles and contrasts.

Oracles: numpy medians and percentiles of explicit resamples (``resample_indices``), SciPy's
bootstrap through ``bootstrap_ci`` for the scalar intervals.
"""

from __future__ import annotations

import numpy as np
import pytest

from mfa_engine.analysis.uncertainty import BOOTSTRAP_SEED, N_RESAMPLES, bootstrap_ci, resample_indices
from mfa_engine.summary import summarise

Q = np.array([-1.0, 0.0, 1.0])
U = np.linspace(-1.0, 2.0, 7)


def _record(seed: int, alpha0: float, width: float, *, flags=(), profile_shift: float = 0.0,
            null: dict | None = None) -> dict:
    rng = np.random.default_rng(seed)
    ln_mu = (1.0 + profile_shift + 0.1 * rng.standard_normal(U.size)).tolist()
    ln_mu[0] = None  # undefined at the first grid point for every sample
    rec = {
        "seed": seed, "tau": [-1.0, 0.0, 1.0], "alpha": [1.0, 0.8, 0.6], "f_alpha": [0.1, 0.8, 0.1],
        "alpha0": alpha0, "width": width, "n_centres": 5, "r2_min": 0.99,
        "diagnostics": {"flagged": bool(flags), "flags": list(flags)},
        "profile": {"u": U.tolist(), "ln_mu": ln_mu,
                    "ln_z": [[q * 0.5 + 0.01 * seed for _ in U] for q in Q]},
    }
    if null is not None:
        rec["null"] = null
    return rec


def _doc(records: list[dict]) -> dict:
    return summarise(records, Q, engine_version="t", checkpoint="c", model_type="gpt_neox",
                     mode="paper", config={}, seconds=0.0)


def test_headline_is_the_median_of_the_unflagged_samples_with_its_bootstrap_interval() -> None:
    a = [0.52, 0.55, 0.50, 1.99, 0.53, 0.51, 0.56]
    w = [0.80, 0.82, 0.79, 2.50, 0.81, 0.78, 0.83]
    recs = [_record(s, a[s], w[s], flags=("window_ambiguous",) if s == 3 else ()) for s in range(7)]
    doc = _doc(recs)
    kept = np.array([v for i, v in enumerate(a) if i != 3])
    assert doc["alpha0"] == float(np.median(kept))
    # The interval of the median: order statistics x_(1), x_(6) of the 6 kept values (k = 1:
    # P(Bin(6, 1/2) <= 0) = 1/64 <= 2.5%, P(Bin(6, 1/2) <= 1) = 7/64 > 2.5%).
    assert doc["alpha0_ci"] == [float(kept.min()), float(kept.max())]
    assert doc["alpha0_ci"][1] < 1.0  # the outlier is out of the headline
    # The means over all samples stay, with their spread and interval.
    assert doc["alpha0_mean"] == pytest.approx(np.mean(a))
    assert doc["alpha0_std"] == pytest.approx(np.std(a))
    assert doc["width_mean"] == pytest.approx(np.mean(w))
    assert doc["alpha0_median"] == float(np.median(a))
    assert doc["alpha0_mean_ci"] == list(bootstrap_ci(np.array(a)))
    assert doc["flagged"] == [{"seed": 3, "alpha0": 1.99, "width": 2.5, "flags": ["window_ambiguous"]}]
    assert doc["n_flagged"] == 1
    assert doc["headline"]["samples"] == "unflagged" and doc["headline"]["n_samples"] == 6
    assert doc["headline"]["coverage"] == pytest.approx(1 - 2 / 64)  # P(x_(1) <= m <= x_(6)), 6 values


def test_every_sample_flagged_falls_back_to_all_and_says_so() -> None:
    a = [0.6, 0.7, 0.9]
    recs = [_record(s, a[s], 1.0, flags=("low_r2",)) for s in range(3)]
    doc = _doc(recs)
    assert doc["alpha0"] == 0.7
    assert doc["headline"]["samples"].startswith("all") and doc["headline"]["n_samples"] == 3
    assert len(doc["flagged"]) == 3


def test_profile_median_and_interval_per_point() -> None:
    recs = [_record(s, 0.5, 0.8, profile_shift=0.05 * s, flags=("low_r2",) if s == 4 else ()) for s in range(6)]
    doc = _doc(recs)
    prof = doc["profile"]
    assert prof["u"] == pytest.approx(U.tolist()) and prof["n_samples"] == 5
    kept = [r for r in recs if r["seed"] != 4]
    x = np.array([[np.nan if v is None else v for v in r["profile"]["ln_mu"]] for r in kept])
    idx = resample_indices(len(kept), N_RESAMPLES, BOOTSTRAP_SEED)
    assert prof["ln_mu"]["median"][0] is None and prof["ln_mu"]["ci"][0] is None
    for k in range(1, U.size):
        assert prof["ln_mu"]["median"][k] == pytest.approx(np.median(x[:, k]), abs=1e-15)
        meds = np.array([np.median(x[row, k]) for row in idx])
        lo, hi = np.quantile(meds, [0.025, 0.975])
        assert prof["ln_mu"]["ci"][k] == pytest.approx([lo, hi], abs=1e-15)
    # ln Z_q: one band per q, the median of the constant per-sample slopes.
    assert len(prof["ln_z"]) == Q.size
    for j, q in enumerate(Q):
        assert prof["ln_z"][j]["median"][3] == pytest.approx(np.median([q * 0.5 + 0.01 * r["seed"] for r in kept]))


def test_records_without_profiles_or_on_other_grids_give_no_profile() -> None:
    recs = [_record(s, 0.5, 0.8) for s in range(3)]
    recs[1]["profile"] = {**recs[1]["profile"], "u": (U + 0.1).tolist()}
    assert "profile" not in _doc(recs)
    for r in recs:
        del r["profile"]
    assert "profile" not in _doc(recs)


def test_contrast_is_the_median_of_paired_differences_with_a_paired_interval() -> None:
    rng = np.random.default_rng(3)
    seed_effect = rng.normal(0, 0.3, 8)  # shared by a seed's real and null: cancels in pairs
    recs = []
    for s in range(8):
        null = _record(s, 0.6 + seed_effect[s], 0.9, profile_shift=seed_effect[s])
        null["model"] = "gaussian"
        if s == 2:
            null["diagnostics"] = {"flagged": True, "flags": ["saturated"]}
        real = _record(s, 0.6 + seed_effect[s] + 0.1 + 0.001 * s, 0.95,
                       profile_shift=seed_effect[s] + 0.2, null=null)
        recs.append(real)
    doc = _doc(recs)
    c = doc["contrast"]
    pairs = [r for r in recs if r["seed"] != 2]  # the pair with a flagged null is left out
    d = np.array([r["alpha0"] - r["null"]["alpha0"] for r in pairs])
    assert c["n_pairs"] == 7
    assert c["alpha0"]["median"] == pytest.approx(float(np.median(d)))
    # 7 pairs: k = 1 (P(Bin(7, 1/2) <= 0) = 1/128, <= 1: 8/128 > 2.5%): the whole range
    assert c["alpha0"]["ci"] == [float(d.min()), float(d.max())]
    assert 0.1 - 1e-12 <= c["alpha0"]["ci"][0] <= c["alpha0"]["ci"][1] <= 0.107 + 1e-12  # paired: the seed effect cancels
    assert c["width"]["median"] == pytest.approx(0.05) and c["width"]["ci"] == pytest.approx([0.05, 0.05])
    prof = c["profile"]
    # Real minus null per seed is 0.2 + (noise of the two records, identical per seed): exactly 0.2.
    assert prof["ln_mu"]["median"][1:] == pytest.approx([0.2] * (U.size - 1), abs=1e-12)
    assert prof["ln_mu"]["ci"][1] == pytest.approx([0.2, 0.2], abs=1e-12)
    assert doc["null"]["model"] == "gaussian"
    assert doc["null"]["alpha0"] == float(np.median([r["null"]["alpha0"] for r in pairs]))
    assert doc["null"]["profile"]["n_samples"] == 7
