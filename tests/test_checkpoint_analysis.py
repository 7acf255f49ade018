"""analyze_checkpoint: everything checked before a read (backend included), ORG/NAME@REV, config."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import mfa_engine.checkpoint_analysis as ca
from mfa_engine import _device
from mfa_engine.checkpoint_analysis import analyze_checkpoint, resolved_options
from mfa_engine.checkpoints.open import split_revision
from mfa_engine.errors import BackendError, ConfigError
from mfa_engine.options import AnalysisOptions

from ._models import write_hf_cache


class Opened(AssertionError):
    """Raised by an opener that must never be reached."""


def _never(*args, **kwargs):
    raise Opened("the checkpoint was opened before the options and the backend were checked")


def test_triton_without_a_device_fails_before_any_read(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(_device, "cuda_available", lambda: False)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setattr(ca, "open_checkpoint", _never)
    t0 = time.perf_counter()
    with pytest.raises(BackendError, match=r"^paths backend 'triton' needs a CUDA device .* backend='cpu'"):
        analyze_checkpoint(tmp_path / "any", backend="triton", samples=1)
    assert time.perf_counter() - t0 < 0.6
    with pytest.raises(BackendError, match="'cupy' needs"):
        analyze_checkpoint(tmp_path / "any", backend="cupy", samples=1)
    with pytest.raises(ConfigError, match="backend must be one of"):
        analyze_checkpoint(tmp_path / "any", backend="gpu")


def test_the_backend_is_resolved_once_at_the_top(monkeypatch, tiny_checkpoint) -> None:
    """auto becomes the concrete backend before the read; the modes get the resolved record."""
    monkeypatch.setattr(_device, "cuda_available", lambda: False)
    seen = []
    real = ca.resolve_backend

    def counting(*args):
        seen.append(args[0])
        return real(*args)

    monkeypatch.setattr(ca, "resolve_backend", counting)
    assert resolved_options(AnalysisOptions()).backend == "cpu"
    assert resolved_options(AnalysisOptions(backend="torch")).backend == "torch"
    seen.clear()
    doc = analyze_checkpoint(tiny_checkpoint("gpt2"), samples=2, neurons_per_layer=5, n_radii=12)
    assert seen == ["auto"] and doc["config"]["backend"] == "cpu"
    assert len(doc["samples"]) == 2


def test_config_holds_no_machine_path(tiny_checkpoint, tmp_path) -> None:
    cache = tmp_path / "my-ranges"
    doc = analyze_checkpoint(tiny_checkpoint("gpt2"), samples=1, neurons_per_layer=5, n_radii=12,
                             backend="cpu", range_cache=str(cache))
    assert "range_cache" not in doc["config"] and str(cache) not in json.dumps(doc)
    assert doc["config"]["n_radii"] == 12


def test_org_name_at_revision(tiny_checkpoint, tmp_path, monkeypatch) -> None:
    import huggingface_hub.constants as hf_constants

    sources = {"step0": tiny_checkpoint("gpt_neox", seed=0), "step1000": tiny_checkpoint("gpt_neox", seed=1)}
    write_hf_cache(tmp_path / "hub", "EleutherAI/pythia-tiny", sources, main="step1000")
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.chdir(tmp_path)
    at = analyze_checkpoint("EleutherAI/pythia-tiny@step0", samples=1, neurons_per_layer=4, n_radii=8,
                            backend="cpu")
    flag = analyze_checkpoint("EleutherAI/pythia-tiny", revision="step0", samples=1, neurons_per_layer=4,
                              n_radii=8, backend="cpu")
    assert at["samples"] == flag["samples"] and at["config"]["revision"] == "step0"
    main = analyze_checkpoint("EleutherAI/pythia-tiny", samples=1, neurons_per_layer=4, n_radii=8, backend="cpu")
    assert main["samples"] != at["samples"]
    with pytest.raises(ConfigError, match=r"names revision 'step0', and revision='step1000' was given too"):
        analyze_checkpoint("EleutherAI/pythia-tiny@step0", revision="step1000", samples=1)


def test_split_revision(tmp_path) -> None:
    assert split_revision("Org/Name@step5", None) == ("Org/Name", "step5")
    assert split_revision("Org/Name@step5", "step5") == ("Org/Name", "step5")
    assert split_revision("Org/Name", "main") == ("Org/Name", "main")
    odd = tmp_path / "run@3"
    odd.mkdir()
    assert split_revision(str(odd), None) == (str(odd), None)  # an existing folder is a folder
    assert split_revision(str(tmp_path / "x@y"), None) == (str(tmp_path / "x@y"), None)
    with pytest.raises(ConfigError, match="no revision after '@'"):
        split_revision("Org/Name@", None)
    assert isinstance(Path("."), Path)
