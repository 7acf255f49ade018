"""benchmarks/science_tables.py: the page splice and the coverage count (hand-made oracles)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.science_tables import coverage, splice


def _rec(a0: float, w: float, flagged: bool = False) -> dict:
    return {"alpha0": a0, "width": w, "tau": [0.0], "alpha": [a0], "f_alpha": [1.0],
            "diagnostics": {"flagged": flagged, "flags": ["low_r2"] if flagged else []}}


def test_splice_replaces_only_the_named_blocks() -> None:
    page = ("intro\n<!-- science_tables.py a -->\nold a\n<!-- /science_tables.py a -->\nmid\n"
            "<!-- science_tables.py b -->\nold b\n<!-- /science_tables.py b -->\nend\n")
    got = splice(page, {"b": "| new |"})
    assert got == page.replace("old b", "| new |")
    with pytest.raises(SystemExit, match="no block"):
        splice(page, {"c": "x"})


def test_coverage_of_a_constant_pool_is_total() -> None:
    # Every run's CI is [v, v] and every reference value is v: all repetitions cover.
    pool = [_rec(0.5, 0.75) for _ in range(30)]  # exact in binary: every mean is exact
    res = coverage(pool, reps=7, small=5, large=20)
    assert res["reps"] == 7
    assert res["hits"] == {"alpha0": {"median": 7, "mean": 7}, "width": {"median": 7, "mean": 7}}
    assert res["ci_width"]["alpha0"] == {"median": 0.0, "mean": 0.0}


def test_coverage_headline_ignores_flagged_outliers_the_mean_does_not() -> None:
    # Unflagged samples all 1.0, flagged ones 100.0: the headline (median of the unflagged) of any
    # run is exactly 1.0 with CI [1, 1], so it always covers; the mean of the large run includes
    # the outliers, and a small run whose CI misses it counts as a miss.
    pool = [_rec(1.0, 1.0) for _ in range(24)] + [_rec(100.0, 1.0, flagged=True) for _ in range(6)]
    res = coverage(pool, reps=6, small=5, large=20, seed=3)
    assert res["hits"]["alpha0"]["median"] == 6
    rng = np.random.default_rng(3)
    want = 0
    for _ in range(6):  # the same permutations, the mean CI by hand where it is degenerate
        order = rng.permutation(30)
        small = [pool[i]["alpha0"] for i in order[:5]]
        large = np.mean([pool[i]["alpha0"] for i in order[5:25]])
        if len(set(small)) == 1:  # degenerate CI [v, v]: covers only an equal mean
            want += int(small[0] == large)
        else:
            want = None
            break
    if want is not None:
        assert res["hits"]["alpha0"]["mean"] == want
    assert res["hits"]["alpha0"]["mean"] < 6
