"""Reference mode interface: plan() records exactly the reads of run(); run() = analyze_reference."""

from __future__ import annotations

import numpy as np

from mfa_engine.checkpoints import open_checkpoint
from mfa_engine.modes import get_mode
from mfa_engine.modes import reference as mode
from mfa_engine.options import AnalysisOptions
from mfa_engine.reference import analyze_reference
from mfa_engine.synthetic import write_gpt_neox_checkpoint

from ..modes.plan_check import planned_and_run


def test_plan_records_exactly_the_reads_of_run(tmp_path):
    path = write_gpt_neox_checkpoint(tmp_path / "c", seed=3, hidden_size=48, num_hidden_layers=2,
                                     num_attention_heads=4, dtype="float32")
    opts = AnalysisOptions(mode="reference", neurons_per_layer=12, threshold=200.0)
    assert get_mode("reference") is mode
    with open_checkpoint(path) as ckpt:
        planned, ran, records = planned_and_run(mode, ckpt, [5, 0, 2], opts)
        want = analyze_reference(ckpt, [5, 0, 2], threshold=200.0, n_per_layer=12)
    assert planned == ran and len(ran) == 2 * 4  # one read per block and matrix for all seeds
    assert [r["seed"] for r in records] == [5, 0, 2]
    for rec, spec in zip(records, want["per_seed"]):
        assert rec["alpha0"] == spec["alpha0"] and rec["width"] == spec["width"]
        np.testing.assert_array_equal(rec["tau"], spec["tau"])
        assert rec["n_radii"] == len(spec["radii"])
