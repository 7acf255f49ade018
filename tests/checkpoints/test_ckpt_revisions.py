"""HF cache layout, revisions and training steps."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from mfa_engine.checkpoints import open_checkpoint, parse_step
from mfa_engine.errors import CheckpointError

from .._models import load_state, write_hf_cache

KEY = "gpt_neox.layers.0.attention.query_key_value.weight"


@pytest.fixture()
def series(tiny_checkpoint, tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A cache repo with refs step0 (seed 0) and step1000 (seed 1); main -> step1000."""
    sources = {"step0": tiny_checkpoint("gpt_neox", seed=0), "step1000": tiny_checkpoint("gpt_neox", seed=1)}
    repo = write_hf_cache(tmp_path / "hub", "EleutherAI/pythia-tiny", sources, main="step1000")
    weights = {ref: load_state(src)[KEY] for ref, src in sources.items()}
    assert not np.array_equal(weights["step0"], weights["step1000"])
    return repo, weights


def _commit(ref: str) -> str:
    return hashlib.sha1(ref.encode()).hexdigest()


def test_cache_layout_is_realistic(series) -> None:
    repo, _ = series
    snapshot = repo / "snapshots" / _commit("step0")
    assert (snapshot / "model.safetensors").is_symlink()
    assert (repo / "refs" / "step0").read_text() == _commit("step0")


def test_default_revision_is_main(series) -> None:
    repo, weights = series
    with open_checkpoint(repo) as ckpt:
        assert ckpt.revision == "main" and ckpt.commit == _commit("step1000")
        assert ckpt.path == repo / "snapshots" / _commit("step1000")
        assert ckpt.step == 1000  # refs/step1000 points at the same commit as main
        np.testing.assert_array_equal(ckpt.read(KEY), weights["step1000"])


def test_ref_name_and_hash_revisions(series) -> None:
    repo, weights = series
    with open_checkpoint(repo, revision="step0") as ckpt:
        assert ckpt.step == 0 and ckpt.revision == "step0"
        np.testing.assert_array_equal(ckpt.read(KEY), weights["step0"])
    with open_checkpoint(repo, revision=_commit("step0")) as ckpt:
        assert ckpt.step == 0 and ckpt.commit == _commit("step0")
        np.testing.assert_array_equal(ckpt.read(KEY), weights["step0"])
    with open_checkpoint(repo, revision=_commit("step1000")[:10]) as ckpt:
        assert ckpt.step == 1000
    with open_checkpoint(repo / "snapshots" / _commit("step0")) as ckpt:
        assert ckpt.step == 0 and ckpt.commit == _commit("step0")


def test_cache_root_plus_name_and_repo_id(series, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    repo, weights = series
    hub = repo.parent
    with open_checkpoint(hub / "EleutherAI" / "pythia-tiny", revision="step0") as ckpt:
        np.testing.assert_array_equal(ckpt.read(KEY), weights["step0"])
    monkeypatch.chdir(tmp_path)
    import huggingface_hub.constants as hf_constants  # the HF settings as huggingface_hub read them

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(hub))
    with open_checkpoint("EleutherAI/pythia-tiny", revision="step1000") as ckpt:
        assert ckpt.step == 1000
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "nohome" / "hub"))
    with open_checkpoint("EleutherAI/pythia-tiny", cache_dir=hub) as ckpt:
        assert ckpt.commit == _commit("step1000")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)  # else a repo id not cached is read from the Hub
    with pytest.raises(CheckpointError) as err:
        open_checkpoint("EleutherAI/pythia-tiny")
    msg = str(err.value)
    assert msg.startswith("EleutherAI/pythia-tiny@main is not fully in the local HF cache (no snapshot of main in ")
    assert "does not exist" not in msg and "HF_HUB_OFFLINE is set" in msg and "--download" in msg


def test_no_main_ref(tiny_checkpoint, tmp_path: Path) -> None:
    one = write_hf_cache(tmp_path / "a", "Org/One", {"step5": tiny_checkpoint("gpt2")})
    with open_checkpoint(one) as ckpt:  # the only snapshot
        assert ckpt.step == 5 and ckpt.revision is None
    two = write_hf_cache(tmp_path / "b", "Org/Two", {"step5": tiny_checkpoint("gpt2"), "step6": tiny_checkpoint("bert")})
    with pytest.raises(CheckpointError, match=r"has 2 snapshots and no refs/main; pass revision=, available refs: step5, step6"):
        open_checkpoint(two)


def test_ref_to_missing_snapshot(series) -> None:
    repo, _ = series
    (repo / "refs" / "step2000").write_text("f" * 40)
    with pytest.raises(CheckpointError, match=r"revision 'step2000' .* points to commit f{40}, but snapshots/f{40} is missing"):
        open_checkpoint(repo, revision="step2000")


def test_plain_directory_series(tiny_checkpoint, tmp_path: Path) -> None:
    root = tmp_path / "pythia-local"
    shutil.copytree(tiny_checkpoint("gpt2"), root / "step2000")
    with open_checkpoint(root, revision="step2000") as ckpt:
        assert ckpt.step == 2000 and ckpt.path == root / "step2000"
    with open_checkpoint(root / "step2000") as ckpt:
        assert ckpt.step == 2000
    with pytest.raises(CheckpointError, match=r"revision 'step9' given, but .* is not an HF cache repo \(no snapshots/\) and has no sub-directory 'step9'"):
        open_checkpoint(root, revision="step9")
    with open_checkpoint(tiny_checkpoint("gpt2")) as ckpt:
        assert ckpt.step is None and ckpt.revision is None and ckpt.commit is None


def test_parse_step() -> None:
    assert parse_step("step143000") == 143000
    assert parse_step("pythia-70m-step10-step20") == 20
    assert parse_step("main") is None
