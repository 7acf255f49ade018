"""Range cache tampering: truncate, flip, replace by a symbolic link, remove under a running
reader (of this process or another), drop the manifest (an older cache, adopted by layout). Whatever is done to the cache's files, a read returns the source's bytes or a one-line
error naming the file (never zeros, never another file's bytes), and eviction and clearing
never touch a file outside the cache."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from mfa_engine.checkpoints.range_cache import RangeCache, merge_ranges
from mfa_engine.errors import CheckpointError

from .harness import budget, one_line, record

SIZE = 4096
COMMIT = "f" * 40
TAMPER = ("truncate", "flip", "link_mirror", "link_log", "remove", "link_repo", "garbage_log",
          "evict", "clear", "drop_manifest")

rng = st.tuples(st.integers(0, SIZE - 1), st.integers(1, 600)).map(lambda t: (t[0], min(SIZE, t[0] + t[1])))
step = st.one_of(st.tuples(st.just("read"), rng),
                 st.tuples(st.sampled_from(TAMPER), st.integers(0, SIZE - 1)))


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def _tamper(kind: str, arg: int, cache: RangeCache, mirror: Path, outside: Path) -> None:
    log = mirror.with_name(mirror.name + ".ranges")
    if kind in ("truncate", "flip") and mirror.is_symlink():
        return  # the tampering itself never writes outside the cache
    if kind not in ("link_repo", "evict", "clear") and cache.root.joinpath("models--Org--Fuzz").is_symlink():
        return
    if kind == "truncate" and mirror.exists():
        os.truncate(mirror, arg)
    elif kind == "flip" and mirror.exists() and arg < mirror.stat().st_size:
        with open(mirror, "r+b") as fh:
            fh.seek(arg)
            b = fh.read(1)
            fh.seek(arg)
            fh.write(bytes([b[0] ^ 0x5A]))
    elif kind == "link_mirror":
        mirror.unlink(missing_ok=True)
        if mirror.parent.is_dir():
            mirror.symlink_to(outside / "victim")
    elif kind == "link_log":
        log.unlink(missing_ok=True)
        if log.parent.is_dir():
            log.symlink_to(outside / "victim.ranges")
    elif kind == "remove":
        mirror.unlink(missing_ok=True)
    elif kind == "link_repo":
        repo = cache.root / "models--Org--Fuzz"
        if repo.is_symlink():
            repo.unlink()
        elif repo.exists():
            shutil.rmtree(repo)
        if not cache.root.is_dir():
            return
        repo.symlink_to(outside, target_is_directory=True)
    elif kind == "garbage_log" and log.exists() and not log.is_symlink():
        with open(log, "a") as fh:
            fh.write(f"0 {arg + 1} 00000000\n{arg} {SIZE}\n")
    elif kind == "evict":
        RangeCache(cache.root, limit=1).evict()
    elif kind == "clear":
        try:  # a cache without its manifest is adopted first, or refused when not its own layout
            RangeCache(cache.root).clear()
        except CheckpointError as exc:
            one_line(str(exc))
            assert "no range cache manifest" in str(exc), str(exc)
    elif kind == "drop_manifest":  # as a cache made by an older mfa-engine: adopted on next use
        cache.manifest.unlink(missing_ok=True)


@budget(25)
@given(steps=st.lists(step, min_size=1, max_size=12), seed=st.integers(0, 2**16))
def test_tampered_cache_reads_source_bytes_or_errors(tmp_path_factory, steps, seed):
    base = tmp_path_factory.mktemp("tamper")
    source = hashlib.sha256(str(seed).encode()).digest() * (SIZE // 32)
    outside = base / "outside"
    (outside / COMMIT).mkdir(parents=True)
    (outside / "victim").write_bytes(b"victim" * 100)
    (outside / "victim.ranges").write_text("0 10 00000000\n")
    (outside / COMMIT / "model.safetensors").write_bytes(b"outside" * 100)
    before = _digest(outside)
    cache = RangeCache(base / "cache", limit=10**9)
    mirror_path = cache.root / "models--Org--Fuzz" / COMMIT / "model.safetensors"
    for kind, arg in steps:
        if kind != "read":
            _tamper(kind, arg, cache, mirror_path, outside)
            continue
        want = merge_ranges([arg])
        try:
            m = cache.mirror("Org/Fuzz", COMMIT, "model.safetensors", SIZE)  # a fresh run
            try:
                m.verify(want)
                m.write([(a, source[a:b]) for a, b in m.missing(want)])
                m.verify(want)
                assert m.missing(want) == []
                fd = os.open(m.path, os.O_RDONLY | os.O_NOFOLLOW)
                try:
                    got = os.pread(fd, arg[1] - arg[0], arg[0])
                finally:
                    os.close(fd)
                assert got == source[arg[0]:arg[1]]
            finally:
                m.close()
            record("cache", "ok")
        except CheckpointError as exc:
            one_line(str(exc))
            assert "range cache" in str(exc) or "symbolic link" in str(exc), str(exc)
            record("cache", "error")
        assert _digest(outside) == before  # nothing outside the cache was written or deleted


@budget(10)
@given(tamper=st.lists(st.sampled_from(("truncate", "flip", "remove", "evict", "clear")), min_size=1,
                       max_size=6), where=st.integers(0, SIZE - 1))
def test_tampering_under_an_open_reader(tmp_path_factory, tamper, where):
    base = tmp_path_factory.mktemp("open")
    source = bytes(range(256)) * (SIZE // 256)
    cache = RangeCache(base / "cache", limit=10**9)
    m = cache.mirror("Org/Fuzz", COMMIT, "model.safetensors", SIZE)
    m.write([(0, source)])
    try:
        for kind in tamper:
            _tamper(kind, where, cache, m.path, base)
            if kind in ("evict", "clear"):
                assert m.path.exists()  # in use: kept
            try:
                m.verify([(0, SIZE)])
                m.write([(a, source[a:b]) for a, b in m.missing([(0, SIZE)])])
                assert m.path.read_bytes() == source
                record("cache-open", "ok")
            except CheckpointError as exc:
                one_line(str(exc))
                assert "deleted while in use" in str(exc), str(exc)
                record("cache-open", "error")
                break
    finally:
        m.close()


@budget(3)
@given(tamper=st.lists(st.sampled_from(("truncate", "flip", "remove", "evict", "clear", "link_mirror")),
                       min_size=1, max_size=5), where=st.integers(0, SIZE - 1))
def test_tampering_under_another_running_process(tmp_path_factory, tamper, where):
    """A second process holds the mirror open: eviction and clear keep it, truncation and flips are
    re-fetched, removal is a one-line error naming the cause, and nothing outside is written."""
    import subprocess
    import sys

    from . import cache_holder

    base = tmp_path_factory.mktemp("held")
    (base / "victim").write_bytes(b"victim" * 100)
    before = _digest(base)
    root = base / "cache"
    proc = subprocess.Popen([sys.executable, "-m", "tests.fuzz.cache_holder", str(root)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        cache = RangeCache(root, limit=1)
        path = root / "models--Org--Held" / cache_holder.COMMIT / "model.safetensors"
        removed = False
        for kind in tamper:
            _tamper(kind, where, cache, path, base)
            removed |= kind in ("remove", "link_mirror")
            if kind in ("evict", "clear") and not removed:
                assert path.exists() and not path.is_symlink()  # held by the other process: kept
        out, err = proc.communicate("go\n", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    line = out.strip().splitlines()[-1]
    if line == "ok":
        record("cache-held", "ok")
    else:
        assert line.startswith("error: ") and removed, line
        one_line(line)
        assert "deleted while in use" in line or "symbolic link" in line or "not a regular file" in line, line
        record("cache-held", "error")
    assert {k: v for k, v in _digest(base).items() if not k.startswith("cache")} == \
        {k: v for k, v in before.items() if not k.startswith("cache")}
