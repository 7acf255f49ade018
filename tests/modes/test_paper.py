"""Paper mode module: plan() records exactly the reads run() makes; run() matches analyze_graph."""

from __future__ import annotations

import pytest

from mfa_engine.api import analyze_graph
from mfa_engine.arch import get_adapter
from mfa_engine.checkpoints import open_checkpoint
from mfa_engine.modes import get_mode, paper
from mfa_engine.nin import build_nin
from mfa_engine.options import AnalysisOptions

from .plan_check import planned_and_run


@pytest.mark.parametrize("model_type", ["gpt_neox", "gpt2", "llama", "bert"])
def test_plan_records_exactly_the_reads_of_run(tiny_checkpoint, model_type):
    kw = {"kv_heads": 2} if model_type == "llama" else {}
    opts = AnalysisOptions(neurons_per_layer=5, n_radii=10, backend="cpu")
    with open_checkpoint(tiny_checkpoint(model_type, **kw)) as ckpt:
        planned, ran, records = planned_and_run(paper, ckpt, [3, 1, 4], opts)
    assert planned == ran and len(ran) > 0
    assert [r["seed"] for r in records] == [3, 1, 4]


def test_run_records_are_the_spectra_of_the_sampled_networks(tiny_checkpoint):
    opts = AnalysisOptions(sampling="neurons", neurons_per_layer=6, n_radii=12, convention="sandbox", backend="cpu")
    assert get_mode("paper") is paper
    with open_checkpoint(tiny_checkpoint("gpt2")) as ckpt:
        records, q = paper.run(ckpt, [2], opts)
        g = build_nin(ckpt, get_adapter(ckpt.config), neurons_per_layer=6, seed=2,
                      structural_scale="median")
    spec = analyze_graph(g, convention="sandbox", n_radii=12, backend="cpu", fit_window="auto")
    (rec,) = records
    assert rec["alpha0"] == spec.alpha0 and rec["tau"] == spec.tau.tolist()
    assert rec["diagnostics"] == spec.diagnostics and rec["structural_distance"] == g.structural_distance
    assert rec["dims"] == spec.dims.tolist() and rec["n_nodes"] == g.n_nodes
    assert q.tolist() == spec.q.tolist()
