"""Issue 22 (classes 3, 4, 5): outputs never alias inputs, the store or each other; results
keyed by content identity; every setting read through one checked reader."""

from __future__ import annotations

import os

import pytest

from mfa_engine.cli import main

from ..batch.conftest import STEPS, copy_series, neox_series  # noqa: F401


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("name", ["model.safetensors", "config.json"])
def test_d5_analyze_json_onto_its_own_checkpoint_is_refused(neox_series, tmp_path, capsys, name):
    ck = copy_series(neox_series, tmp_path / "s", (0,)) / "step0"
    before = (ck / name).read_bytes()
    assert main(["analyze", str(ck), "--samples", "1", "--quiet", "--json", str(ck / name)]) == 2
    line = _error(capsys)
    assert line.startswith(f"error: --json {ck / name} is a file of checkpoint {ck}")
    assert "destroy an input" in line
    assert (ck / name).read_bytes() == before


def test_d5_symlink_and_hard_link_to_an_input_are_refused(neox_series, tmp_path, capsys):
    ck = copy_series(neox_series, tmp_path / "s", (0,)) / "step0"
    before = (ck / "model.safetensors").read_bytes()
    (tmp_path / "link.json").symlink_to(ck / "model.safetensors")
    os.link(ck / "config.json", tmp_path / "hard.png")
    assert main(["analyze", str(ck), "--quiet", "--json", str(tmp_path / "link.json")]) == 2
    assert "is a file of checkpoint" in _error(capsys)
    assert main(["analyze", str(ck), "--quiet", "--plot", str(tmp_path / "hard.png")]) == 2
    assert "is a file of checkpoint" in _error(capsys)
    assert (ck / "model.safetensors").read_bytes() == before


def test_d5_two_outputs_on_one_file_are_refused(neox_series, tmp_path, capsys):
    ck = neox_series / "step0"
    out = tmp_path / "x.png"
    assert main(["analyze", str(ck), "--quiet", "--plot", str(out), "--fit-plot", str(out)]) == 2
    assert _error(capsys) == f"error: --fit-plot {out} and --plot {out} name the same file; choose distinct output paths"
    assert not out.exists()


def test_d4_batch_summary_onto_the_store_is_refused(neox_series, tmp_path, capsys):
    store = tmp_path / "st"
    argv = ["batch", str(neox_series / "step0"), "--mode", "reference", "--samples", "1", "--store",
            str(store), "--quiet"]
    assert main(argv) == 0
    capsys.readouterr()
    db = (store / "results.sqlite").read_bytes()
    assert main([*argv, "--summary", str(store / "results.sqlite")]) == 2
    line = _error(capsys)
    assert line.startswith(f"error: --summary {store / 'results.sqlite'} is a file of the results store {store}")
    assert (store / "results.sqlite").read_bytes()[:16] == b"SQLite format 3\x00"
    assert len((store / "results.sqlite").read_bytes()) == len(db)


def test_d4_batch_outputs_onto_inputs_or_each_other_are_refused(neox_series, tmp_path, capsys):
    series = copy_series(neox_series, tmp_path / "s", (0, 1000))
    store = tmp_path / "st"
    base = ["batch", str(series / "step*"), "--mode", "reference", "--samples", "1", "--store", str(store), "--quiet"]
    weights = series / "step1000" / "model.safetensors"
    before = weights.read_bytes()
    assert main([*base, "--export", str(series / "step1000" / "config.json")]) == 2
    assert "is a file of checkpoint" in _error(capsys)
    (tmp_path / "w.json").symlink_to(weights)
    assert main([*base, "--summary", str(tmp_path / "w.json")]) == 2
    assert "is a file of checkpoint" in _error(capsys)
    assert main([*base, "--summary", str(tmp_path / "a.json"), "--export", str(tmp_path / "a.json")]) == 2
    assert "name the same file" in _error(capsys)
    assert weights.read_bytes() == before
    assert not store.exists()  # refused before any work: no store created


def test_d4_plot_output_linked_to_the_store_is_refused(neox_series, tmp_path, capsys):
    store = tmp_path / "st"
    assert main(["batch", str(neox_series / "step0"), "--mode", "reference", "--samples", "1", "--store",
                 str(store), "--quiet"]) == 0
    capsys.readouterr()
    (store / "reference-series.png").symlink_to(store / "results.sqlite")
    assert main(["plot", str(store)]) == 2
    assert "is a file of the results store" in _error(capsys)
    assert (store / "results.sqlite").read_bytes()[:16] == b"SQLite format 3\x00"


def test_u4_plot_of_a_store_where_every_checkpoint_failed_is_an_error(neox_series, tmp_path, capsys):
    from ..batch.conftest import truncate_weights

    root = copy_series(neox_series, tmp_path / "s", (0,))
    truncate_weights(root / "step0")
    store = tmp_path / "st"
    assert main(["batch", str(root / "step0"), "--mode", "reference", "--samples", "1", "--store",
                 str(store), "--quiet"]) == 1
    capsys.readouterr()
    assert main(["plot", str(store), "--out", str(tmp_path / "plots")]) == 2
    assert _error(capsys) == (f"error: results store {store} has no results in any mode (no checkpoint of "
                              "its runs succeeded); nothing to plot")
    assert not (tmp_path / "plots").exists()
