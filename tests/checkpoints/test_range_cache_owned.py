"""Issue 22: the range cache owns only what it wrote (D1, D2, D3, X3, U2) and verifies its bytes (S1)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mfa_engine.checkpoints.range_cache import Mirror, RangeCache
from mfa_engine.cli import main
from mfa_engine.errors import CheckpointError

COMMIT = "c" * 40
MANIFEST = ".mfa-range-cache"


def _hf_hub_cache(root: Path) -> Path:
    """A folder laid out as huggingface_hub's cache after a download; returns the blob."""
    repo = root / "models--Org--Model"
    blob = repo / "blobs" / ("e" * 64)
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"weights" * 100)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    snap = repo / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    (snap / "model.safetensors").symlink_to(blob)
    return blob


def test_d1_hf_hub_cache_is_not_a_range_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hub = tmp_path / "hub"
    blob = _hf_hub_cache(hub)
    assert RangeCache(hub, limit=1).evict() == 0
    with pytest.raises(CheckpointError, match=r"has no range cache manifest \(\.mfa-range-cache\)"):
        RangeCache(hub).clear()
    assert main(["cache", "clear", "--range-cache", str(hub)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nothing deleted" in err and err.count("\n") == 1
    with pytest.raises(CheckpointError, match="is a Hugging Face hub cache, not a range cache"):
        RangeCache(hub).mirror("Org/Model", COMMIT, "model.safetensors", 100)
    assert blob.read_bytes() == b"weights" * 100
    assert (hub / "models--Org--Model" / "snapshots" / COMMIT / "model.safetensors").exists()
    assert RangeCache(hub).info()["repos"] == {}


def test_d1_folder_with_other_content_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other"
    (other / "models--Mine--Notes").mkdir(parents=True)
    (other / "models--Mine--Notes" / "keep.txt").write_text("mine")
    with pytest.raises(CheckpointError, match="is not empty and has no range cache manifest"):
        RangeCache(other).mirror("Org/A", COMMIT, "model.safetensors", 10)
    assert RangeCache(other, limit=1).evict() == 0
    assert (other / "models--Mine--Notes" / "keep.txt").read_text() == "mine"


def test_d1_only_listed_files_are_deleted(tmp_path: Path) -> None:
    cache = RangeCache(tmp_path / "c", limit=10**9)
    m = cache.mirror("Org/A", COMMIT, "model.safetensors", 4096)
    m.write([(0, b"x" * 100)])
    m.close()
    stray = m.path.parent / "notes.txt"  # a file the cache did not write, inside its folder
    stray.write_text("not the cache's")
    assert (cache.root / MANIFEST).read_text().splitlines()[1:] == [f"models--Org--A/{COMMIT}/model.safetensors"]
    assert cache.clear() > 0
    assert not m.path.exists() and not m.log_path.exists() and stray.read_text() == "not the cache's"
    assert (cache.root / MANIFEST).read_text().splitlines()[1:] == []


def _outside(tmp_path: Path) -> Path:
    out = tmp_path / "outside"
    (out / COMMIT).mkdir(parents=True)
    (out / COMMIT / "model.safetensors").write_bytes(b"precious" * 1000)
    (out / COMMIT / "model.safetensors.ranges").write_text("0 8\n")
    return out


def test_d2_eviction_does_not_follow_a_symlinked_repo_folder(tmp_path: Path) -> None:
    cache = RangeCache(tmp_path / "c", limit=10**9)
    cache.mirror("Org/A", COMMIT, "model.safetensors", 4096).close()
    out = _outside(tmp_path)
    (cache.root / "models--Evil--Link").symlink_to(out, target_is_directory=True)
    RangeCache(cache.root, limit=1).evict()
    assert (out / COMMIT / "model.safetensors").read_bytes() == b"precious" * 1000
    assert (out / COMMIT / "model.safetensors.ranges").exists()
    assert "Evil/Link" not in cache.info()["repos"]


def test_d2_listed_path_through_a_symlink_is_not_deleted(tmp_path: Path) -> None:
    cache = RangeCache(tmp_path / "c", limit=10**9)
    m = cache.mirror("Org/A", COMMIT, "model.safetensors", 4096)
    m.close()
    out = _outside(tmp_path)
    repo = cache.root / "models--Org--A"
    for p in sorted(repo.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    repo.rmdir()
    repo.symlink_to(out, target_is_directory=True)  # the listed path now leads outside
    assert RangeCache(cache.root, limit=1).evict() == 0
    assert cache.clear() == 0  # X3: no "Cannot call rmtree on a symbolic link"
    assert (out / COMMIT / "model.safetensors").read_bytes() == b"precious" * 1000


def test_x3_clear_with_a_symlinked_repo_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = RangeCache(tmp_path / "c", limit=10**9)
    cache.mirror("Org/A", COMMIT, "model.safetensors", 4096).close()
    out = _outside(tmp_path)
    (cache.root / "models--Evil--Link").symlink_to(out, target_is_directory=True)
    assert main(["cache", "clear", "--range-cache", str(cache.root)]) == 0
    assert "cleared all repositories" in capsys.readouterr().out
    assert (out / COMMIT / "model.safetensors").read_bytes() == b"precious" * 1000
    assert (cache.root / "models--Evil--Link").is_symlink()
    assert not (cache.root / "models--Org--A").exists()
    assert main(["cache", "clear", "--range-cache", str(cache.root), "--repo", "Evil/Link"]) == 0
    assert (out / COMMIT / "model.safetensors").exists()


def test_d3_mirror_replaced_by_a_symlink_is_not_written_through(tmp_path: Path) -> None:
    cache = RangeCache(tmp_path / "c", limit=10**9)
    m = cache.mirror("Org/A", COMMIT, "model.safetensors", 4096)
    target = tmp_path / "victim"
    target.write_bytes(b"victim" * 10)
    m.path.unlink()
    m.path.symlink_to(target)
    with pytest.raises(CheckpointError, match="is a symbolic link"):
        m.write([(0, b"x" * 100)])
    with pytest.raises(CheckpointError, match="is a symbolic link"):
        cache.mirror("Org/A", COMMIT, "model.safetensors", 4096)
    assert target.read_bytes() == b"victim" * 10


def test_d3_symlinked_commit_folder_is_refused(tmp_path: Path) -> None:
    cache = RangeCache(tmp_path / "c", limit=10**9)
    cache.mirror("Org/A", COMMIT, "a.safetensors", 10).close()
    out = tmp_path / "outside"
    out.mkdir()
    (cache.root / "models--Org--A" / ("d" * 40)).symlink_to(out, target_is_directory=True)
    with pytest.raises(CheckpointError, match="is a symbolic link or not a folder"):
        cache.mirror("Org/A", "d" * 40, "model.safetensors", 4096)
    assert list(out.iterdir()) == []


def test_u2_mirror_in_use_is_not_evicted_and_a_removed_one_says_why(tmp_path: Path) -> None:
    cache = RangeCache(tmp_path / "c", limit=10**9)
    m = cache.mirror("Org/A", COMMIT, "model.safetensors", 4096)
    m.write([(0, b"x" * 100)])
    other = RangeCache(cache.root, limit=1)  # another process's view of the same cache
    assert other.evict() == 0 and m.path.exists()
    assert other.clear() == 0 and m.path.exists()
    os.unlink(m.path)  # removed under the running process (an older mfa, or by hand)
    with pytest.raises(CheckpointError, match=r"was deleted while in use \(by another process: by hand, or an mfa-engine older"):
        m.write([(200, b"y" * 10)])
    with pytest.raises(CheckpointError, match="was deleted while in use"):
        m.verify([(0, 100)])


def test_s1_truncated_mirror_drops_the_lost_ranges(tmp_path: Path) -> None:
    m = Mirror(tmp_path / "f", 1000)
    m.write([(0, b"a" * 100), (500, b"b" * 100)])
    m.close()
    os.truncate(m.path, 300)
    again = Mirror(tmp_path / "f", 1000)
    assert again.held == [(0, 100)] and again.path.stat().st_size == 1000
    os.truncate(m.path, 0)
    assert Mirror(tmp_path / "f", 1000).held == []


def test_s1_truncated_or_flipped_while_open_is_dropped_on_verify(tmp_path: Path) -> None:
    m = Mirror(tmp_path / "f", 1000)
    m.write([(0, b"a" * 100), (500, b"b" * 100)])
    with open(m.path, "r+b") as fh:
        fh.seek(550)
        fh.write(b"B")
    assert m.verify([(0, 1000)]) == 1 and m.held == [(0, 100)]
    assert m.missing([(0, 1000)]) == [(100, 1000)]
    os.truncate(m.path, 50)
    assert m.verify([(0, 10)]) == 1 and m.held == [] and m.path.stat().st_size == 1000
    m.write([(0, b"a" * 100)])
    assert m.verify([(0, 100)]) == 0 and m.held == [(0, 100)]


def test_s1_log_lines_without_checksum_are_not_trusted(tmp_path: Path) -> None:
    m = Mirror(tmp_path / "f", 1000)
    m.write([(0, b"a" * 100)])
    m.close()
    m.log_path.write_text("0 100\n")  # the old format: held, but nothing to check it with
    assert Mirror(tmp_path / "f", 1000).held == []


@pytest.mark.parametrize("damage", ["truncate", "zero", "flip"])
def test_s1_damaged_mirror_is_refetched_end_to_end(hub, tmp_path: Path, damage: str) -> None:
    from mfa_engine.api import analyze_checkpoint
    from mfa_engine.synthetic import write_gpt_neox_checkpoint

    src = write_gpt_neox_checkpoint(tmp_path / "src", seed=3, hidden_size=64, num_hidden_layers=2,
                                    num_attention_heads=4, dtype="float16")
    hub.add_folder("Org/tiny", "main", src)
    first = analyze_checkpoint("Org/tiny", samples=1, neurons_per_layer=6)
    (mirror,) = (p for p in RangeCache().root.rglob("*.safetensors"))
    size = mirror.stat().st_size
    if damage == "flip":
        data = bytearray(mirror.read_bytes())
        log = (mirror.parent / (mirror.name + ".ranges")).read_text().splitlines()
        for line in log[2:]:  # every tensor range: one byte flipped
            a, b = (int(x) for x in line.split()[:2])
            data[(a + b) // 2] ^= 0xFF
        mirror.write_bytes(bytes(data))
    else:
        os.truncate(mirror, size // 3 if damage == "truncate" else 0)
    hub.reset_counters()
    again = analyze_checkpoint("Org/tiny", samples=1, neurons_per_layer=6)
    assert again["samples"] == first["samples"]
    assert hub.range_bytes > 0 and again["bytes_read"] > 0  # the lost ranges were fetched again
    assert mirror.stat().st_size == size


def test_fresh_cache_opened_by_many_threads_at_once(tmp_path: Path) -> None:
    import threading

    root = tmp_path / "c"
    errors: list[str] = []
    go = threading.Barrier(8)

    def open_one(i: int) -> None:
        go.wait()
        try:
            RangeCache(root).mirror(f"Org/M{i}", COMMIT, "model.safetensors", 100).close()
        except CheckpointError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=open_one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    listed = (root / MANIFEST).read_text().splitlines()
    assert listed[0] == "mfa-engine range cache v1"
    assert sorted(listed[1:]) == sorted(f"models--Org--M{i}/{COMMIT}/model.safetensors" for i in range(8))
    assert sorted(p.name for p in root.iterdir()) == [MANIFEST, *sorted(f"models--Org--M{i}" for i in range(8))]
