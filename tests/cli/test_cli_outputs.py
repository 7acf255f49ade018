"""CLI outputs under OS errors: refused before the work, one-line errors after it, results kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mfa_engine.cli import main

ANALYZE = ["--samples", "1", "--neurons-per-layer", "4", "--quiet"]


@pytest.fixture
def ckpt(tiny_checkpoint):
    return str(tiny_checkpoint("gpt_neox"))


def _one_error_line(err: str) -> str:
    lines = [l for l in err.splitlines() if l.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_json_onto_a_directory_is_refused_before_the_analysis(ckpt, tmp_path, capsys, monkeypatch):
    import mfa_engine.api as api

    monkeypatch.setattr(api, "analyze_checkpoint", lambda *a, **k: pytest.fail("analysis ran"))
    assert main(["analyze", ckpt, *ANALYZE, "--json", str(tmp_path)]) == 2
    assert "is a directory" in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("name, msg", [("x.xyz", "unknown image format 'xyz'"),
                                       ("noext", "needs an image suffix")])
def test_bad_plot_name_is_refused_before_the_analysis(ckpt, tmp_path, capsys, monkeypatch, name, msg):
    import mfa_engine.api as api

    monkeypatch.setattr(api, "analyze_checkpoint", lambda *a, **k: pytest.fail("analysis ran"))
    assert main(["analyze", ckpt, *ANALYZE, "--plot", str(tmp_path / name)]) == 2
    assert msg in _one_error_line(capsys.readouterr().err)


def test_full_disk_keeps_the_analysis(ckpt, tmp_path, capsys):
    link = tmp_path / "full.json"
    link.symlink_to("/dev/full")
    assert main(["analyze", ckpt, *ANALYZE, "--json", str(link)]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in _one_error_line(err) and str(link) in err
    kept = Path(err.split("kept in ")[1].split()[0])
    try:
        assert json.loads(kept.read_text())["samples"][0]["seed"] == 0
    finally:
        kept.unlink()
    assert link.is_symlink()


def test_failed_plot_keeps_the_json(ckpt, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "p.png"
    png.symlink_to("/dev/full")
    out = tmp_path / "a.json"
    assert main(["analyze", ckpt, *ANALYZE, "--json", str(out), "--plot", str(png)]) == 2
    assert f"cannot write {png}: No space left" in _one_error_line(capsys.readouterr().err)
    assert json.loads(out.read_text())["mode"] == "paper"


def _cli(*args: str, stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mfa_engine", *args], stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=300)


@pytest.mark.slow
def test_json_stdout_into_dev_full(ckpt):
    with open("/dev/full", "w") as full:
        res = _cli("analyze", ckpt, *ANALYZE, "--json", "-", stdout=full.fileno())
    assert res.returncode == 2
    assert "cannot write the JSON document to stdout: No space left on device" in _one_error_line(res.stderr)


@pytest.mark.slow
def test_json_stdout_into_a_closed_pipe(ckpt):
    r, w = os.pipe()
    os.close(r)
    try:
        res = _cli("analyze", ckpt, *ANALYZE, "--json", "-", stdout=w)
    finally:
        os.close(w)
    assert res.returncode == 2
    assert "Broken pipe" in _one_error_line(res.stderr)


@pytest.mark.slow
def test_json_stdout_is_pure_json(ckpt, tmp_path):
    pytest.importorskip("matplotlib")
    res = _cli("analyze", ckpt, *ANALYZE, "--json", "-", "--plot", str(tmp_path / "p.png"))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["mode"] == "paper" and "alpha0" in res.stderr
    assert f"wrote {tmp_path / 'p.png'}" in res.stderr  # found by the fuzz harness: was on stdout


@pytest.mark.parametrize("formats, msg", [("", "names no image format"), ("xyz", "unknown image format 'xyz'"),
                                          (" , ", "names no image format")])
def test_plot_formats_are_checked(tmp_path, capsys, formats, msg):
    assert main(["plot", str(tmp_path), "--formats", formats]) == 2
    assert msg in _one_error_line(capsys.readouterr().err)
