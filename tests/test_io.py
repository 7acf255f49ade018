"""Output writing (mfa_engine.io): symlinks written through, devices and FIFOs written into,
umask modes, refusals with one-line errors."""

from __future__ import annotations

import json
import os
import stat
import threading

import pytest

from mfa_engine.errors import MFAError, OutputError
from mfa_engine.io import atomic_write_json, atomic_write_text, check_output_path, write_bytes


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield lambda m: os.umask(m)
    os.umask(old)


def test_symlink_is_written_through(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    atomic_write_json(link, {"a": 1})
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert json.loads(target.read_text()) == {"a": 1}


def test_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.txt"
    link.symlink_to(tmp_path / "sub" / "new.txt")
    atomic_write_text(link, "hello")
    assert link.is_symlink() and (tmp_path / "sub" / "new.txt").read_text() == "hello"


def test_symlink_to_dev_null_keeps_the_device(tmp_path):
    link = tmp_path / "null.json"
    link.symlink_to("/dev/null")
    atomic_write_json(link, {"a": 1})
    assert link.is_symlink()
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_fifo_is_written_into(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []

    def reader() -> None:
        with open(fifo, "rb") as fh:
            got.append(fh.read())

    t = threading.Thread(target=reader)
    t.start()
    # the reader must have opened the FIFO before a non-blocking open for writing succeeds
    for _ in range(200):
        try:
            write_bytes(fifo, b"payload")
            break
        except OutputError:
            threading.Event().wait(0.01)
    t.join(10)
    assert got == [b"payload"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_fifo_without_reader_is_a_one_line_error(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="FIFO with no reader"):
        write_bytes(fifo, b"x")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_new_file_gets_the_umask_mode(tmp_path, umask, mask, mode):
    umask(mask)
    p = atomic_write_text(tmp_path / "out.csv", "a,b\n")
    assert stat.S_IMODE(p.stat().st_mode) == mode


@pytest.mark.parametrize("mode", [0o664, 0o640, 0o444])
def test_overwrite_keeps_the_mode(tmp_path, mode):
    p = tmp_path / "out.json"
    p.write_text("{}")
    p.chmod(mode)
    atomic_write_json(p, [1, 2])
    assert stat.S_IMODE(p.stat().st_mode) == mode
    assert json.loads(p.read_text()) == [1, 2]


def test_directory_is_refused(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        atomic_write_json(d, {})
    with pytest.raises(OutputError, match="is a directory"):
        check_output_path(d)
    assert d.is_dir()


def test_parent_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("keep")
    with pytest.raises(OutputError, match=f"cannot write {f}/x.json"):
        atomic_write_json(f / "x.json", {})
    assert f.read_text() == "keep"


def test_full_disk_is_a_one_line_error(tmp_path):
    link = tmp_path / "full.json"
    link.symlink_to("/dev/full")
    with pytest.raises(OutputError, match="No space left on device") as info:
        atomic_write_json(link, {"a": 1})
    assert "\n" not in str(info.value) and isinstance(info.value, MFAError)


def test_no_temporary_files_left(tmp_path):
    for i in range(3):
        atomic_write_text(tmp_path / "x.txt", str(i))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]
