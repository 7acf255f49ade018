"""run_batch under failures and concurrency: a failed first checkpoint, a run where every
checkpoint fails, rows stored meanwhile by another run."""

from __future__ import annotations

import json

from mfa_engine.batch import ResultsStore, run_batch
from mfa_engine.batch.executors import InlineExecutor
from mfa_engine.cli import main

from .conftest import copy_series, truncate_weights


def test_failed_first_checkpoint_is_named_as_the_emergence_reference(neox_series, tmp_path, capsys):
    root = copy_series(neox_series, tmp_path / "series")
    truncate_weights(root / "step0")
    rep = run_batch([str(root / "step*")], tmp_path / "s", options={"reference": {}}, samples=1,
                    log=lambda _: None)
    doc = rep.summaries["reference"]
    assert doc["reference_checkpoint"] == {"checkpoint": str(root / "step1000"), "step": 1000}
    assert doc["checkpoints"][0]["step"] == 1000 and doc["checkpoints"][0]["emergence"] == 0.0
    (w,) = doc["warnings"]
    assert "measured from checkpoint" in w and "step0" in w and "no results" in w
    # the CLI prints the warning
    code = main(["batch", str(root / "step*"), "--store", str(tmp_path / "s"), "--mode", "reference",
                 "--samples", "1", "--quiet", "--summary", str(tmp_path / "sum.json")])
    assert code == 1
    err = capsys.readouterr().err
    assert "warning: reference mode: E(t) is measured from checkpoint" in err
    assert json.loads((tmp_path / "sum.json").read_text())["reference_checkpoint"]["step"] == 1000


def test_no_warning_when_the_first_checkpoint_succeeds(neox_series, tmp_path):
    rep = run_batch([str(neox_series / "step0"), str(neox_series / "step1000")], tmp_path / "s",
                    options={"reference": {}}, samples=1, log=lambda _: None)
    doc = rep.summaries["reference"]
    assert doc["warnings"] == [] and doc["reference_checkpoint"]["step"] == 0


def test_run_where_every_checkpoint_fails_records_no_config(neox_series, tmp_path):
    root = copy_series(neox_series, tmp_path / "series", steps=(0,))
    truncate_weights(root / "step0")
    rep = run_batch([str(root / "step0")], tmp_path / "s", options={"reference": {"threshold": 99.0}},
                    samples=1, log=lambda _: None)
    assert rep.computed == 0 and len(rep.failed) == 1
    with ResultsStore(tmp_path / "s") as st:
        assert st.config("reference") is None and st.modes() == []
    # the next valid run with another config is accepted
    ok = run_batch([str(neox_series / "step0")], tmp_path / "s", options={"reference": {}}, samples=1,
                   log=lambda _: None)
    assert ok.computed == 1 and ok.ok


class _RacingExecutor:
    """Before running, another 'run' stores the first task's rows (same config)."""

    def __init__(self, store_dir):
        self.store_dir = store_dir

    def run(self, tasks, on_row, on_done):
        other = InlineExecutor()
        with ResultsStore(self.store_dir) as st:
            rows = []
            other.run(tasks[:1], rows.append, lambda _: None)
            st.append_many(rows)
        InlineExecutor().run(tasks, on_row, on_done)


def test_counts_add_up_when_another_run_stored_rows_meanwhile(neox_series, tmp_path):
    rep = run_batch([str(neox_series / "step*")], tmp_path / "s", options={"reference": {}}, samples=2,
                    executor=_RacingExecutor(tmp_path / "s"), log=lambda _: None)
    assert rep.computed + rep.skipped == 3 * 2
    assert (rep.computed, rep.skipped) == (4, 2)
    with ResultsStore(tmp_path / "s") as st:
        assert st.count() == 6
