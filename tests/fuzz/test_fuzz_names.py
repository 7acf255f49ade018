"""Served file names (issue 22 X7, by class): names drawn from NUL, control characters,
backslashes, ``.``/``..`` parts, slashes, surrogates and over-long runs go through the one checked
gate (:func:`~mfa_engine.checkpoints.served_names.check_served_name`) and then through each place
a served name becomes a path: a range cache mirror and a local index's shard. A name is either
refused with a one-line CheckpointError that shows it, or it stays a plain relative path inside
its folder (and the file made for it lies there); never another exception, never a file outside."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from mfa_engine.checkpoints.local import open_local
from mfa_engine.checkpoints.range_cache import RangeCache
from mfa_engine.checkpoints.served_names import check_served_name
from mfa_engine.errors import CheckpointError

from .harness import budget, one_line, record

COMMIT = "c" * 40
_PIECES = st.sampled_from(["\x00", "\x01", "\x1b", "\n", "\x7f", "\x85", "\\", "/", "//", ".", "..", "../",
                           "/..", "a", "model", ".safetensors", "ü", "\ud800", " ", "~", "$HOME",
                           "x" * 120, "y" * 256, ":", "C:"])
names = st.one_of(st.lists(_PIECES, max_size=8).map("".join), st.text(max_size=40),
                  st.lists(st.sampled_from(["a", "b" * 200, ".", ".."]), min_size=1, max_size=8).map("/".join))


def _inside(path: Path, root: Path) -> bool:
    return root.resolve() in path.resolve().parents


def _no_file_outside(base: Path, root: Path) -> None:
    for dirpath, _dirs, files in os.walk(base):
        for f in files:
            p = Path(dirpath) / f
            assert root in p.parents or p.parent == base, p


@budget(60)
@given(name=names)
def test_served_names_are_plain_or_refused(tmp_path_factory, name):
    base = tmp_path_factory.mktemp("names")
    root = base / "cache"
    try:
        check_served_name(name, "fuzz")
    except CheckpointError as exc:
        one_line(str(exc))
        assert repr(name)[:60] in str(exc) and "\x00" not in str(exc), str(exc)
        for make in (lambda: RangeCache(root).mirror("Org/N", COMMIT, name, 16),):
            try:
                make()
                raise AssertionError(f"{name!r} refused by the gate but accepted by the range cache")
            except CheckpointError as again:
                one_line(str(again))
        record("names", "error")
        return
    assert _inside(base / "x" / name, base / "x")  # stays inside, as text
    try:
        m = RangeCache(root).mirror("Org/N", COMMIT, name, 16)
    except CheckpointError as exc:  # the cache's own rules (its log suffix) on top of the gate
        one_line(str(exc))
        record("names", "error")
        return
    try:
        assert _inside(m.path, root) and m.path.is_file()
    finally:
        m.close()
    _no_file_outside(base, root)
    record("names", "ok")


@budget(40)
@given(name=names)
def test_local_index_shard_names(tmp_path_factory, name):
    base = tmp_path_factory.mktemp("index")
    folder = base / "ck"
    folder.mkdir()
    (base / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (folder / "config.json").write_text('{"model_type": "gpt_neox"}')
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"w": name}}))
    try:
        open_local(folder, None)
    except CheckpointError as exc:
        one_line(str(exc))
        assert "\x00" not in str(exc) and "\x1b" not in str(exc), str(exc)
        record("names", "error")
        return
    raise AssertionError(f"index naming shard {name!r} opened, but no such shard exists in the folder")
