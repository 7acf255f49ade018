"""Hub checkpoints in batch series (``Org/Name@step*``), the store's byte accounting, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mfa_engine.api import analyze_checkpoint
from mfa_engine.batch import ResultsStore, run_batch
from mfa_engine.batch.series import expand_series
from mfa_engine.cli import main
from mfa_engine.errors import ConfigError

from .hub_server import HubServer
from .test_hub import PAPER, REPO, neox, publish  # noqa: F401 - neox is a fixture

__all__: list[str] = []


def test_series_glob_over_hub_branches(hub: HubServer, neox: Path) -> None:
    publish(hub, neox)
    hub.add_folder(REPO, "step20", neox / "step0")
    hub.add_folder(REPO, "other", neox / "step0")
    specs = expand_series([f"{REPO}@step*"])
    assert [(s.revision, s.step, s.key) for s in specs] == [
        ("step0", 0, f"{REPO}@step0"), ("step20", 20, f"{REPO}@step20"),
        ("step1000", 1000, f"{REPO}@step1000")]
    assert [s.revision for s in expand_series([f"{REPO}@step1000,step0"])] == ["step0", "step1000"]
    assert [(s.path, s.revision) for s in expand_series([REPO])] == [(REPO, None)]
    with pytest.raises(ConfigError, match=r"no revision of EleutherAI/pythia-tiny matches best\*"):
        expand_series([f"{REPO}@best*"])


def test_batch_from_hub_equals_local_and_records_bytes(hub: HubServer, neox: Path, tmp_path: Path) -> None:
    commits = publish(hub, neox)
    opts = {"paper": dict(PAPER), "reference": {}}
    rep = run_batch([f"{REPO}@step*"], tmp_path / "s", options=opts, samples=2, log=lambda _: None)
    assert rep.ok and rep.computed == 8
    assert rep.bytes_read == hub.range_bytes > 0  # the next checkpoint's fetch is counted too
    with ResultsStore(tmp_path / "s") as st:
        reads = st.reads()
        rows = st.rows("paper") + st.rows("reference")
    assert [(r["checkpoint"], r["step"]) for r in reads] == [
        (f"{REPO}@step0#{commits['step0']}", 0), (f"{REPO}@step1000#{commits['step1000']}", 1000)]  # keyed by commit
    assert all(0 < r["bytes_read"] < r["bytes_total"] for r in reads)
    assert sum(r["bytes_read"] for r in reads) == hub.range_bytes
    for step in ("step0", "step1000"):
        for mode in ("paper", "reference"):
            local = analyze_checkpoint(neox / step, mode=mode, samples=2, **opts[mode])
            mine = sorted((r["record"] for r in rows if r["checkpoint"] == f"{REPO}@{step}#{commits[step]}"
                           and r["mode"] == mode), key=lambda r: r["seed"])
            assert mine == local["samples"]
    hub.reset_counters()  # a new store over the same range cache fetches nothing
    rep2 = run_batch([f"{REPO}@step*"], tmp_path / "s2", options=opts, samples=2, log=lambda _: None)
    assert rep2.ok and rep2.bytes_read == 0 and hub.range_bytes == 0


def test_cli_analyze_hub_and_cache_commands(hub: HubServer, neox: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    publish(hub, neox)
    cache = tmp_path / "ranges"
    out = tmp_path / "hub.json"
    assert main(["analyze", REPO, "--revision", "step1000", "--samples", "1", "--neurons-per-layer", "6",
                 "--range-cache", str(cache), "--json", str(out), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    local = analyze_checkpoint(neox / "step1000", samples=1, **PAPER)
    assert doc["samples"] == local["samples"] and doc["bytes_read"] == hub.range_bytes
    assert "fetched" in capsys.readouterr().out
    assert main(["cache", "info", "--range-cache", str(cache)]) == 0
    text = capsys.readouterr().out
    assert f"{REPO}: 1 commit(s)" in text
    assert main(["cache", "clear", "--range-cache", str(cache)]) == 0
    assert "cleared all repositories" in capsys.readouterr().out
    assert not any(cache.rglob("*.ranges"))
    assert main(["analyze", REPO, "--revision", "nope", "--samples", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: EleutherAI/pythia-tiny@nope: revision not found on the Hub (HTTP 404)"
