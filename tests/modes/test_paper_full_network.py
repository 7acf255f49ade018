"""Paper mode on the full network: every seed is the same measurement, computed once (issues 20, 21)."""

from __future__ import annotations

import pytest

from mfa_engine.modes import paper


@pytest.mark.parametrize("whole", [{"sampling": "neurons", "neurons_per_layer": "all"}, {"centres": "all"}])
def test_full_network_is_analysed_once(tmp_path, monkeypatch, whole) -> None:
    from mfa_engine.api import analyze_checkpoint
    from mfa_engine.options import AnalysisOptions
    from mfa_engine.synthetic import write_gpt_neox_checkpoint

    path = write_gpt_neox_checkpoint(tmp_path, seed=2, hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
    calls = []
    real = paper._measure
    monkeypatch.setattr(paper, "_measure", lambda *a, **k: calls.append(a[4]) or real(*a, **k))
    doc = analyze_checkpoint(path, samples=3, seed=4, backend="cpu", threads=1, **whole)
    assert calls == [4]
    recs = doc["samples"]
    assert [r["seed"] for r in recs] == [4, 5, 6]
    assert all({k: v for k, v in r.items() if k != "seed"} == {k: v for k, v in recs[0].items() if k != "seed"}
               for r in recs)
    # the whole network is one sample by default (issue 20 item 5); an explicit --samples wins
    assert AnalysisOptions(**whole).samples == 1
    assert AnalysisOptions(**whole, samples=4).samples == 4
    assert AnalysisOptions().samples == 10
