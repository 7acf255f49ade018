"""The local range cache of Hub checkpoints: sparse mirrors of remote files plus a range log.

Layout under the cache root (``--range-cache``, else ``$MFA_RANGE_CACHE``, else
``$HF_HOME/mfa-ranges``, else ``~/.cache/huggingface/mfa-ranges``)::

    <root>/models--Org--Name/<commit>/<file>          sparse file of the remote file's size
    <root>/models--Org--Name/<commit>/<file>.ranges   held byte ranges, one "start end" per line

The key of a cached range is (repo, commit, file, byte range): a commit hash names immutable
content, so a range fetched once is never fetched again, whatever seed, mode or run asks for it.
The mirror has the remote file's size and holds the fetched ranges at their offsets (the rest
are holes that take no disk space), so a mirror opens as a local safetensors file (header
validation, positioned reads and row gathers are the local reader's own).

Crash and fault safety: a range is written only after its whole body arrived (length checked
against the request), then flushed to disk (``fsync``), and only then appended to the range
log (the log is the only thing that makes a range count as held). A failed, short or killed
fetch therefore leaves at most unreferenced bytes in a hole, never a range that reads wrong.
A torn last log line (killed mid-append) is ignored. Processes sharing the cache (pool or Ray
workers) may fetch the same range at once; they write identical bytes.

Size limit: after each fetch the least recently used mirrors (by modification time, touched
on every open) are deleted until the allocated size is under the limit (``MFA_RANGE_CACHE_LIMIT``
bytes, default 50 GB); mirrors of the checkpoint in use are kept.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from mfa_engine.errors import CheckpointError

__all__ = ["RangeCache", "Mirror", "default_cache_root", "merge_ranges", "subtract_ranges",
           "DEFAULT_LIMIT"]

#: Default size limit of the range cache in bytes (``MFA_RANGE_CACHE_LIMIT`` overrides it).
DEFAULT_LIMIT = 50 * 10**9
_LINE = re.compile(r"^(\d+) (\d+)$")
_LOG_SUFFIX = ".ranges"

Range = tuple[int, int]


def default_cache_root() -> Path:
    """The range cache root: ``$MFA_RANGE_CACHE``, else ``mfa-ranges`` in the HF home folder
    (``huggingface_hub.constants.HF_HOME``: ``$HF_HOME``, else ``~/.cache/huggingface``)."""
    if os.environ.get("MFA_RANGE_CACHE"):
        return Path(os.environ["MFA_RANGE_CACHE"]).expanduser()
    from huggingface_hub import constants

    return Path(constants.HF_HOME).expanduser() / "mfa-ranges"


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

    Raises:
        CheckpointError: The mirror cannot be created (permissions, full disk).
    """

    def __init__(self, path: Path, size: int, remote_name: str | None = None) -> None:
        self.path = Path(path)
        self.size = int(size)
        self.remote_name = remote_name or self.path.name
        self.log_path = self.path.with_name(self.path.name + _LOG_SUFFIX)
        self._lock = threading.Lock()
        try:
            self._create()
        except OSError as exc:
            raise CheckpointError(
                f"cannot create range cache file {self.path}: {exc.strerror or exc}"
            ) from None
        self.held = self._load_log()

    def _create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            self.log_path.unlink(missing_ok=True)  # a log without its mirror describes nothing
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:  # another process created it first
                fd = os.open(self.path, os.O_WRONLY)
            try:
                if os.fstat(fd).st_size < self.size:
                    os.ftruncate(fd, self.size)
            finally:
                os.close(fd)
        current = self.path.stat().st_size
        if current < self.size:  # created by a racing process that has not sized it yet
            os.truncate(self.path, self.size)
        elif current > self.size:  # not this content: start over
            self.log_path.unlink(missing_ok=True)
            os.truncate(self.path, 0)
            os.truncate(self.path, self.size)
        os.utime(self.path)  # recently used (the size limit evicts the oldest)

    def _load_log(self) -> list[Range]:
        try:
            text = self.log_path.read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise CheckpointError(f"cannot read range log {self.log_path}: {exc.strerror or exc}") from None
        lines = text.split("\n")
        if not text.endswith("\n"):
            lines = lines[:-1]  # a torn last line (killed mid-append) is not a range
        ranges = []
        for line in lines:
            m = _LINE.match(line)
            if m:
                a, b = int(m.group(1)), int(m.group(2))
                if 0 <= a < b <= self.size:
                    ranges.append((a, b))
        return merge_ranges(ranges)

    def refresh(self) -> None:
        """Re-read the range log (ranges other processes added)."""
        with self._lock:
            self.held = merge_ranges([*self.held, *self._load_log()])

    def missing(self, ranges: Sequence[Range]) -> list[Range]:
        """Parts of the sorted disjoint ``ranges`` not held yet."""
        with self._lock:
            return subtract_ranges(ranges, self.held)

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
        try:
            fd = os.open(self.path, os.O_WRONLY)
            try:
                for off, data in pieces:
                    view = memoryview(data)
                    done = 0
                    while done < len(view):
                        done += os.pwrite(fd, view[done:], off + done)
                os.fsync(fd)
            finally:
                os.close(fd)
            lines = "".join(f"{off} {off + len(data)}\n" for off, data in pieces if data)
            fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, lines.encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise CheckpointError(
                f"cannot write to range cache file {self.path}: {exc.strerror or exc}"
            ) from None
        with self._lock:
            self.held = merge_ranges([*self.held, *((o, o + len(d)) for o, d in pieces if d)])

    def held_bytes(self) -> int:
        """Bytes of the remote file held locally."""
        with self._lock:
            return sum(b - a for a, b in self.held)


def _repo_folder(repo_id: str) -> str:
    return "models--" + repo_id.replace("/", "--")


def _allocated(path: Path) -> int:
    try:
        st = path.stat()
    except OSError:
        return 0
    return int(getattr(st, "st_blocks", 0)) * 512 or st.st_size


class RangeCache:
    """A range cache root (see the module docstring).

    Args:
        root: Cache folder (default :func:`default_cache_root`).
        limit: Size limit in bytes (default ``MFA_RANGE_CACHE_LIMIT`` or 50 GB).
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, limit: int | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_root()
        if limit is None:
            limit = int(os.environ.get("MFA_RANGE_CACHE_LIMIT", DEFAULT_LIMIT))
        self.limit = int(limit)

    def mirror(self, repo_id: str, commit: str, filename: str, size: int) -> Mirror:
        """The mirror of ``filename`` at ``commit`` of ``repo_id`` (created if missing)."""
        if not re.fullmatch(r"[0-9a-fA-F]{7,64}", commit):
            raise CheckpointError(f"commit {commit!r} of {repo_id} is not a hash; cannot key the range cache")
        parts = Path(filename).parts
        if not parts or any(p in ("..", "") or p.startswith("/") for p in parts):
            raise CheckpointError(f"file name {filename!r} of {repo_id} is not a relative path")
        return Mirror(self.root / _repo_folder(repo_id) / commit / filename, size, filename)

    def _mirrors(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [p for p in self.root.glob("models--*/*/**/*")
                if p.is_file() and not p.name.endswith(_LOG_SUFFIX)]

    def info(self) -> dict:
        """Size and content of the cache.

        Returns:
            ``{"root", "limit", "allocated_bytes", "held_bytes", "repos": {repo: {"commits",
            "files", "held_bytes"}}}``.
        """
        repos: dict[str, dict] = {}
        allocated = held = 0
        for path in self._mirrors():
            rel = path.relative_to(self.root)
            repo = rel.parts[0].removeprefix("models--").replace("--", "/")
            m = Mirror.__new__(Mirror)  # read-only view: do not create or touch anything
            m.path, m.size = path, path.stat().st_size
            m.log_path = path.with_name(path.name + _LOG_SUFFIX)
            m._lock = threading.Lock()
            n = sum(b - a for a, b in m._load_log())
            entry = repos.setdefault(repo, {"commits": set(), "files": 0, "held_bytes": 0})
            entry["commits"].add(rel.parts[1])
            entry["files"] += 1
            entry["held_bytes"] += n
            allocated += _allocated(path)
            held += n
        for entry in repos.values():
            entry["commits"] = len(entry["commits"])
        return {"root": str(self.root), "limit": self.limit, "allocated_bytes": allocated,
                "held_bytes": held, "repos": repos}

    def clear(self, repo_id: str | None = None) -> int:
        """Delete the cache (or one repository's part of it); returns the bytes freed."""
        target = self.root if repo_id is None else self.root / _repo_folder(repo_id)
        if not target.exists():
            return 0
        freed = sum(_allocated(p) for p in target.rglob("*") if p.is_file())
        if repo_id is None:
            for child in self.root.iterdir():  # only what the cache made
                if child.is_dir() and child.name.startswith("models--"):
                    shutil.rmtree(child)
        else:
            shutil.rmtree(target)
        return freed

    def evict(self, keep: Iterable[Path] = ()) -> int:
        """Delete least recently used mirrors until the cache is under its limit.

        Args:
            keep: Mirror files that must stay (the checkpoint in use).

        Returns:
            Bytes freed.
        """
        keep_set = {Path(p).resolve() for p in keep}
        entries = [(p.stat().st_mtime, _allocated(p), p) for p in self._mirrors()]
        total = sum(e[1] for e in entries)
        freed = 0
        for _, size, path in sorted(entries):
            if total <= self.limit:
                break
            if path.resolve() in keep_set:
                continue
            path.with_name(path.name + _LOG_SUFFIX).unlink(missing_ok=True)  # log first
            path.unlink(missing_ok=True)
            total -= size
            freed += size
        return freed
