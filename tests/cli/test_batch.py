"""`mfa batch` and `mfa plot` end to end: contract, resume after SIGKILL, TOML, errors, plots."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mfa_engine import __version__
from mfa_engine.batch import ResultsStore
from mfa_engine.cli import main

from ..batch.conftest import STEPS, copy_series, neox_series, truncate_weights  # noqa: F401

SUMMARY_KEYS = ["engine_version", "mode", "config", "computed", "skipped", "checkpoints"]
CKPT_KEYS = {"checkpoint", "step", "alpha0", "width", "alpha0_std", "width_std", "emergence", "samples"}
REPO = Path(__file__).resolve().parents[2]


def _rows(store):
    with ResultsStore(store) as st:
        return [(r["checkpoint"], r["step"], r["mode"], r["seed"], r["config_hash"], r["record"]) for r in st.rows()]


def test_batch_summary_contract_and_rerun_skips(neox_series, tmp_path, capsys):
    out = tmp_path / "sum.json"
    argv = ["batch", str(neox_series / "step*"), "--mode", "reference", "--samples", "3",
            "--store", str(tmp_path / "s"), "--summary", str(out), "--quiet"]
    assert main(argv) == 0
    doc = json.loads(out.read_text())
    assert list(doc)[:6] == SUMMARY_KEYS
    assert doc["engine_version"] == __version__ and doc["mode"] == "reference"
    assert (doc["computed"], doc["skipped"]) == (9, 0)
    assert doc["config"] == {"mode": "reference", "neurons_per_layer": 32, "q": None, "threshold": 150.0}
    assert [c["step"] for c in doc["checkpoints"]] == list(STEPS)
    for c in doc["checkpoints"]:
        assert CKPT_KEYS <= c.keys()
        assert [s["seed"] for s in c["samples"]] == [0, 1, 2]
        assert c["alpha0"] == pytest.approx(np.median([s["alpha0"] for s in c["samples"]]))  # none flagged
        assert c["alpha0_mean"] == pytest.approx(sum(s["alpha0"] for s in c["samples"]) / 3)
    assert doc["checkpoints"][0]["emergence"] == 0.0
    printed = capsys.readouterr().out
    assert "computed 9 samples, skipped 0" in printed
    assert main(argv) == 0
    assert "computed 0 samples, skipped 9" in capsys.readouterr().out
    assert json.loads(out.read_text())["checkpoints"] == doc["checkpoints"]


def _batch_cmd(series: Path, store: Path) -> list[str]:
    return [sys.executable, "-m", "mfa_engine", "batch", str(series / "step*"), "--mode", "paper,reference",
            "--samples", "3", "--store", str(store), "--quiet"]


@pytest.mark.slow
def test_sigkill_at_several_points_then_resume_equals_uninterrupted_run(neox_series, tmp_path, capsys):
    # Uninterrupted run (in-process) as the oracle: 3 checkpoints x 2 modes x 3 seeds = 18 rows.
    full = tmp_path / "full"
    cmd = _batch_cmd(neox_series, full)
    assert main(cmd[3:]) == 0
    assert len(_rows(full)) == 18
    capsys.readouterr()

    store = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    stored = 0
    for kill_after in (1, 5, 7):  # first paper sample; mid second checkpoint; mid reference seeds
        cmd = [sys.executable, str(Path(__file__).with_name("kill_after_rows.py")), str(kill_after)]
        r = subprocess.run(cmd + _batch_cmd(neox_series, store)[3:], env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == -signal.SIGKILL, r.stderr
        rows = _rows(store)
        assert len(rows) == stored + kill_after  # every stored row survived; nothing half-written
        stored = len(rows)
    r = subprocess.run(_batch_cmd(neox_series, store), env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"computed {18 - stored} samples, skipped {stored} already in the store" in r.stdout
    assert _rows(store) == _rows(full)  # exact values, no duplicates


def test_toml_config_replaces_flags_and_cli_wins(neox_series, tmp_path, capsys):
    cfg = tmp_path / "batch.toml"
    cfg.write_text(
        f'checkpoints = ["{neox_series}/step0", "{neox_series}/step2000"]\n'
        f'store = "{tmp_path / "s"}"\nmode = "reference"\nsamples = 2\nseed = 4\n'
        f'threshold = 120.0\nsummary = "{tmp_path / "sum.json"}"\nquiet = true\n'
    )
    assert main(["batch", "--config", str(cfg), "--samples", "1"]) == 0
    doc = json.loads((tmp_path / "sum.json").read_text())
    assert doc["config"]["threshold"] == 120.0
    assert [c["step"] for c in doc["checkpoints"]] == [0, 2000]
    assert [s["seed"] for s in doc["checkpoints"][0]["samples"]] == [4]  # --samples 1 beat the file
    bad = tmp_path / "bad.toml"
    bad.write_text('sampels = 3\n')
    assert main(["batch", "--config", str(bad)]) == 2
    assert "unknown key 'sampels'" in capsys.readouterr().err


def test_other_config_refused_then_forced(neox_series, tmp_path, capsys):
    base = ["batch", str(neox_series / "step0"), "--mode", "reference", "--samples", "1",
            "--store", str(tmp_path / "s"), "--quiet"]
    assert main(base) == 0
    assert main([*base, "--threshold", "100"]) == 2
    err = capsys.readouterr().err
    assert "another config (threshold 150.0 -> 100.0)" in err and "--force" in err
    assert main([*base, "--threshold", "100", "--force"]) == 0
    assert "computed 1 samples, skipped 0" in capsys.readouterr().out


def test_corrupt_checkpoint_mid_series_exit_code(neox_series, tmp_path, capsys):
    root = copy_series(neox_series, tmp_path / "series")
    truncate_weights(root / "step1000")
    out = tmp_path / "sum.json"
    code = main(["batch", str(root / "step*"), "--mode", "reference", "--samples", "2",
                 "--store", str(tmp_path / "s"), "--summary", str(out), "--quiet"])
    assert code == 1
    err = capsys.readouterr().err
    assert "step1000" in err and "failed and was skipped" in err and "truncated" in err
    doc = json.loads(out.read_text())
    assert [c["step"] for c in doc["checkpoints"]] == [0, 2000]
    assert doc["failed"][0]["step"] == 1000 and doc["computed"] == 4


@pytest.mark.slow
def test_plot_and_export(neox_series, tmp_path, capsys):
    store = tmp_path / "s"
    assert main(["batch", str(neox_series / "step*"), "--mode", "paper,reference", "--samples", "2",
                 "--store", str(store), "--quiet",
                 "--summary", str(tmp_path / "sum.json"), "--export", str(tmp_path / "rows.csv")]) == 0
    assert json.loads((tmp_path / "sum.paper.json").read_text())["mode"] == "paper"
    assert json.loads((tmp_path / "sum.reference.json").read_text())["mode"] == "reference"
    assert len((tmp_path / "rows.csv").read_text().splitlines()) == 1 + 12
    assert main(["plot", str(store), "--out", str(tmp_path / "plots"), "--mode", "reference",
                 "--steps", "0,2000"]) == 0
    for name in ("reference-series", "reference-spectra"):
        png, svg = tmp_path / "plots" / f"{name}.png", tmp_path / "plots" / f"{name}.svg"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
        assert "<svg" in svg.read_text()[:500]
    assert main(["plot", str(tmp_path / "nothing")]) == 2
    assert "is not a results store" in capsys.readouterr().err


def test_batch_and_plot_commands_import_light():
    code = ("import sys, mfa_engine.batch, mfa_engine.cli.batch, mfa_engine.cli.plot, mfa_engine.cli\n"
            "mfa_engine.cli.build_parser()\n"
            "print(','.join(m for m in ('torch', 'transformers', 'ray', 'numba', 'matplotlib') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""


def test_batch_null_model_summary_table_store_and_plots(neox_series, tmp_path, capsys):
    store, out = tmp_path / "s", tmp_path / "sum.json"
    base = ["batch", str(neox_series / "step*"), "--samples", "3", "--neurons-per-layer", "8",
            "--store", str(store), "--quiet"]
    assert main(base + ["--null", "shuffle", "--summary", str(out), "--plot-dir", str(tmp_path / "p")]) == 0
    doc = json.loads(out.read_text())
    assert doc["config"]["null"] == "shuffle"
    for c in doc["checkpoints"]:
        assert {"alpha0_ci", "width_ci", "emergence_ci", "alpha0_median", "width_median"} <= c.keys()
        assert c["alpha0_ci"][0] <= c["alpha0"] <= c["alpha0_ci"][1]
        n = c["null"]
        assert n["n_samples"] == 3 and n["alpha0_ci"][0] <= n["alpha0"] <= n["alpha0_ci"][1]
        assert n["emergence_ci"][0] <= n["emergence"] <= n["emergence_ci"][1]
    assert doc["checkpoints"][0]["null"]["emergence"] == 0.0
    printed = capsys.readouterr().out
    assert "null E" in printed and "E CI" in printed and "E-null CI" in printed
    for c in doc["checkpoints"]:
        assert c["emergence_contrast"] == pytest.approx(c["emergence"] - c["null"]["emergence"])
        lo, hi = c["emergence_contrast_ci"]
        assert lo <= c["emergence_contrast"] <= hi
    for fmt in ("png", "svg"):
        assert (tmp_path / "p" / f"paper-series.{fmt}").is_file()
        assert (tmp_path / "p" / f"paper-spectra.{fmt}").is_file()
    # Rows with a null hash apart from rows without: the same store refuses a plain run.
    assert main(base) == 2
    assert "null 'shuffle' -> None" in capsys.readouterr().err
