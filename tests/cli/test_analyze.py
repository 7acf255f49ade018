"""`mfa analyze` end to end: every architecture, MiniLM, reference mode, JSON contract, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mfa_engine import __version__
from mfa_engine.cli import main

from .._models import write_tiny_checkpoint

TOP_KEYS = {"engine_version", "checkpoint", "model_type", "mode", "config", "q", "tau", "alpha",
            "f_alpha", "alpha0", "width", "alpha0_std", "width_std", "samples"}
SAMPLE_KEYS = {"seed", "tau", "alpha", "f_alpha", "alpha0", "width", "n_centres", "r2_min"}


def run_json(tmp_path: Path, *argv: str) -> dict:
    out = tmp_path / "out.json"
    assert main(["analyze", *argv, "--json", str(out), "--quiet"]) == 0
    return json.loads(out.read_text())


def check_contract(doc: dict, n_samples: int, seed0: int = 0) -> None:
    assert TOP_KEYS <= doc.keys()
    assert doc["engine_version"] == __version__
    assert [s["seed"] for s in doc["samples"]] == list(range(seed0, seed0 + n_samples))
    for s in doc["samples"]:
        assert SAMPLE_KEYS <= s.keys()
        assert np.isfinite(s["alpha0"]) and s["width"] >= 0 and s["n_centres"] >= 2
    a0 = np.array([s["alpha0"] for s in doc["samples"]])
    # Headline: the median of the unflagged samples (of all when every one is flagged).
    kept = [s for s in doc["samples"] if not (s.get("diagnostics") or {}).get("flagged")] or doc["samples"]
    assert doc["alpha0"] == pytest.approx(np.median([s["alpha0"] for s in kept]))
    assert doc["width"] == pytest.approx(np.median([s["width"] for s in kept]))
    assert doc["alpha0_mean"] == pytest.approx(a0.mean())
    assert doc["alpha0_std"] == pytest.approx(a0.std())
    assert doc["width_mean"] == pytest.approx(np.mean([s["width"] for s in doc["samples"]]))
    np.testing.assert_allclose(doc["tau"], np.mean([s["tau"] for s in doc["samples"]], axis=0))


@pytest.mark.parametrize("model_type", ["gpt_neox", "gpt2", "llama", "bert"])
def test_paper_mode_every_architecture(tmp_path, model_type, capsys):
    kw = {"kv_heads": 2} if model_type == "llama" else {}
    path = write_tiny_checkpoint(tmp_path / "ck", model_type, seed=0, **kw)
    doc = run_json(tmp_path, str(path), "--samples", "2", "--neurons-per-layer", "6", "--seed", "3")
    check_contract(doc, 2, seed0=3)
    assert doc["model_type"] == model_type and doc["mode"] == "paper"
    assert len(doc["q"]) == 61 and len(doc["alpha"]) == 61
    # tau(0) = 0 exactly with the per-centre normalisation (Z_0 = number of centres).
    assert doc["tau"][30] == pytest.approx(0.0, abs=1e-9)
    printed = capsys.readouterr().out
    assert "alpha0" in printed and "mean" in printed


@pytest.mark.slow
def test_minilm_paper_mode_with_plot(tmp_path, minilm_path):
    png = tmp_path / "f.png"
    out = tmp_path / "m.json"
    assert main(["analyze", str(minilm_path), "--samples", "2", "--json", str(out),
                 "--plot", str(png), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    check_contract(doc, 2)
    assert doc["model_type"] == "bert"
    # centre sampling (the default) measures the full network: 6 blocks x (x 384, qkv 1152, ctx 384,
    # out 384, mlp 1536) + 384 output nodes
    assert doc["samples"][0]["n_nodes"] == 6 * (6 * 384 + 1536) + 384
    assert doc["config"]["window_source"] == "family:bert"
    assert 0.0 < doc["alpha0"] < 10.0 and doc["width"] > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_reference_mode_gpt_neox(tmp_path):
    path = write_tiny_checkpoint(tmp_path / "ck", "gpt_neox", seed=0, hidden=64, n_layers=2, heads=4)
    doc = run_json(tmp_path, str(path), "--mode", "reference", "--samples", "3")
    check_contract(doc, 3)
    assert doc["mode"] == "reference"
    assert len(doc["q"]) == 61 and len(doc["alpha"]) == 60 and len(doc["f_alpha"]) == 60
    np.testing.assert_array_equal(doc["q"], np.arange(-300, 301, 10) / 100)


def test_reference_mode_refuses_other_architectures(tmp_path, capsys):
    path = write_tiny_checkpoint(tmp_path / "ck", "bert", seed=0)
    capsys.readouterr()
    assert main(["analyze", str(path), "--mode", "reference", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "gpt_neox" in err and "\n" not in err


def _error_line(capsys, argv) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err, err
    return err


def test_bad_inputs_give_one_line_errors(tmp_path, capsys):
    err = _error_line(capsys, ["analyze", str(tmp_path / "missing")])
    assert "missing" in err
    path = write_tiny_checkpoint(tmp_path / "ck", "gpt2", seed=0)
    err = _error_line(capsys, ["analyze", str(path), "--q-min", "0", "--q-max", "0.1", "--q-step", "0.1"])
    assert "q grid" in err and "at least 3" in err
    cfg = json.loads((path / "config.json").read_text())
    cfg["model_type"] = "mamba"
    (path / "config.json").write_text(json.dumps(cfg))
    err = _error_line(capsys, ["analyze", str(path)])
    assert "mamba" in err and "gpt_neox" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    err = _error_line(capsys, ["analyze", str(empty)])
    assert "weight" in err or "safetensors" in err


def test_too_few_centres_is_a_clear_error(tmp_path, capsys):
    path = write_tiny_checkpoint(tmp_path / "ck", "gpt2", seed=0)
    err = _error_line(capsys, ["analyze", str(path), "--samples", "1", "--neurons-per-layer", "2",
                               "--min-reach", "1000"])
    assert "centres" in err


@pytest.mark.slow
def test_demo_runs_offline(tmp_path, capsys, minilm_path):
    assert main(["demo", "--samples", "2", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "MiniLM" in out
    doc = json.loads((tmp_path / "demo" / "spectrum.json").read_text())
    check_contract(doc, 2)
    assert (tmp_path / "demo" / "spectrum.png").exists()


def _rewrite_tensors(path: Path, edit) -> None:
    from safetensors.numpy import load_file, save_file

    f = path / "model.safetensors"
    tensors = dict(load_file(str(f)))
    edit(tensors)
    save_file(tensors, str(f), metadata={"format": "pt"})


def test_corrupt_checkpoints_give_one_line_errors(tmp_path, capsys):
    base = write_tiny_checkpoint(tmp_path / "ck", "gpt_neox", seed=0)
    from safetensors.numpy import load_file

    qkv = next(k for k in load_file(str(base / "model.safetensors"))
               if k.endswith("layers.0.attention.query_key_value.weight"))

    def fresh(name: str) -> Path:
        p = tmp_path / name
        shutil.copytree(base, p)
        return p

    p = fresh("truncated")
    data = (p / "model.safetensors").read_bytes()
    (p / "model.safetensors").write_bytes(data[: len(data) // 2])
    assert "truncated" in _error_line(capsys, ["analyze", str(p), "--samples", "1"])

    p = fresh("missing")
    _rewrite_tensors(p, lambda t: t.pop(qkv))
    assert "query_key_value" in _error_line(capsys, ["analyze", str(p), "--samples", "1"])

    p = fresh("nan")
    _rewrite_tensors(p, lambda t: t[qkv].fill(np.nan))
    err = _error_line(capsys, ["analyze", str(p), "--samples", "1"])
    assert ("NaN" in err or "nan" in err) and "query_key_value" in err

    p = fresh("shape")
    cfg = json.loads((p / "config.json").read_text())
    cfg["intermediate_size"] = cfg["intermediate_size"] + 8
    (p / "config.json").write_text(json.dumps(cfg))
    err = _error_line(capsys, ["analyze", str(p), "--samples", "1"])
    assert "shape" in err and "dense_h_to_4h" in err


def test_intervals_medians_and_shuffle_null_in_json_and_table(tmp_path, capsys):
    path = write_tiny_checkpoint(tmp_path / "ck", "gpt_neox", seed=0)
    doc = run_json(tmp_path, str(path), "--samples", "3", "--neurons-per-layer", "8", "--null", "shuffle")
    check_contract(doc, 3)
    a0 = [s["alpha0"] for s in doc["samples"]]
    assert doc["alpha0_median"] == pytest.approx(np.median(a0))
    assert doc["alpha0_ci"][0] <= doc["alpha0"] <= doc["alpha0_ci"][1]
    assert doc["width_ci"][0] <= doc["width"] <= doc["width_ci"][1]
    assert doc["config"]["null"] == "shuffle"
    null = doc["null"]
    assert null["model"] == "shuffle" and len(null["tau"]) == len(doc["q"])
    nulls = [s["null"] for s in doc["samples"]]
    kept = [n for n in nulls if not (n.get("diagnostics") or {}).get("flagged")] or nulls
    assert null["alpha0"] == pytest.approx(np.median([n["alpha0"] for n in kept]))
    assert null["alpha0_mean"] == pytest.approx(np.mean([n["alpha0"] for n in nulls]))
    assert doc["contrast"]["n_pairs"] >= 1
    assert null["alpha0_ci"][0] <= null["alpha0"] <= null["alpha0_ci"][1]
    # Same sampled neurons, other weights: the node count is equal, the spectrum is not.
    for s in doc["samples"]:
        assert s["null"]["n_nodes"] == s["n_nodes"] and s["null"]["tau"] != s["tau"]
    printed = capsys.readouterr().out
    assert "95% CI" in printed and "null alpha0" in printed and "shuffle null model" in printed
    assert "real-null alpha0" in printed
    plain = run_json(tmp_path, str(path), "--samples", "3", "--neurons-per-layer", "8")
    assert "null" not in plain and plain["alpha0"] == doc["alpha0"]  # the null does not touch the real run


def test_reference_mode_shuffle_null(tmp_path):
    path = write_tiny_checkpoint(tmp_path / "ck", "gpt_neox", seed=0, hidden=64, n_layers=2, heads=4)
    doc = run_json(tmp_path, str(path), "--mode", "reference", "--samples", "2", "--null", "shuffle")
    plain = run_json(tmp_path, str(path), "--mode", "reference", "--samples", "2")
    assert [s["alpha0"] for s in doc["samples"]] == [s["alpha0"] for s in plain["samples"]]
    assert doc["null"]["model"] == "shuffle"
    assert all(s["null"]["alpha0"] != s["alpha0"] for s in doc["samples"])


def test_flagged_samples_are_named_and_fit_range_applies(tmp_path, capsys):
    from mfa_engine.cli.analyze import print_summary

    path = write_tiny_checkpoint(tmp_path / "ck", "bert", seed=0)
    doc = run_json(tmp_path, str(path), "--samples", "2", "--sampling", "neurons", "--neurons-per-layer", "6")
    for s in doc["samples"]:
        assert s["diagnostics"]["fit_window_source"] == "auto"
        assert {"alpha0_argmax", "width_hull", "structural_distance"} <= s.keys()
    lo, hi = doc["samples"][0]["diagnostics"]["fit_window"]
    fixed = run_json(tmp_path, str(path), "--samples", "1", "--sampling", "neurons", "--neurons-per-layer", "6",
                     "--fit-range", f"{lo!r},{hi!r}")
    assert fixed["samples"][0]["diagnostics"]["fit_window_source"] == "fit_range"
    assert fixed["samples"][0]["alpha0"] == pytest.approx(doc["samples"][0]["alpha0"], rel=1e-12)
    assert fixed["config"]["fit_range"] == [lo, hi]
    capsys.readouterr()
    doc["samples"][1]["diagnostics"]["flags"] = ["q0_off_hull", "low_r2"]
    print_summary(doc)
    out = capsys.readouterr().out
    assert "flagged samples (1 of 2" in out and "seed 1 (q0_off_hull, low_r2)" in out
    assert main(["analyze", str(path), "--fit-range", "3"]) != 0
    assert "--fit-range must be two radii" in capsys.readouterr().err


def test_profile_plot_is_drawn_from_the_document_and_checked_before_work(tmp_path, capsys, monkeypatch):
    """--profile-plot draws the document's profile (here a summarised synthetic document put in
    place of the analysis); a path shared with --plot is refused before any work."""
    import mfa_engine.api
    from mfa_engine.summary import summarise

    path = write_tiny_checkpoint(tmp_path / "ck", "gpt_neox", seed=0)
    out = tmp_path / "profile.png"
    assert main(["analyze", str(path), "--quiet", "--plot", str(out), "--profile-plot", str(out)]) == 2
    assert "--profile-plot" in capsys.readouterr().err and not out.exists()
    u = [-1.0, 0.0, 1.0]
    recs = [{"seed": s, "tau": [0.0, 1.0], "alpha": [1.0, 0.5], "f_alpha": [0.5, 0.5], "alpha0": 0.5 + 0.01 * s,
             "width": 0.5, "n_centres": 4, "r2_min": 0.99,
             "profile": {"u": u, "ln_mu": [1.0 + 0.01 * s, 1.1, None], "ln_z": None}} for s in range(3)]
    doc = summarise(recs, np.array([0.0, 1.0]), engine_version=__version__, checkpoint=str(path),
                    model_type="gpt_neox", mode="paper", config={}, seconds=0.0)
    monkeypatch.setattr(mfa_engine.api, "analyze_checkpoint", lambda *a, **k: doc)
    assert main(["analyze", str(path), "--quiet", "--profile-plot", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {out}" in capsys.readouterr().out
