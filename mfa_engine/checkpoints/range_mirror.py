"""Sparse local mirrors of remote files for the range cache (:mod:`mfa_engine.checkpoints.range_cache`).

A :class:`Mirror` has the remote file's size and holds the fetched byte ranges at their offsets
(the rest are holes), with a range log beside it (``<file>.ranges``, one ``start end crc32`` per
line). A range is written only after its whole body arrived, flushed to disk, and only then
logged; before a read, the ranges it touches are checked against the mirror (size, then
checksums), so a truncated or altered range is fetched again instead of reading as zeros.
Mirrors and logs are opened with ``O_NOFOLLOW`` (never written through a symbolic link), and
each open mirror holds a shared ``flock`` so that another process's eviction skips it.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import threading
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

from mfa_engine.errors import CheckpointError

__all__ = ["Mirror", "Range", "merge_ranges", "subtract_ranges", "make_dirs", "LOG_SUFFIX", "NOFOLLOW", "CLOEXEC"]

try:  # POSIX: mirrors in use are locked against other processes' eviction
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

_LINE = re.compile(r"^(\d+) (\d+) ([0-9a-f]{8})$")
LOG_SUFFIX = ".ranges"
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)

Range = tuple[int, int]


def merge_ranges(ranges: Iterable[Range], gap: int = 0) -> list[Range]:
    """Sort half-open byte ranges and merge those closer than ``gap`` bytes.

    Args:
        ranges: ``(start, end)`` pairs with ``start <= end``.
        gap: Ranges separated by at most this many bytes become one (0: only touching or
            overlapping ranges merge).

    Returns:
        Sorted, disjoint ranges.
    """
    out: list[list[int]] = []
    for a, b in sorted(r for r in ranges if r[1] > r[0]):
        if out and a - out[-1][1] <= gap:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def subtract_ranges(wanted: Sequence[Range], held: Sequence[Range]) -> list[Range]:
    """Parts of ``wanted`` not covered by ``held`` (both sorted and disjoint)."""
    out: list[Range] = []
    j = 0
    for a, b in wanted:
        while j < len(held) and held[j][1] <= a:
            j += 1
        k = j
        pos = a
        while k < len(held) and held[k][0] < b:
            if held[k][0] > pos:
                out.append((pos, held[k][0]))
            pos = max(pos, held[k][1])
            k += 1
        if pos < b:
            out.append((pos, b))
    return out


class Mirror:
    """Sparse local copy of one remote file and the ranges it holds.

    Args:
        path: Mirror file (created with the remote size if missing).
        size: Remote file size in bytes.
        remote_name: The file's path in its repository (default: the mirror's name).
        root: The cache root the mirror lies in: every folder between it and the mirror must
            be a real folder, never a symbolic link (None: only the file itself is checked).

    Attributes:
        created: Whether this object created the mirror file (the cache lists it then).

    Raises:
        CheckpointError: The mirror cannot be created (permissions, full disk, a symbolic link).
    """

    def __init__(self, path: Path, size: int, remote_name: str | None = None, *,
                 root: Path | None = None) -> None:
        self.path = Path(path)
        self.size = int(size)
        self.remote_name = remote_name or self.path.name
        self.log_path = self.path.with_name(self.path.name + LOG_SUFFIX)
        self.root = Path(root) if root is not None else None
        self._lock = threading.Lock()
        self._pieces: dict[Range, int] = {}  # logged range -> CRC-32 of its bytes
        self._lock_fd: int | None = None
        self.created = False
        try:
            self._create()
        except OSError as exc:
            raise CheckpointError(f"cannot create range cache file {self.path}: "
                                  f"{_why(exc, self.path)}") from None
        self._add_log(self._load_log())

    # ---------------------------------------------------------------- files
    def _open(self, path: Path, flags: int, mode: int = 0o644) -> int:
        """``os.open`` that never follows a symbolic link."""
        return os.open(path, flags | NOFOLLOW | CLOEXEC, mode)

    def _create(self) -> None:
        if self.root is not None:
            make_dirs(self.root, self.path.parent)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            try:
                fd = self._open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL)
                self.created = True
                self.log_path.unlink(missing_ok=True)  # a log without its mirror describes nothing
            except FileExistsError:  # it exists (or another process created it first)
                fd = self._open(self.path, os.O_RDWR)
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise CheckpointError(f"range cache file {self.path} is not a regular file")
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_SH)  # in use: other processes do not evict it
                try:
                    same = os.lstat(self.path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
                if not same:  # evicted between open and lock: make it again
                    os.close(fd)
                    continue
                current = st.st_size
                if current > self.size:  # not this content: start over
                    self.log_path.unlink(missing_ok=True)
                    os.ftruncate(fd, 0)
                    current = 0
                if current < self.size:
                    os.ftruncate(fd, self.size)
                self._truncated_at = current  # ranges past it are gone (checked on loading)
                os.utime(fd)  # recently used (the size limit evicts the oldest)
            except BaseException:
                os.close(fd)
                raise
            self._lock_fd = fd
            return
        raise CheckpointError(f"range cache file {self.path} keeps disappearing (another process "
                              "is clearing the range cache)")

    def close(self) -> None:
        """Release the mirror (its in-use lock); the object cannot fetch afterwards."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def _load_log(self) -> dict[Range, int]:
        try:
            fd = self._open(self.log_path, os.O_RDONLY)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise CheckpointError(f"cannot read range log {self.log_path}: {_why(exc, self.log_path)}") from None
        with os.fdopen(fd, "rb") as fh:
            text = fh.read().decode("ascii", errors="replace")
        lines = text.split("\n")
        if not text.endswith("\n"):
            lines = lines[:-1]  # a torn last line (killed mid-append) is not a range
        limit = min(self.size, getattr(self, "_truncated_at", self.size))
        pieces: dict[Range, int] = {}
        for line in lines:
            m = _LINE.match(line)  # a line without a checksum is not trusted (fetched again)
            if m:
                a, b = int(m.group(1)), int(m.group(2))
                if 0 <= a < b <= limit:
                    pieces[(a, b)] = int(m.group(3), 16)
        return pieces

    def _add_log(self, pieces: dict[Range, int]) -> None:
        with self._lock:
            self._pieces.update(pieces)
            self.held = merge_ranges(self._pieces)

    def refresh(self) -> None:
        """Re-read the range log (ranges other processes added)."""
        self._truncated_at = self.size
        self._add_log(self._load_log())

    def missing(self, ranges: Sequence[Range]) -> list[Range]:
        """Parts of the sorted disjoint ``ranges`` not held yet."""
        with self._lock:
            return subtract_ranges(ranges, self.held)

    def verify(self, ranges: Sequence[Range]) -> int:
        """Check the held bytes of ``ranges`` (size, then checksums); drop what is damaged.

        A mirror truncated since it was opened is extended to its size again; a logged range
        whose bytes no longer match its checksum stops counting as held, so the next
        :meth:`missing` asks for it again.

        Args:
            ranges: Sorted disjoint byte ranges about to be read.

        Returns:
            The number of logged ranges dropped.

        Raises:
            CheckpointError: The mirror was deleted or cannot be read.
        """
        with self._lock:
            pieces = [p for p in self._pieces if _overlaps(p, ranges)]
        if not pieces:
            return 0
        try:
            fd = self._open(self.path, os.O_RDWR)
        except FileNotFoundError:
            raise CheckpointError(_gone(self.path)) from None
        except OSError as exc:
            raise CheckpointError(f"cannot read range cache file {self.path}: {_why(exc, self.path)}") from None
        bad = []
        try:
            current = os.fstat(fd).st_size
            if current < self.size:  # truncated under us: its tail reads as zeros, so drop it
                os.ftruncate(fd, self.size)
            for a, b in pieces:
                if b > current or zlib.crc32(_pread(fd, a, b - a)) != self._pieces.get((a, b)):
                    bad.append((a, b))
        except OSError as exc:
            raise CheckpointError(f"cannot read range cache file {self.path}: {_why(exc, self.path)}") from None
        finally:
            os.close(fd)
        if bad:
            with self._lock:
                for p in bad:
                    self._pieces.pop(p, None)
                self.held = merge_ranges(self._pieces)
        return len(bad)

    def write(self, pieces: Sequence[tuple[int, bytes]]) -> None:
        """Store fetched ranges: data first (flushed to disk), then the log entries.

        Args:
            pieces: ``(offset, data)`` whose lengths were checked against the request.
        """
        if not pieces:
            return
        for off, data in pieces:
            if off < 0 or off + len(data) > self.size:
                raise CheckpointError(
                    f"range {off}-{off + len(data)} is outside {self.path.name} ({self.size} bytes)"
                )
        sums = {(off, off + len(data)): zlib.crc32(data) for off, data in pieces if data}
        try:
            fd = self._open(self.path, os.O_WRONLY)
            try:
                if os.fstat(fd).st_size < self.size:  # truncated by someone else: size it again
                    os.ftruncate(fd, self.size)
                for off, data in pieces:
                    view = memoryview(data)
                    done = 0
                    while done < len(view):
                        done += os.pwrite(fd, view[done:], off + done)
                os.fsync(fd)
            finally:
                os.close(fd)
            lines = "".join(f"{a} {b} {c:08x}\n" for (a, b), c in sums.items())
            fd = self._open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            try:
                os.write(fd, lines.encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)
        except FileNotFoundError:
            raise CheckpointError(_gone(self.path)) from None
        except OSError as exc:
            raise CheckpointError(
                f"cannot write to range cache file {self.path}: {_why(exc, self.path)}"
            ) from None
        self._add_log(sums)

    def held_bytes(self) -> int:
        """Bytes of the remote file held locally."""
        with self._lock:
            return sum(b - a for a, b in self.held)


def _why(exc: OSError, path: Path) -> str:
    if exc.errno == errno.ELOOP or (exc.errno == errno.EMLINK and NOFOLLOW):
        return ("it is a symbolic link; the range cache writes only files it made (delete the link, "
                "or run `mfa cache clear`)")
    return str(exc.strerror or exc)


def _gone(path: Path) -> str:
    return (f"range cache file {path} was deleted while in use (by another process: by hand, or an "
            "mfa-engine older than the range cache's in-use locks clearing or evicting it); run again")


def _overlaps(piece: Range, ranges: Sequence[Range]) -> bool:
    a, b = piece
    return any(s < b and a < e for s, e in ranges)


def _pread(fd: int, offset: int, length: int) -> bytes:
    out = bytearray()
    while len(out) < length:
        chunk = os.pread(fd, length - len(out), offset + len(out))
        if not chunk:
            break  # past the end: the checksum fails
        out += chunk
    return bytes(out)


def make_dirs(root: Path, folder: Path) -> None:
    """Create ``folder`` under ``root``; every folder on the way must be a real folder."""
    rel = folder.relative_to(root)
    cur = root
    for part in rel.parts:
        cur = cur / part
        try:
            cur.mkdir()
        except FileExistsError:
            pass
        if not stat.S_ISDIR(os.lstat(cur).st_mode):
            raise CheckpointError(f"range cache folder {cur} is a symbolic link or not a folder; "
                                  "the range cache writes only into folders it made")
