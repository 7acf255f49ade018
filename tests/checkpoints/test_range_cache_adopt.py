"""Range caches an older mfa-engine made (no manifest) are adopted, strictly by layout: ``mfa cache
clear`` and the next analysis list their mirrors in a new manifest (then clear them, or refetch
their unchecksummed ranges); any folder that is not exactly that layout (an HF hub cache, symbolic
links, foreign files, logs that are not range logs) is refused, naming the path, with nothing
changed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from mfa_engine.checkpoints.range_cache import MANIFEST, RangeCache
from mfa_engine.cli import main
from mfa_engine.errors import CheckpointError

__all__: list[str] = []

COMMIT = "d" * 40


def _old_cache(root: Path) -> dict[str, bytes]:
    """A range cache as mfa-engine wrote it before the manifest: sparse mirrors and 'start end' logs."""
    files = {f"models--Org--A/{COMMIT}/model.safetensors": b"a" * 5000,
             f"models--Org--A/{COMMIT}/sub/shard.safetensors": b"b" * 300,
             f"models--Org--B/{COMMIT[:12]}/model.safetensors": b"c" * 70}
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "wb") as fh:
            fh.truncate(8192)
            fh.write(data)
        p.with_name(p.name + ".ranges").write_text(f"0 {len(data)}\n")
    (root / f"models--Org--B/{COMMIT[:12]}/gone.safetensors.ranges").write_text("0 10\n")  # orphan log
    return files


def _tree(root: Path) -> dict[str, str]:
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(folder) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[rel] = "dir"
    return out


def test_clear_adopts_an_older_cache_and_deletes_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "ranges"
    _old_cache(root)
    assert main(["cache", "info", "--range-cache", str(root)]) == 0
    assert f"`mfa cache clear --range-cache {root}` adopts" in capsys.readouterr().out
    assert not (root / MANIFEST).exists()  # info changes nothing
    assert main(["cache", "clear", "--range-cache", str(root)]) == 0
    assert "cleared all repositories" in capsys.readouterr().out
    assert sorted(p.name for p in root.iterdir()) == [MANIFEST]  # files, logs and folders gone
    assert (root / MANIFEST).read_text() == "mfa-engine range cache v1\n"


def test_clear_of_one_repository_keeps_the_others_listed(tmp_path: Path) -> None:
    root = tmp_path / "ranges"
    files = _old_cache(root)
    assert RangeCache(root).clear("Org/B") > 0
    assert not (root / "models--Org--B").exists()
    listed = (root / MANIFEST).read_text().splitlines()[1:]
    assert sorted(listed) == sorted(r for r in files if r.startswith("models--Org--A"))
    assert set(RangeCache(root).info()["repos"]) == {"Org/A"}


def test_use_adopts_an_older_cache_and_never_trusts_its_ranges(tmp_path: Path) -> None:
    root = tmp_path / "ranges"
    files = _old_cache(root)
    cache = RangeCache(root, limit=10**9)
    m = cache.mirror("Org/A", COMMIT, "model.safetensors", 8192)
    try:
        assert not m.created and m.held == []  # no checksums: fetched again, never read as held
        assert m.missing([(0, 100)]) == [(0, 100)]
    finally:
        m.close()
    assert sorted((root / MANIFEST).read_text().splitlines()[1:]) == sorted(files)
    assert not (root / f"models--Org--B/{COMMIT[:12]}/gone.safetensors.ranges").exists()
    info = cache.info()
    assert info["repos"]["Org/A"]["files"] == 2 and info["repos"]["Org/B"]["files"] == 1


def _hub_layout(root: Path) -> None:
    (root / "models--Org--A" / "blobs").mkdir(parents=True)
    (root / "models--Org--A" / "blobs" / ("e" * 64)).write_bytes(b"weights")


def _symlinked_repo(root: Path) -> None:
    (root / "models--Org--L").symlink_to(root.parent / "outside", target_is_directory=True)


def _symlinked_file(root: Path) -> None:
    (root / f"models--Org--A/{COMMIT}/link.safetensors").symlink_to(root.parent / "outside" / "victim")


def _foreign_top(root: Path) -> None:
    (root / "notes.txt").write_text("mine")


def _foreign_log(root: Path) -> None:
    (root / f"models--Org--A/{COMMIT}/notes.ranges").write_text("my notes, not a range log\n")


def _branch_folder(root: Path) -> None:
    (root / "models--Org--A" / "main").mkdir()


@pytest.mark.parametrize(("make", "named"), [
    (_hub_layout, "models--Org--A/blobs"), (_symlinked_repo, "models--Org--L"),
    (_symlinked_file, "link.safetensors"), (_foreign_top, "notes.txt"), (_foreign_log, "notes.ranges"),
    (_branch_folder, "models--Org--A/main"),
])
def test_anything_but_the_layout_is_refused_and_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           make, named: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_bytes(b"victim")
    (outside / f"{COMMIT}").mkdir()
    (outside / f"{COMMIT}" / "model.safetensors").write_bytes(b"outside")
    root = tmp_path / "ranges"
    _old_cache(root)
    make(root)
    before, outside_before = _tree(root), _tree(outside)
    assert main(["cache", "clear", "--range-cache", str(root)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    if make is _hub_layout:  # recognised as an HF hub cache before its layout is looked at
        assert "has no range cache manifest" in line and "nothing deleted" in line, line
    else:
        assert named in line and "nothing was adopted or deleted" in line, line
    with pytest.raises(CheckpointError, match="has no range cache manifest|is a Hugging Face hub cache"):
        RangeCache(root).mirror("Org/A", COMMIT, "model.safetensors", 8192)
    assert RangeCache(root, limit=1).evict() == 0
    assert _tree(root) == before and _tree(outside) == outside_before
