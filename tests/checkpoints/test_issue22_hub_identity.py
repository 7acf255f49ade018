"""Issue 22 S2: Hub checkpoints are keyed in the results store by their commit."""

from __future__ import annotations

from pathlib import Path

from mfa_engine.api import analyze_checkpoint
from mfa_engine.batch import ResultsStore, run_batch

from .hub_server import HubServer
from .test_hub import REPO, neox  # noqa: F401 - neox is a fixture

__all__: list[str] = []


def test_s2_moving_main_is_recomputed_under_its_new_commit(hub: HubServer, neox: Path, tmp_path: Path) -> None:
    old = hub.add_folder(REPO, "main", neox / "step0")
    rep = run_batch([REPO], tmp_path / "s", options={"reference": {}}, samples=1, log=lambda _: None)
    assert rep.ok and rep.computed == 1
    new = hub.add_folder(REPO, "main", neox / "step1000")  # main moves to new weights
    assert new != old
    rep2 = run_batch([REPO], tmp_path / "s", options={"reference": {}}, samples=1, log=lambda _: None)
    assert rep2.ok and (rep2.computed, rep2.skipped) == (1, 0)
    with ResultsStore(tmp_path / "s") as st:
        rows = {r["checkpoint"]: r["record"] for r in st.rows("reference")}
    assert sorted(rows) == sorted([f"{REPO}#{old}", f"{REPO}#{new}"])
    assert rows[f"{REPO}#{new}"] == analyze_checkpoint(neox / "step1000", mode="reference", samples=1)["samples"][0]
    assert rows[f"{REPO}#{old}"] == analyze_checkpoint(neox / "step0", mode="reference", samples=1)["samples"][0]
    # the same commit again: skipped
    rep3 = run_batch([REPO], tmp_path / "s", options={"reference": {}}, samples=1, log=lambda _: None)
    assert (rep3.computed, rep3.skipped) == (0, 1)
