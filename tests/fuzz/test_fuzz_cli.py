"""Fuzzed command lines and TOML configs: exit 0 with a correct JSON document, or exit 2 with
one ``error:`` line; never a traceback; nothing written outside the output paths."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfa_engine.cli import main

from .harness import budget, one_line, record

HOSTILE = ["-1", "0", "1", "2", "nan", "inf", "-inf", "1e9", "1e-9", "abc", "", "all", "3.5", str(2**64)]
OPTIONS = {
    "--samples": ["1", "2"] + HOSTILE,
    "--seed": ["0", "7"] + HOSTILE,
    "--neurons-per-layer": ["3", "4", "all"] + HOSTILE,
    "--n-radii": ["2", "8", "100000000"] + HOSTILE,
    "--q-min": ["-1", "-3"] + HOSTILE,
    "--q-max": ["1", "3"] + HOSTILE,
    "--q-step": ["0.5", "0.25"] + HOSTILE,
    "--threshold": ["150", "2"] + HOSTILE,
    "--eps": ["0", "0.01"] + HOSTILE,
    "--structural-distance": ["1", "0.5"] + HOSTILE,
    "--min-reach": ["0", "2"] + HOSTILE,
    "--mode": ["paper", "reference", "bogus"],
    "--radius-upper": ["p99", "max", "rounded", "x"],
    "--convention": ["boxgrowing", "sandbox", "x"],
    "--backend": ["cpu", "torch", "auto", "cupy"],
}
OUTPUTS = ["ok.json", "-", "DIR", "FILE/x.json", "FULL", "none"]
PLOTS = ["none", "p.png", "p.xyz", "noext", "DIR"]

argv_strategy = st.tuples(
    st.dictionaries(st.sampled_from(sorted(OPTIONS)), st.integers(0, 100), max_size=4),
    st.sampled_from(OUTPUTS), st.sampled_from(PLOTS))


@pytest.fixture(scope="module")
def ckpt(tiny_checkpoint):
    return tiny_checkpoint("gpt_neox")


def _out_path(kind: str, box: Path) -> str | None:
    return {"ok.json": str(box / "ok.json"), "-": "-", "DIR": str(box / "adir"),
            "FILE/x.json": str(box / "afile" / "x.json"), "FULL": str(box / "full.json"),
            "none": None}[kind]


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in root.rglob("*")}


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """Run ``mfa`` in-process. argparse's own refusals (usage line + ``prog: error: ...``,
    exit 2) are turned into the same shape as the engine's errors."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
            text = err.getvalue()
            assert code == 2 and text.startswith("usage:"), text
            last = text.strip().splitlines()[-1]
            assert ": error: " in last, text
            return 2, out.getvalue(), "error: " + last.split(": error: ", 1)[1] + "\n"
    return code, out.getvalue(), err.getvalue()


def check_outcome(code: int, err: str) -> str:
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err, err
    if code == 2:
        errors = [l for l in err.splitlines() if l.startswith("error:")]
        assert errors, err
        for line in errors:
            one_line(line)
        return "error"
    return "ok"


@pytest.mark.slow
@budget(12)
@given(case=argv_strategy)
def test_analyze_command_line(ckpt, tmp_path_factory, case):
    opts, out_kind, plot_kind = case
    box = tmp_path_factory.mktemp("box")
    (box / "adir").mkdir()
    (box / "afile").write_text("keep")
    (box / "full.json").symlink_to("/dev/full")
    argv = ["analyze", str(ckpt), "--quiet"]
    for opt, i in opts.items():
        vals = OPTIONS[opt]
        argv += [f"{opt}={vals[i % len(vals)]}"]
    if "--samples" not in opts:
        argv += ["--samples", "1"]
    if "--neurons-per-layer" not in opts:
        argv += ["--neurons-per-layer", "4"]
    out = _out_path(out_kind, box)
    if out:
        argv += ["--json", out]
    plot = {"none": None, "p.png": box / "p.png", "p.xyz": box / "p.xyz", "noext": box / "noext",
            "DIR": box / "adir"}[plot_kind]
    if plot:
        argv += ["--plot", str(plot)]
    before_ckpt = _snapshot(ckpt)
    before = _snapshot(box)
    rescue = Path(tempfile.mkdtemp(prefix="fuzz-rescue-"))
    old_tmp = tempfile.tempdir
    tempfile.tempdir = str(rescue)
    try:
        code, stdout, err = run_cli(argv)
    finally:
        tempfile.tempdir = old_tmp
    outcome = check_outcome(code, err)
    record("cli-analyze", outcome)
    assert _snapshot(ckpt) == before_ckpt  # the input is never touched
    after = _snapshot(box)
    allowed = {"ok.json", "p.png"}
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed <= allowed, (argv, changed)
    assert (box / "afile").read_text() == "keep" and (box / "adir").is_dir()
    assert os.readlink(box / "full.json") == "/dev/full"
    if code == 0:
        doc = json.loads(stdout) if out == "-" else (json.loads((box / "ok.json").read_text()) if out else None)
        if doc is not None:
            assert doc["samples"] and all(s["width"] >= 0 for s in doc["samples"])
    kept = list(rescue.iterdir())
    for p in kept:  # a rescued document is a complete analysis
        assert json.loads(p.read_text())["samples"]
        p.unlink()
    rescue.rmdir()


TOML_VALUES = st.one_of(st.integers(-5, 2**40), st.floats(allow_nan=True, allow_infinity=True),
                        st.booleans(), st.text(max_size=6), st.lists(st.integers(0, 3), max_size=2))
TOML_KEYS = ["samples", "seed", "neurons-per-layer", "n-radii", "q-step", "threshold", "eps",
             "structural-distance", "min-reach", "undirected", "mode", "backend", "workers", "store",
             "checkpoints", "quiet", "bogus-key"]


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(repr(value), repr(value))
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


@budget(25)
@given(entries=st.dictionaries(st.sampled_from(TOML_KEYS), TOML_VALUES, max_size=3))
def test_batch_toml_config(tmp_path_factory, entries):
    """TOML values are checked like the command line, before any checkpoint is read."""
    box = tmp_path_factory.mktemp("toml")
    base = {"store": json.dumps(str(box / "store")), "checkpoints": json.dumps([str(box / "missing")])}
    lines = {**base, **{k: _toml(v) for k, v in entries.items()}}
    cfg = box / "c.toml"
    cfg.write_text("".join(f"{k} = {v}\n" for k, v in lines.items()))
    code, _, err = run_cli(["batch", "--config", str(cfg), "--quiet"])
    record("cli-toml", check_outcome(code, err))
    assert code == 2  # the checkpoint does not exist: every run ends in one error line
