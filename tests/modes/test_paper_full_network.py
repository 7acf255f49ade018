"""Paper mode on the full network: every seed is the same graph, analysed once (issue 20)."""

from __future__ import annotations

from mfa_engine.modes import paper


def test_full_network_is_analysed_once(tmp_path, monkeypatch) -> None:
    from mfa_engine.api import analyze_checkpoint
    from mfa_engine.synthetic import write_gpt_neox_checkpoint

    path = write_gpt_neox_checkpoint(tmp_path, seed=2, hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
    calls = []
    real = paper._sample
    monkeypatch.setattr(paper, "_sample", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    doc = analyze_checkpoint(path, neurons_per_layer="all", samples=3, seed=4, backend="cpu", threads=1)
    assert calls == [4]
    recs = doc["samples"]
    assert [r["seed"] for r in recs] == [4, 5, 6]
    assert all({k: v for k, v in r.items() if k != "seed"} == {k: v for k, v in recs[0].items() if k != "seed"}
               for r in recs)
