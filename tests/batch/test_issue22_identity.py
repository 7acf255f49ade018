"""Issue 22: local checkpoints fingerprinted in the store (changed weights refused, never
silently skipped) and steps that SQLite cannot hold refused with a clear error (X5)."""

from __future__ import annotations

import os
import shutil

import pytest

from mfa_engine.batch import ResultsStore, run_batch
from mfa_engine.batch.series import expand_series
from mfa_engine.cli import main
from mfa_engine.errors import ConfigError, StoreError

from .conftest import copy_series


def test_changed_local_weights_are_refused_not_skipped(neox_series, tmp_path):
    root = copy_series(neox_series, tmp_path / "series", steps=(0, 1000))
    rep = run_batch([str(root / "step*")], tmp_path / "s", options={"reference": {}}, samples=1,
                    log=lambda _: None)
    assert rep.ok and rep.computed == 2
    # same files: everything skipped
    rep = run_batch([str(root / "step*")], tmp_path / "s", options={"reference": {}}, samples=1,
                    log=lambda _: None)
    assert rep.ok and (rep.computed, rep.skipped) == (0, 2)
    # step1000 gets other weights (step0's file, then a new mtime)
    target = root / "step1000" / "model.safetensors"
    target.write_bytes((root / "step0" / "model.safetensors").read_bytes())
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))
    rep = run_batch([str(root / "step*")], tmp_path / "s", options={"reference": {}}, samples=1,
                    log=lambda _: None)
    assert (rep.computed, rep.skipped) == (0, 1)
    (failed,) = rep.failed
    assert failed["step"] == 1000
    assert failed["error"].startswith(f"checkpoint {root / 'step1000'} changed since its 1 stored samples")
    with ResultsStore(tmp_path / "s") as st:
        assert st.count() == 2


def test_x5_step_too_large_for_sqlite_is_a_clear_error(neox_series, tmp_path, capsys):
    big = tmp_path / "step99999999999999999999"
    shutil.copytree(neox_series / "step0", big)
    with pytest.raises(ConfigError, match=r"step 99999999999999999999 is too large for the results store"):
        expand_series([str(big)])
    assert main(["batch", str(big), "--store", str(tmp_path / "s"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "step 99999999999999999999 is too large for the results store" in err[0]
    with ResultsStore(tmp_path / "s2") as st, pytest.raises(StoreError, match="does not fit the results store"):
        st.done_seeds("x", 2**63, "paper", "h")
