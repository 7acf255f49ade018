"""Output writing that never destroys what is at the path (every JSON/CSV/PNG writer uses it).

Rules (docs/architecture.md, "Output files"):

* A symlink is written through: the file it points to gets the new content, the link stays.
* A regular file (or a missing one) is replaced atomically: a temporary file in the same
  folder is written, flushed to disk and renamed over the target, so a crash leaves the old
  content or the new one, never a partial file. A new file gets the mode the umask gives
  (``0666 & ~umask``, like ``open()``); an overwritten file keeps its mode.
* A character device or a FIFO (``/dev/null``, a named pipe) is written into, never replaced.
  A directory, block device or socket is refused.

Every failure is an :class:`~mfa_engine.errors.OutputError` with a one-line message naming
the path and the reason.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mfa_engine.errors import OutputError

__all__ = ["atomic_write_text", "atomic_write_json", "write_bytes", "current_umask", "check_output_path",
           "input_files", "check_no_alias"]

#: Files walked under one input folder when collecting what outputs must not alias.
MAX_INPUT_FILES = 100_000


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _target(path: Path) -> tuple[Path, os.stat_result | None]:
    """The path writes go to (symlinks resolved) and its stat (None if it does not exist)."""
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        return target, os.stat(target)
    except FileNotFoundError:
        return target, None


def check_output_path(path: str | Path) -> Path:
    """Refuse an output path that can never be written as a file, before any work is done.

    Args:
        path: The output file name.

    Returns:
        ``path`` as a Path.

    Raises:
        OutputError: The path is a directory, block device or socket.
    """
    p = Path(path)
    try:
        _, st = _target(p)
    except OSError as exc:
        raise OutputError(f"cannot write {p}: {exc.strerror or exc}") from None
    if st is not None and not (stat.S_ISREG(st.st_mode) or stat.S_ISCHR(st.st_mode)
                               or stat.S_ISFIFO(st.st_mode)):
        raise OutputError(f"cannot write {p}: it is {_kind(st.st_mode)}; expected a file name")
    return p


def _write_into(target: Path, data: bytes) -> None:
    """Write into an existing character device or FIFO (never replaced)."""
    fd = os.open(target, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        os.set_blocking(fd, True)
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    finally:
        os.close(fd)


def _replace_atomically(target: Path, data: bytes, old: os.stat_result | None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            mode = stat.S_IMODE(old.st_mode) if old is not None else 0o666 & ~current_umask()
            os.fchmod(fh.fileno(), mode)
            if old is not None and (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
                try:  # keep the owner of a file we overwrite (possible as root only)
                    os.fchown(fh.fileno(), old.st_uid, old.st_gid)
                except OSError:
                    pass
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` following the module's rules.

    Args:
        path: Output file (a symlink is written through).
        data: The whole content.

    Returns:
        ``path`` as given (a Path).

    Raises:
        OutputError: The path is a directory, block device or socket, or the OS refused the
            write (permissions, full disk, a parent that is a file, ...).
    """
    p = Path(path)
    try:
        target, st = _target(p)
        if st is None or stat.S_ISREG(st.st_mode):
            _replace_atomically(target, data, st)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            _write_into(target, data)
        else:
            raise OutputError(f"cannot write {p}: it is {_kind(st.st_mode)}; expected a file name")
    except OSError as exc:
        if isinstance(exc, OutputError):
            raise
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENXIO:
            reason = "it is a FIFO with no reader"
        raise OutputError(f"cannot write {p}: {reason}") from None
    return p


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` following the module's rules (see :func:`write_bytes`)."""
    return write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, doc: Any) -> Path:
    """Write ``doc`` as indented JSON following the module's rules (see :func:`write_bytes`)."""
    return atomic_write_text(path, json.dumps(doc, indent=2) + "\n")


def input_files(path: str | Path, limit: int = MAX_INPUT_FILES) -> list[Path]:
    """The files an input path stands for: the file itself, or every file under a folder
    (symlinks kept as given; :func:`check_no_alias` resolves them). A missing path gives none.

    Args:
        path: An input file or folder (a checkpoint directory, an HF cache repository).
        limit: Stop after this many files (a folder that large is not a checkpoint).
    """
    p = Path(path).expanduser()
    if not p.is_dir():
        return [p] if os.path.lexists(p) else []
    found: list[Path] = []
    for root, dirs, files in os.walk(p):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            found.append(Path(root) / name)
            if len(found) >= limit:
                return found
    return found


def _identity(path: Path) -> tuple[str, tuple[int, int] | None, bool]:
    """(resolved path, (device, inode) when it exists, whether it is a regular file or missing)."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError:
        return real, None, True
    return real, (st.st_dev, st.st_ino), stat.S_ISREG(st.st_mode)


def check_no_alias(outputs: Sequence[tuple[str, str | Path]],
                   inputs: Iterable[tuple[str, str | Path]] = ()) -> None:
    """Refuse, before any work, an output that is one of the command's inputs or another output.

    Paths are compared resolved (symlinks followed) and, for existing files, by device and
    inode (hard links). Outputs that are character devices or FIFOs (``/dev/null``) may repeat.

    Args:
        outputs: ``(name, path)`` per output file; ``name`` is how the message names it
            (``"--json"``).
        inputs: ``(what, path)`` per file the command reads or keeps (checkpoint files, the
            results store); ``what`` describes it (``"a file of checkpoint CK"``).

    Raises:
        OutputError: The first clash found, naming both sides.
    """
    seen: dict[Any, tuple[str, str]] = {}
    for what, path in inputs:
        real, ident, _ = _identity(Path(path))
        for key in (real, ident):
            if key is not None:
                seen.setdefault(key, ("in", f"{what} ({path})"))
    for name, path in outputs:
        real, ident, regular = _identity(Path(path))
        if not regular:  # a device or FIFO: written into, never replaced
            continue
        for key in (real, ident):
            if key is None or key not in seen:
                continue
            kind, other = seen[key]
            if kind == "in":
                raise OutputError(f"{name} {path} is {other}; writing it would destroy an input; "
                                  "choose another output path")
            raise OutputError(f"{name} {path} and {other} name the same file; choose distinct output paths")
        for key in (real, ident):
            if key is not None:
                seen.setdefault(key, ("out", f"{name} {path}"))
