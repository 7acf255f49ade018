"""The range cache: interval arithmetic (brute-force oracle), the range log, limits, info/clear."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mfa_engine.checkpoints.range_cache import Mirror, RangeCache, merge_ranges, subtract_ranges
from mfa_engine.errors import CheckpointError

COMMIT = "a" * 40


def _bytes_of(ranges: list[tuple[int, int]]) -> set[int]:
    return {i for a, b in ranges for i in range(a, b)}


@pytest.mark.parametrize("seed", range(6))
def test_merge_and_subtract_against_sets(seed: int) -> None:
    rng = np.random.default_rng(seed)
    wanted = [(int(a), int(a + n)) for a, n in zip(rng.integers(0, 300, 25), rng.integers(0, 20, 25))]
    held = [(int(a), int(a + n)) for a, n in zip(rng.integers(0, 300, 15), rng.integers(1, 30, 15))]
    for gap in (0, 3, 17):
        merged = merge_ranges(wanted, gap)
        assert all(b0 + gap < a1 for (_, b0), (a1, _) in zip(merged, merged[1:]))  # sorted, apart
        assert _bytes_of(wanted) <= _bytes_of(merged)
        if gap == 0:
            assert _bytes_of(merged) == _bytes_of(wanted)
        else:  # only gaps of at most `gap` bytes were filled
            extra = sorted(_bytes_of(merged) - _bytes_of(wanted))
            runs = merge_ranges([(x, x + 1) for x in extra])
            assert all(b - a <= gap for a, b in runs)
            assert len(merged) <= len(merge_ranges(wanted, 0))
    w, h = merge_ranges(wanted), merge_ranges(held)
    missing = subtract_ranges(w, h)
    assert _bytes_of(missing) == _bytes_of(w) - _bytes_of(h)
    assert missing == merge_ranges(missing)


def test_mirror_write_log_and_torn_line(tmp_path: Path) -> None:
    m = Mirror(tmp_path / "f.safetensors", 1000)
    assert m.path.stat().st_size == 1000 and m.held == []
    m.write([(10, b"x" * 20), (500, b"y" * 5)])
    assert m.held == [(10, 30), (500, 505)] and m.missing([(0, 40)]) == [(0, 10), (30, 40)]
    with open(m.log_path, "a") as fh:
        fh.write("600 7")  # killed mid-append: no newline
    again = Mirror(tmp_path / "f.safetensors", 1000)
    assert again.held == [(10, 30), (500, 505)]
    assert again.path.read_bytes()[10:30] == b"x" * 20
    with pytest.raises(CheckpointError, match=r"range 995-1005 is outside f\.safetensors \(1000 bytes\)"):
        again.write([(995, b"z" * 10)])
    # a log whose mirror is gone describes nothing
    m.path.unlink()
    assert Mirror(tmp_path / "f.safetensors", 1000).held == []


def test_mirror_of_other_size_starts_over(tmp_path: Path) -> None:
    m = Mirror(tmp_path / "f", 100)
    m.write([(0, b"a" * 10)])
    assert Mirror(tmp_path / "f", 50).held == []  # smaller remote size: not this content


def test_cache_keys_info_clear_and_limit(tmp_path: Path) -> None:
    cache = RangeCache(tmp_path / "c", limit=10**9)
    with pytest.raises(CheckpointError, match="is not a hash"):
        cache.mirror("Org/A", "main", "model.safetensors", 10)
    with pytest.raises(CheckpointError, match=r"'\.\./escape' .* has a part '\.\.'"):
        cache.mirror("Org/A", COMMIT, "../escape", 10)
    a = cache.mirror("Org/A", COMMIT, "model.safetensors", 1 << 20)
    b = cache.mirror("Org/B", "b" * 40, "sub/model-1.safetensors", 1 << 20)
    a.write([(0, b"1" * 8192)])
    b.write([(4096, b"2" * 8192)])
    info = cache.info()
    assert info["held_bytes"] == 16384 and info["allocated_bytes"] >= 16384
    assert info["repos"] == {"Org/A": {"commits": 1, "files": 1, "held_bytes": 8192},
                             "Org/B": {"commits": 1, "files": 1, "held_bytes": 8192}}
    import os

    os.utime(b.path, (1, 1))  # b is the least recently used
    small = RangeCache(tmp_path / "c", limit=1)
    small.evict(keep=[a.path])
    assert b.path.exists()  # b is open (in use): kept
    b.close()
    small.evict(keep=[a.path])
    assert a.path.exists() and not b.path.exists() and not b.log_path.exists()
    assert cache.clear("Org/A") == 0 and a.path.exists()  # a is open (in use): kept
    a.close()
    assert cache.clear("Org/A") > 0 and cache.info()["repos"] == {}
    assert cache.clear() == 0
