"""The local range cache of Hub checkpoints: sparse mirrors of remote files plus a range log.

Layout under the cache root (``--range-cache``, else ``$MFA_RANGE_CACHE``, else
``$HF_HOME/mfa-ranges``, else ``~/.cache/huggingface/mfa-ranges``)::

    <root>/models--Org--Name/<commit>/<file>          sparse file of the remote file's size
    <root>/models--Org--Name/<commit>/<file>.ranges   held byte ranges, one "start end crc32" per line
    <root>/.mfa-range-cache                            the manifest: every mirror the cache created

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

Verified bytes: each logged range carries the CRC-32 of its bytes. Before a read, the ranges it
touches are checked against the mirror (its size, then the checksums); a truncated or altered
range stops counting as held and is fetched again, so a damaged mirror never reads as zeros.

Ownership: the cache deletes only what it wrote. The root holds a manifest
(``.mfa-range-cache``) listing every mirror the cache created; eviction and :meth:`RangeCache.clear`
delete only listed files (and their logs), never through a symbolic link, and remove only empty
folders on a listed file's path. A folder that is not empty and has no manifest (an HF hub
cache, any other folder) is refused as a range cache; mirrors and logs are opened with
``O_NOFOLLOW``, so a mirror replaced by a symbolic link is an error, never written through.

Size limit: after each fetch the least recently used mirrors (by modification time, touched
on every open) are deleted until the allocated size is under the limit (``MFA_RANGE_CACHE_LIMIT``
bytes, default 50 GB); mirrors of the checkpoint in use are kept, and so are mirrors another
process has open (each open mirror holds a shared ``flock``; eviction takes an exclusive one
without waiting and skips the mirror when it cannot).
"""

from __future__ import annotations

import os
import re
import stat
import threading
from collections.abc import Iterable
from pathlib import Path

from mfa_engine.checkpoints.range_mirror import (
    CLOEXEC,
    LOG_SUFFIX,
    NOFOLLOW,
    Mirror,
    merge_ranges,
    subtract_ranges,
)
from mfa_engine.checkpoints.served_names import check_served_name
from mfa_engine.errors import CheckpointError
from mfa_engine.limits import setting

__all__ = ["RangeCache", "Mirror", "default_cache_root", "merge_ranges", "subtract_ranges",
           "DEFAULT_LIMIT", "MANIFEST"]

try:  # POSIX: mirrors in use are locked against other processes' eviction
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

#: Default size limit of the range cache in bytes (``MFA_RANGE_CACHE_LIMIT`` overrides it).
DEFAULT_LIMIT = 50 * 10**9
#: The range cache's manifest (in its root): the first line names the format, then one relative
#: mirror path per line.
MANIFEST = ".mfa-range-cache"
_MANIFEST_HEAD = "mfa-engine range cache v1\n"


def default_cache_root() -> Path:
    """The range cache root: ``$MFA_RANGE_CACHE``, else ``mfa-ranges`` in the HF home folder
    (``huggingface_hub.constants.HF_HOME``: ``$HF_HOME``, else ``~/.cache/huggingface``)."""
    if os.environ.get("MFA_RANGE_CACHE"):
        return Path(os.environ["MFA_RANGE_CACHE"]).expanduser()
    from huggingface_hub import constants

    return Path(constants.HF_HOME).expanduser() / "mfa-ranges"


def _repo_folder(repo_id: str) -> str:
    return "models--" + repo_id.replace("/", "--")


def _allocated(path: Path) -> int:
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    return int(getattr(st, "st_blocks", 0)) * 512 or st.st_size


def _owned_file(root: Path, rel: str) -> Path | None:
    """The listed file ``root/rel`` when every part of it is real (no link), else None."""
    parts = Path(rel).parts
    if (len(parts) < 3 or not parts[0].startswith("models--") or Path(rel).is_absolute()
            or any(p in ("", ".", "..") for p in parts) or rel.endswith(LOG_SUFFIX)):
        return None
    cur = root
    try:
        for part in parts[:-1]:
            cur = cur / part
            if not stat.S_ISDIR(os.lstat(cur).st_mode):
                return None
        cur = cur / parts[-1]
        if not stat.S_ISREG(os.lstat(cur).st_mode):
            return None
    except OSError:
        return None
    return cur


def _is_hf_hub_cache(root: Path) -> bool:
    try:
        from huggingface_hub import constants

        if root.resolve() == Path(constants.HF_HUB_CACHE).expanduser().resolve():
            return True
    except (ImportError, OSError):
        pass
    return any((p / sub).exists() for p in root.glob("models--*")
               for sub in ("blobs", "snapshots", "refs"))


_COMMIT = re.compile(r"[0-9a-fA-F]{7,64}")
_OLD_LOG_LINE = re.compile(r"\d+ \d+( [0-9a-f]{8})?")


def _legacy_files(root: Path) -> tuple[list[str], list[Path]]:
    """The mirrors and orphan logs of a range cache made before the manifest (older mfa-engine).

    Only the range cache's own layout is recognised, every part of it real (no symbolic link)::

        <root>/models--Org--Name/<commit hash>/<file>[.ranges]   (files may lie in sub-folders)

    with range logs of ``start end`` (or ``start end crc32``) lines.

    Returns:
        (mirror paths relative to ``root`` in POSIX form, logs without their mirror).

    Raises:
        CheckpointError: Anything else in ``root`` (an HF hub cache's ``blobs``/``snapshots``/
            ``refs``, a symbolic link, a foreign file, a log that is not a range log), named.
    """
    def foreign(path: Path, why: str) -> CheckpointError:
        return CheckpointError(
            f"{root} is not empty and has no range cache manifest ({MANIFEST}), and {path} {why}, so it is "
            "not a range cache an older mfa-engine made; nothing was adopted or deleted (give --range-cache "
            "another folder, or delete this one yourself if it is yours)")

    mirrors: list[str] = []
    logs: list[Path] = []
    for top in sorted(root.iterdir()):
        if top.name.startswith(MANIFEST):
            continue  # a manifest being made by another process
        st = os.lstat(top)
        if not stat.S_ISDIR(st.st_mode) or not top.name.startswith("models--"):
            raise foreign(top, "is not a models--Org--Name folder")
        for commit in sorted(top.iterdir()):
            if not stat.S_ISDIR(os.lstat(commit).st_mode) or not _COMMIT.fullmatch(commit.name):
                raise foreign(commit, "is not a commit-hash folder (an HF hub cache has blobs, refs and "
                                      "snapshots here)")
            for folder, dirs, files in os.walk(commit):
                for name in dirs + files:
                    path = Path(folder) / name
                    mode = os.lstat(path).st_mode
                    if stat.S_ISLNK(mode):
                        raise foreign(path, "is a symbolic link")
                    if name in files and not stat.S_ISREG(mode):
                        raise foreign(path, "is not a regular file")
                for name in files:
                    path = Path(folder) / name
                    if name.endswith(LOG_SUFFIX):
                        if not _is_range_log(path):
                            raise foreign(path, "is not a range log")
                        if not os.path.lexists(path.with_name(name[: -len(LOG_SUFFIX)])):
                            logs.append(path)
                    else:
                        mirrors.append(path.relative_to(root).as_posix())
    return mirrors, logs


def _is_range_log(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW | CLOEXEC)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as fh:
        raw = fh.read(1 << 24)
    try:
        lines = raw.decode("ascii").split("\n")
    except UnicodeDecodeError:
        return False
    if not raw.endswith(b"\n"):
        lines = lines[:-1]  # a torn last line (killed mid-append)
    return all(_OLD_LOG_LINE.fullmatch(line) for line in lines if line)


class RangeCache:
    """A range cache root (see the module docstring).

    Args:
        root: Cache folder (default :func:`default_cache_root`).
        limit: Size limit in bytes (default ``MFA_RANGE_CACHE_LIMIT`` or 50 GB).
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, limit: int | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_root()
        if limit is None:
            limit = int(setting("MFA_RANGE_CACHE_LIMIT"))  # checked: a one-line ConfigError
        self.limit = int(limit)

    @property
    def manifest(self) -> Path:
        """The manifest file (``<root>/.mfa-range-cache``)."""
        return self.root / MANIFEST

    def _claim(self) -> None:
        """Make sure the root is this cache's own: create it with a manifest, or find one."""
        if _is_hf_hub_cache(self.root):
            raise CheckpointError(
                f"{self.root} is a Hugging Face hub cache, not a range cache; give --range-cache "
                "(or MFA_RANGE_CACHE) a folder of its own, such as $HF_HOME/mfa-ranges")
        if self._has_manifest():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        if not stat.S_ISDIR(os.lstat(self.root).st_mode):
            raise CheckpointError(f"range cache folder {self.root} is a symbolic link; give "
                                  "--range-cache a real folder")
        self._make_manifest()

    def _make_manifest(self) -> int:
        """Create the manifest of a new, empty or older (manifest-less) range cache folder.

        A folder an older mfa-engine made (the same layout, no manifest) is adopted: its mirrors
        are listed, logs without their mirror are deleted. Its old ranges carry no checksums, so
        they are fetched again when read (never trusted). Returns the mirrors adopted.

        Raises:
            CheckpointError: The folder holds anything else (named; nothing is changed).
        """
        mirrors, orphans = _legacy_files(self.root)
        if self._has_manifest():  # another process or thread made it meanwhile
            return 0
        tmp = self.root / f"{MANIFEST}.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.write_text(_MANIFEST_HEAD + "".join(m + "\n" for m in mirrors), encoding="utf-8")
        try:
            os.link(tmp, self.manifest)  # appears whole, once
        except FileExistsError:
            return 0
        finally:
            tmp.unlink(missing_ok=True)
        for log in orphans:
            log.unlink(missing_ok=True)
        return len(mirrors)

    def _has_manifest(self) -> bool:
        try:
            return stat.S_ISREG(os.lstat(self.manifest).st_mode)
        except OSError:
            return False

    def _list(self, rel: str) -> None:
        fd = os.open(self.manifest, os.O_WRONLY | os.O_APPEND | NOFOLLOW)
        try:
            os.write(fd, (rel + "\n").encode("utf-8"))
        finally:
            os.close(fd)

    def _listed(self) -> list[str]:
        """Relative paths the manifest lists ([] without a manifest: nothing is the cache's)."""
        try:
            fd = os.open(self.manifest, os.O_RDONLY | NOFOLLOW)
        except OSError:
            return []
        with os.fdopen(fd, "rb") as fh:
            text = fh.read().decode("utf-8", errors="replace")
        if not text.startswith(_MANIFEST_HEAD):
            return []
        lines = text[len(_MANIFEST_HEAD):].split("\n")
        if not text.endswith("\n"):
            lines = lines[:-1]
        return list(dict.fromkeys(line for line in lines if line))

    def mirror(self, repo_id: str, commit: str, filename: str, size: int) -> Mirror:
        """The mirror of ``filename`` at ``commit`` of ``repo_id`` (created if missing).

        Raises:
            CheckpointError: A bad key, or a root that is not this cache's own (an HF hub
                cache, a folder with other content, a symbolic link on the way).
        """
        if not re.fullmatch(r"[0-9a-fA-F]{7,64}", commit):
            raise CheckpointError(f"commit {commit!r} of {repo_id} is not a hash; cannot key the range cache")
        check_served_name(filename, f"the range cache key of {repo_id}")
        if filename.endswith(LOG_SUFFIX):
            raise CheckpointError(f"file name {filename!r} of {repo_id} ends in {LOG_SUFFIX}, "
                                  "the range cache's log suffix")
        self._claim()
        rel = Path(_repo_folder(repo_id)) / commit / filename
        m = Mirror(self.root / rel, size, filename, root=self.root)
        if m.created or rel.as_posix() not in self._listed():
            self._list(rel.as_posix())
        return m

    def _mirrors(self) -> list[Path]:
        return [p for p in (_owned_file(self.root, rel) for rel in self._listed()) if p is not None]

    def info(self) -> dict:
        """Size and content of the cache.

        Returns:
            ``{"root", "limit", "allocated_bytes", "held_bytes", "repos": {repo: {"commits",
            "files", "held_bytes"}}, "manifest"}`` (``manifest``: whether the root has one; a
            folder an older mfa-engine made has none until it is adopted).
        """
        repos: dict[str, dict] = {}
        allocated = held = 0
        for path in self._mirrors():
            rel = path.relative_to(self.root)
            repo = rel.parts[0].removeprefix("models--").replace("--", "/")
            m = Mirror.__new__(Mirror)  # read-only view: do not create or touch anything
            m.path, m.size = path, os.lstat(path).st_size
            m.log_path = path.with_name(path.name + LOG_SUFFIX)
            m._lock = threading.Lock()
            m._lock_fd = None
            n = sum(b - a for a, b in merge_ranges(m._load_log()))
            entry = repos.setdefault(repo, {"commits": set(), "files": 0, "held_bytes": 0})
            entry["commits"].add(rel.parts[1])
            entry["files"] += 1
            entry["held_bytes"] += n
            allocated += _allocated(path)
            held += n
        for entry in repos.values():
            entry["commits"] = len(entry["commits"])
        return {"root": str(self.root), "limit": self.limit, "allocated_bytes": allocated,
                "held_bytes": held, "repos": repos, "manifest": self._has_manifest()}

    def _delete(self, path: Path) -> int | None:
        """Delete one listed mirror and its log unless a process has it open; bytes freed."""
        try:
            fd = os.open(path, os.O_RDONLY | NOFOLLOW | CLOEXEC)
        except OSError:
            return None
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return None  # in use by a process
            size = _allocated(path)
            log = path.with_name(path.name + LOG_SUFFIX)
            if os.path.lexists(log) and not os.path.islink(log):
                log.unlink(missing_ok=True)  # log first
            path.unlink(missing_ok=True)
            return size
        finally:
            os.close(fd)

    def _prune(self, path: Path) -> None:
        """Remove the now empty folders between ``path`` and the root (never a link)."""
        cur = path.parent
        while cur != self.root and self.root in cur.parents:
            try:
                if not stat.S_ISDIR(os.lstat(cur).st_mode):
                    return
                cur.rmdir()
            except OSError:
                return
            cur = cur.parent

    def clear(self, repo_id: str | None = None) -> int:
        """Delete the cache's own files (or one repository's); returns the bytes freed.

        Only files the manifest lists are deleted, never through a symbolic link; files
        another process has open are kept; then the empty folders on their paths go.

        Raises:
            CheckpointError: The root is an HF hub cache or a folder with content and no
                manifest (nothing is deleted).
        """
        if not self.root.exists():
            return 0
        if not self._has_manifest():
            if not any(True for _ in self.root.iterdir()):
                return 0
            if not stat.S_ISDIR(os.lstat(self.root).st_mode) or _is_hf_hub_cache(self.root):
                raise CheckpointError(
                    f"{self.root} has no range cache manifest ({MANIFEST}): not a range cache made by "
                    "mfa-engine, nothing deleted (pass --range-cache the range cache folder)")
            self._make_manifest()  # an older mfa-engine's range cache: adopted, then cleared
        prefix = None if repo_id is None else _repo_folder(repo_id) + "/"
        freed = 0
        kept = []
        for rel in self._listed():
            if prefix is not None and not rel.startswith(prefix):
                kept.append(rel)
                continue
            path = _owned_file(self.root, rel)
            if path is None:
                continue  # gone, or not the cache's own any more (a link): forgotten
            n = self._delete(path)
            if n is None:
                kept.append(rel)
                continue
            freed += n
            self._prune(path)
        tmp = self.manifest.with_name(f"{MANIFEST}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(_MANIFEST_HEAD + "".join(r + "\n" for r in kept), encoding="utf-8")
        os.replace(tmp, self.manifest)
        return freed

    def evict(self, keep: Iterable[Path] = ()) -> int:
        """Delete least recently used mirrors until the cache is under its limit.

        Args:
            keep: Mirror files that must stay (the checkpoint in use).

        Returns:
            Bytes freed.
        """
        keep_set = {Path(p).absolute() for p in keep}
        entries = []
        for p in self._mirrors():
            try:
                entries.append((os.lstat(p).st_mtime, _allocated(p), p))
            except OSError:
                continue
        total = sum(e[1] for e in entries)
        freed = 0
        for _, size, path in sorted(entries):
            if total <= self.limit:
                break
            if path.absolute() in keep_set:
                continue
            n = self._delete(path)
            if n is None:
                continue
            total -= size
            freed += n
        return freed
