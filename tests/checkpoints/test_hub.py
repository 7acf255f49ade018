"""Hub checkpoints read by byte range, against a local Hub-compatible server (real client).

Oracles: the local-folder reader and analysis on the same files (identical values), the
server's own byte counts, and the source bytes of every range the cache holds.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from mfa_engine.api import analyze_checkpoint
from mfa_engine.checkpoints import open_checkpoint
from mfa_engine.checkpoints.hub import HubCheckpoint
from mfa_engine.checkpoints.range_cache import RangeCache, default_cache_root
from mfa_engine.errors import CheckpointError, ConfigError
from mfa_engine.synthetic import PYTHIA_70M, write_gpt_neox_checkpoint

from .hub_server import HubServer, virtual_gpt_neox

REPO = "EleutherAI/pythia-tiny"
PAPER = {"neurons_per_layer": 6}


@pytest.fixture(scope="module")
def neox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sharded fp16 GPT-NeoX checkpoints ``step0`` and ``step1000`` (different weights)."""
    root = tmp_path_factory.mktemp("hub-neox")
    for i, step in enumerate((0, 1000)):
        write_gpt_neox_checkpoint(root / f"step{step}", seed=20 + i, hidden_size=64,
                                  num_hidden_layers=2, num_attention_heads=4, dtype="float16",
                                  max_shard_bytes=60_000)
    return root


def publish(hub: HubServer, neox: Path) -> dict[str, str]:
    commits = {s: hub.add_folder(REPO, s, neox / s) for s in ("step0", "step1000")}
    hub.add_folder(REPO, "main", neox / "step1000")
    return commits


def served_ranges(hub: HubServer) -> dict[str, list[tuple[int, int]]]:
    """Half-open byte ranges of the successful 206 answers, per file."""
    out: dict[str, list[tuple[int, int]]] = {}
    for method, path, rng, status in hub.log:
        if method == "GET" and status == 206 and rng:
            a, b = (int(x) for x in re.match(r"bytes=(\d+)-(\d+)", rng).groups())
            out.setdefault(path.rsplit("/", 1)[1], []).append((a, b + 1))
    return out


def assert_cache_matches_sources(root: Path, sources: dict[str, Path]) -> int:
    """Every held range of every mirror equals the source file's bytes; returns bytes checked."""
    checked = 0
    for log in root.rglob("*.ranges"):
        mirror = log.with_name(log.name.removesuffix(".ranges"))
        src = sources[mirror.name].read_bytes()
        data = mirror.read_bytes()
        assert len(data) == len(src)
        for line in log.read_text().splitlines():
            a, b = (int(x) for x in line.split()[:2])
            assert data[a:b] == src[a:b], f"corrupt range {a}-{b} of {mirror}"
            checked += b - a
    return checked


def test_contract_matches_local_reader(hub: HubServer, neox: Path) -> None:
    commits = publish(hub, neox)
    local = open_checkpoint(neox / "step1000")
    with open_checkpoint(REPO, revision="step1000") as ckpt:
        assert isinstance(ckpt, HubCheckpoint)
        assert (ckpt.step, ckpt.revision, ckpt.commit) == (1000, "step1000", commits["step1000"])
        assert ckpt.keys() == local.keys() and ckpt.config == local.config
        assert len(ckpt.files) > 3  # sharded
        headers = hub.range_bytes
        assert headers == ckpt.bytes_read > 0  # only the safetensors headers so far
        name = "gpt_neox.layers.1.mlp.dense_4h_to_h.weight"
        assert ckpt.shape(name) == local.shape(name) and ckpt.dtype(name) == "float16"
        rows, cols = np.array([63, 2, 2, 40]), np.array([255, 0, 17])
        np.testing.assert_array_equal(ckpt.read_block(name, rows, cols), local.read_block(name, rows, cols))
        np.testing.assert_array_equal(ckpt.read_rows(name, rows), local.read_rows(name, rows))
        np.testing.assert_array_equal(ckpt.read("gpt_neox.embed_in.weight"), local.read("gpt_neox.embed_in.weight"))
        raw, kind = ckpt.read_stored(name)  # fetched whole, unconverted
        assert kind == "float16" and raw.dtype == np.float16
        np.testing.assert_array_equal(raw, local.read_stored(name)[0])
        assert hub.range_bytes == ckpt.bytes_read
        row_bytes = 256 * 2
        assert ckpt.bytes_read - headers >= 3 * row_bytes  # three distinct rows, all columns
    assert_cache_matches_sources(default_cache_root(), {p.name: p for p in (neox / "step1000").iterdir()})


@pytest.mark.parametrize("mode", ["paper", "reference"])
def test_analyze_equals_local_and_never_fetches_twice(hub: HubServer, neox: Path, mode: str) -> None:
    publish(hub, neox)
    opts = PAPER if mode == "paper" else {}
    local = analyze_checkpoint(neox / "step1000", mode=mode, samples=2, **opts)
    first = analyze_checkpoint(REPO, revision="step1000", mode=mode, samples=2, **opts)
    assert first["samples"] == local["samples"]
    assert first["bytes_read"] == hub.range_bytes > 0
    assert first["bytes_total"] == local["bytes_total"] == sum(
        p.stat().st_size for p in (neox / "step1000").glob("*.safetensors"))
    hub.reset_counters()
    again = analyze_checkpoint(REPO, revision="step1000", mode=mode, samples=2, **opts)
    assert again["samples"] == local["samples"]
    assert again["bytes_read"] == 0 and hub.range_bytes == 0  # a re-run sends no tensor bytes
    hub.reset_counters()
    more = analyze_checkpoint(REPO, revision="step1000", mode=mode, samples=3, seed=1, **opts)
    assert more["samples"] == analyze_checkpoint(neox / "step1000", mode=mode, samples=3, seed=1, **opts)["samples"]
    for ranges in served_ranges(hub).values():  # another seed fetches only bytes not cached
        ranges.sort()
        assert all(b0 <= a1 for (_, b0), (a1, _) in zip(ranges, ranges[1:]))
    assert_cache_matches_sources(default_cache_root(), {p.name: p for p in (neox / "step1000").iterdir()})


@pytest.mark.slow
def test_minilm_from_hub_equals_local(hub: HubServer, minilm_path: Path) -> None:
    repo = "sentence-transformers/all-MiniLM-L6-v2"
    hub.add_folder(repo, "main", minilm_path)
    doc = analyze_checkpoint(repo, samples=1)
    assert doc["samples"] == analyze_checkpoint(minilm_path, samples=1)["samples"]
    assert doc["bytes_read"] == hub.range_bytes
    assert doc["bytes_total"] == (minilm_path / "model.safetensors").stat().st_size
    assert doc["bytes_read"] < doc["bytes_total"] / 2


@pytest.mark.slow
def test_pythia_70m_shape_one_sample_reads_under_3_percent(hub: HubServer) -> None:
    files = virtual_gpt_neox(seed=3, **PYTHIA_70M)
    hub.add_branch("EleutherAI/pythia-70m-shaped", "step143000", files)
    doc = analyze_checkpoint("EleutherAI/pythia-70m-shaped", revision="step143000", samples=1, sampling="neurons")
    total = files["model.safetensors"].size
    assert doc["bytes_total"] == total
    fraction = hub.bytes_sent / total  # everything the server sent: JSON, config, headers, rows
    assert doc["bytes_read"] == hub.range_bytes
    assert fraction <= 0.03, f"sent {fraction:.2%} of the checkpoint"
    # the same analysis on the whole downloaded file (local reader) gives identical numbers
    full = analyze_checkpoint("EleutherAI/pythia-70m-shaped", revision="step143000", samples=1,
                              sampling="neurons", download=True)
    assert full["samples"] == doc["samples"]
    snapshots = Path(default_cache_root().parent / "hub" / "models--EleutherAI--pythia-70m-shaped" / "snapshots")
    assert [p.stat().st_size for p in snapshots.glob("*/model.safetensors")] == [total]


@pytest.mark.parametrize("kind", ["500", "503", "drop", "truncate"])
def test_transient_faults_are_retried(hub: HubServer, neox: Path, kind: str) -> None:
    publish(hub, neox)
    hub.add_fault(kind, ".safetensors", count=2, methods=("GET",), ranged_only=True)
    hub.add_fault(kind, "/api/models/", count=1)
    doc = analyze_checkpoint(REPO, revision="step0", samples=1, **PAPER)
    assert doc["samples"] == analyze_checkpoint(neox / "step0", samples=1, **PAPER)["samples"]
    assert all(f.count == 0 for f in hub.faults)
    assert_cache_matches_sources(default_cache_root(), {p.name: p for p in (neox / "step0").iterdir()})


@pytest.mark.parametrize("kind", ["503", "drop", "truncate"])
def test_persistent_faults_give_one_line_and_no_corrupt_cache(hub: HubServer, neox: Path, kind: str) -> None:
    publish(hub, neox)
    with open_checkpoint(REPO, revision="step0") as ckpt:  # headers fetched
        hub.add_fault(kind, ".safetensors", count=1000, methods=("GET",), ranged_only=True)
        with pytest.raises(CheckpointError) as err:
            ckpt.read_rows("gpt_neox.layers.0.attention.dense.weight", [1, 50])
    msg = str(err.value)
    assert "\n" not in msg and "failed after 3 attempts" in msg and "dense.weight" not in msg
    assert re.search(r"bytes \d+-\d+ of model-\d+-of-\d+\.safetensors from EleutherAI/pythia-tiny@", msg)
    hub.faults.clear()
    assert_cache_matches_sources(default_cache_root(), {p.name: p for p in (neox / "step0").iterdir()})
    doc = analyze_checkpoint(REPO, revision="step0", samples=1, **PAPER)
    assert doc["samples"] == analyze_checkpoint(neox / "step0", samples=1, **PAPER)["samples"]


def test_missing_revision_repo_and_file(hub: HubServer, neox: Path) -> None:
    publish(hub, neox)
    with pytest.raises(CheckpointError, match=r"^EleutherAI/pythia-tiny@step999: revision not found on the Hub \(HTTP 404\)$"):
        analyze_checkpoint(REPO, revision="step999", samples=1)
    with pytest.raises(CheckpointError, match=r"^EleutherAI/nothing@main: repository not found"):
        open_checkpoint("EleutherAI/nothing")
    with open_checkpoint(REPO) as ckpt:
        hub.add_fault("404", ".safetensors", count=1, methods=("GET",), ranged_only=True)
        with pytest.raises(CheckpointError, match=r"not found on http://127\.0\.0\.1:\d+ \(HTTP 404\)$"):
            ckpt.read_rows("embed_out.weight", [0])
        assert hub.faults[0].count == 0  # no retry on 404


def test_token_required(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, neox: Path) -> None:
    from .conftest import hub_environment

    with HubServer(token="hf_sekrit") as server:
        hub_environment(monkeypatch, tmp_path / "home", server.endpoint)
        publish(server, neox)
        with pytest.raises(CheckpointError, match=r"HF_TOKEN") as err:
            open_checkpoint(REPO, revision="step0")
        assert "\n" not in str(err.value)
        monkeypatch.setenv("HF_TOKEN", "hf_sekrit")
        with open_checkpoint(REPO, revision="step0") as ckpt:
            server.add_fault("401", ".safetensors", count=5, methods=("GET",), ranged_only=True)
            with pytest.raises(CheckpointError, match=r"access to EleutherAI/pythia-tiny denied \(HTTP 401\).*HF_TOKEN"):
                ckpt.read_rows("embed_out.weight", [3])
            assert server.faults[0].count == 4  # not retried


def test_offline_mode_names_what_is_missing(hub: HubServer, neox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    publish(hub, neox)
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(CheckpointError, match=r"^EleutherAI/pythia-tiny@step0 is not fully in the local HF cache \(no snapshot of step0 in .*\) and HF_HUB_OFFLINE is set: unset HF_HUB_OFFLINE .*--download"):
        analyze_checkpoint(REPO, revision="step0", samples=1)
    assert hub.log == []


def test_download_and_all_neurons(hub: HubServer, neox: Path) -> None:
    publish(hub, neox)
    with pytest.raises(ConfigError, match=r"neurons_per_layer='all' .* pass download=True"):
        analyze_checkpoint(REPO, revision="step0", samples=1, sampling="neurons", neurons_per_layer="all")
    hub.reset_counters()  # the refusal came after the headers were read
    doc = analyze_checkpoint(REPO, revision="step0", samples=1, sampling="neurons", neurons_per_layer="all",
                             download=True)
    local = analyze_checkpoint(neox / "step0", samples=1, sampling="neurons", neurons_per_layer="all")
    assert doc["samples"] == local["samples"]
    assert hub.range_bytes == 0 and hub.bytes_sent >= local["bytes_total"]
    # now fully in the HF cache: the repo id opens locally, with no request at all
    hub.reset_counters()
    with open_checkpoint(REPO, revision=None, cache_dir=default_cache_root().parent / "hub") as ckpt:
        assert not isinstance(ckpt, HubCheckpoint)
    assert hub.log == []


def test_centre_sampling_reads_the_full_network_once_by_range(hub: HubServer, neox: Path) -> None:
    """The default estimator over the Hub: the recorded plan of the full network (every weight
    matrix whole) is fetched by range, once, and the result equals the local one."""
    publish(hub, neox)
    doc = analyze_checkpoint(REPO, revision="step0", samples=2, centres=20, null="shuffle")
    local = analyze_checkpoint(neox / "step0", samples=2, centres=20, null="shuffle")
    assert doc["samples"] == local["samples"] and doc["samples"][0]["sampling"] == "centres"
    assert hub.range_bytes > 0 and doc["bytes_read"] == hub.range_bytes
    hub.reset_counters()  # every range is in the range cache now: nothing more is fetched
    again = analyze_checkpoint(REPO, revision="step0", samples=2, centres=20)
    assert hub.range_bytes == 0 and again["samples"][0]["alpha0"] == doc["samples"][0]["alpha0"]


@pytest.mark.slow
def test_pytorch_bin_repository_is_downloaded(hub: HubServer, tmp_path: Path,
                                              capfd: pytest.CaptureFixture[str]) -> None:
    from tests._models import write_pytorch_bin

    single = write_gpt_neox_checkpoint(tmp_path / "single", seed=5, hidden_size=32,
                                       num_hidden_layers=2, num_attention_heads=4, dtype="float32")
    src = write_pytorch_bin(single, tmp_path / "bin")
    hub.add_folder("Org/bin-model", "main", src)
    doc = analyze_checkpoint("Org/bin-model", samples=1, neurons_per_layer=4)
    assert "pytorch_model.bin files cannot be read by range" in capfd.readouterr().err
    assert doc["samples"] == analyze_checkpoint(src, samples=1, neurons_per_layer=4)["samples"]
    assert hub.range_bytes == 0


def test_cache_size_limit_evicts_oldest(hub: HubServer, neox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    publish(hub, neox)
    analyze_checkpoint(REPO, revision="step0", samples=1, **PAPER)
    cache = RangeCache()
    held0 = cache.info()["held_bytes"]
    assert held0 > 0 and cache.info()["repos"][REPO]["commits"] == 1
    monkeypatch.setenv("MFA_RANGE_CACHE_LIMIT", "1")  # everything but the checkpoint in use goes
    analyze_checkpoint(REPO, revision="step1000", samples=1, **PAPER)
    info = RangeCache().info()
    assert info["repos"][REPO]["commits"] == 1  # step0's mirrors were evicted
    assert_cache_matches_sources(default_cache_root(), {p.name: p for p in (neox / "step1000").iterdir()})
