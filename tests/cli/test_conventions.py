"""CLI conventions: grouped help with meaningful metavars, errors spelt as flags, one meaning per
flag name, ORG/NAME@REV, fast failures that name the fix (backend, offline, no network)."""

from __future__ import annotations

import re
import socket
import time

import pytest

import mfa_engine.checkpoint_analysis as ca
from mfa_engine import _device
from mfa_engine.cli import build_parser, main


def _help(*command: str) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args([*command, "--help"])



def test_analyze_help_is_grouped_with_meaningful_metavars(capsys) -> None:
    _help("analyze")
    text = capsys.readouterr().out
    for title in ("sampling and network:", "radii and fit:", "null model:", "Hugging Face Hub:", "execution:",
                  "output:"):
        assert f"\n{title}\n" in text, title
    assert "CHECKPOINT" in text and "--neurons-per-layer N|all" in text and "--range-cache DIR" in text
    assert "--json OUT.json" in text and "--fit-plot OUT.png" in text and "--fit-range LO,HI" in text
    # no argparse default metavars (the upper-cased option names) and no Python names in the help
    assert not re.search(r"--[a-z-]+ [A-Z_]{4,}_[A-Z_]+", text)
    assert "structural_scale" not in text and "q_min" not in text and "--structural-scale" in text
    section = text.split("\nexecution:\n")[1].split("\n\n")[0]
    assert "--backend" in section and "--quiet" in section


def test_batch_help_shows_store_as_required_and_plot_dir(capsys) -> None:
    _help("batch")
    text = capsys.readouterr().out
    required = text.split("\nrequired (here or as store in the --config file):\n")[1].split("\n\n")[0]
    assert "--store DIR" in required and "--config" not in required
    assert "--plot-dir DIR" in text and re.search(r"--plot\b(?!-)", text) is None


def test_neurons_per_layer_type_error_says_what_is_expected(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["analyze", "x", "--neurons-per-layer", "abc"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "<lambda>" not in err
    assert "argument --neurons-per-layer: expected a positive integer or 'all', got 'abc'" in err
    with pytest.raises(SystemExit):
        main(["analyze", "x", "--samples", "ten"])
    assert "argument --samples: expected an integer, got 'ten'" in capsys.readouterr().err


def test_errors_are_spelt_as_flags(tmp_path, capsys, monkeypatch) -> None:
    assert main(["analyze", str(tmp_path), "--samples", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: --samples must be an integer in [1, 10000]")
    monkeypatch.setattr(_device, "cuda_available", lambda: False)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert main(["analyze", str(tmp_path), "--backend", "cupy"]) == 2
    err = capsys.readouterr().err
    assert "use --backend cpu" in err and "backend='cpu'" not in err


def test_backend_triton_on_cpu_fails_fast_before_any_read(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(_device, "cuda_available", lambda: False)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)

    def never(*a, **k):
        raise AssertionError("the checkpoint was opened")

    monkeypatch.setattr(ca, "open_checkpoint", never)
    build_parser()  # the parser's imports are not part of the check
    t0 = time.perf_counter()
    assert main(["analyze", str(tmp_path / "ckpt"), "--backend", "triton", "--quiet"]) == 2
    assert time.perf_counter() - t0 < 0.6
    err = capsys.readouterr().err
    assert err.startswith("error: paths backend 'triton' needs a CUDA device") and "--backend cpu" in err


def test_json_means_an_output_file_everywhere() -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["kernels", "check", "--json"])  # a path (or -) is required, as in analyze
    args = parser.parse_args(["kernels", "check", "--json", "-"])
    assert args.json == "-"
    assert parser.parse_args(["analyze", "x", "--json", "-"]).json == "-"
    assert parser.parse_args(["batch", "--plot-dir", "d"]).plot_dir == "d"


def test_org_name_at_revision_on_the_command_line(tiny_checkpoint, tmp_path, monkeypatch, capsys) -> None:
    import json

    import huggingface_hub.constants as hf_constants

    from .._models import write_hf_cache

    sources = {"step0": tiny_checkpoint("gpt_neox", seed=0), "step1000": tiny_checkpoint("gpt_neox", seed=1)}
    write_hf_cache(tmp_path / "hub", "EleutherAI/pythia-tiny", sources, main="step1000")
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(tmp_path)
    small = ["--samples", "1", "--neurons-per-layer", "4", "--n-radii", "8", "--quiet"]
    assert main(["analyze", "EleutherAI/pythia-tiny@step0", *small, "--json", "a.json"]) == 0
    assert main(["analyze", "EleutherAI/pythia-tiny", "--revision", "step0", *small, "--json", "b.json"]) == 0
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert a["samples"] == b["samples"] and a["config"]["revision"] == "step0"
    capsys.readouterr()
    assert main(["analyze", "EleutherAI/pythia-tiny@step0", "--revision", "step1000", *small]) == 2
    assert "give it once" in capsys.readouterr().err
    assert main(["analyze", "EleutherAI/pythia-tiny@step7", *small]) == 2
    err = capsys.readouterr().err
    assert "HF_HUB_OFFLINE is set: unset HF_HUB_OFFLINE" in err and "does not exist" not in err


def test_a_missing_folder_with_at_hints_at_revision(tmp_path, capsys) -> None:
    assert main(["analyze", str(tmp_path / "runs" / "ckpt@step5"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "to name a revision, pass --revision REV" in err


def test_no_network_fails_at_once_naming_the_fix(tmp_path, capsys, monkeypatch) -> None:
    import huggingface_hub.constants as hf_constants

    from mfa_engine.checkpoints import http_ranges

    def no_dns(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    http_ranges._resolves.cache_clear()
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hf_constants, "ENDPOINT", "https://huggingface.co")
    monkeypatch.chdir(tmp_path)
    t0 = time.perf_counter()
    assert main(["analyze", "EleutherAI/pythia-14m", "--quiet"]) == 2
    assert time.perf_counter() - t0 < 2.0  # no retries
    err = capsys.readouterr().err
    assert "cannot reach https://huggingface.co: the host name huggingface.co does not resolve" in err
    assert "HF_HUB_OFFLINE=1" in err and "--download" in err and err.count("\n") == 1


def test_fit_plot_of_analyze(tiny_checkpoint, tmp_path, capsys) -> None:
    pytest.importorskip("matplotlib")
    path = tiny_checkpoint("gpt2")
    small = ["--samples", "1", "--neurons-per-layer", "5", "--n-radii", "12", "--backend", "cpu", "--quiet"]
    assert main(["analyze", str(path), *small, "--fit-plot", str(tmp_path / "fit.png")]) == 0
    assert (tmp_path / "fit.png").stat().st_size > 0 and f"wrote {tmp_path / 'fit.png'}" in capsys.readouterr().out
    assert main(["analyze", str(path), "--mode", "reference", "--fit-plot", str(tmp_path / "f.png")]) == 2
    assert "--fit-plot draws the paper-mode fit" in capsys.readouterr().err
    assert main(["analyze", str(path), *small, "--fit-plot", str(tmp_path / "fit")]) == 2  # no image suffix
    assert "image suffix" in capsys.readouterr().err
