"""Writing a command's outputs after its work is done: each output is tried, a failure is one
``error:`` line naming that output, and results already computed are never thrown away."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["OutputWriter", "write_json_stdout", "silence_stdout", "checkpoint_inputs", "store_inputs"]


def checkpoint_inputs(path: str, revision: str | None = None) -> list[tuple[str, Path]]:
    """``(what, file)`` for every local file a checkpoint argument may read (for
    :func:`mfa_engine.io.check_no_alias`): the files under a checkpoint folder, or under the HF
    cache repository of a cached repo id; none for a checkpoint only on the Hub."""
    from mfa_engine.checkpoints.locate import cache_repo_for
    from mfa_engine.io import input_files

    p = Path(path).expanduser()
    if not os.path.lexists(p) and "@" in path:
        p = Path(path.rsplit("@", 1)[0]).expanduser()
    if not os.path.lexists(p):
        try:
            repo = cache_repo_for(p, None)
        except OSError:
            repo = None
        if repo is None:
            return []
        p = repo
    return [(f"a file of checkpoint {path}", f) for f in input_files(p)]


def store_inputs(store: str | Path) -> list[tuple[str, Path]]:
    """``(what, file)`` for the files of a results store (the database and its WAL files)."""
    from mfa_engine.batch.store import STORE_FILE

    base = Path(store) / STORE_FILE
    return [(f"a file of the results store {store}", base.with_name(base.name + suffix))
            for suffix in ("", "-wal", "-shm", "-journal")]


def silence_stdout() -> None:
    """Point file descriptor 1 at /dev/null (after a broken pipe or a full device), so that
    the interpreter's final flush of ``sys.stdout`` cannot fail again."""
    if sys.stdout is None:  # started with fd 1 closed: nothing to silence
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def write_json_stdout(doc: Any) -> None:
    """Write ``doc`` as indented JSON to stdout and flush.

    Raises:
        OutputError: stdout is closed, a broken pipe or a full device.
    """
    from mfa_engine.errors import OutputError

    if sys.stdout is None:  # the process was started with file descriptor 1 closed
        raise OutputError("cannot write the JSON document to stdout: stdout is closed")
    try:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        sys.stdout.flush()
    except (OSError, ValueError) as exc:
        silence_stdout()
        reason = getattr(exc, "strerror", None) or str(exc)
        raise OutputError(f"cannot write the JSON document to stdout: {reason}") from None


class OutputWriter:
    """Runs output steps one by one; a failed step prints ``error: <message>`` and the rest go on.

    Args:
        command: Command name, used in the name of the rescue file.
        data_on_stdout: stdout carries a document (``--json -``): progress lines go to stderr.
    """

    def __init__(self, command: str, data_on_stdout: bool = False) -> None:
        self.command = command
        self.failed = 0
        self.data_on_stdout = data_on_stdout

    def run(self, step: Callable[[], Any], announce: Callable[[Any], str] | None = None,
            what: str = "an output") -> Any:
        """Run one output step; returns its value, or None if it failed (reported on stderr).

        Args:
            step: Writes the output and returns what ``announce`` formats.
            announce: Formats the ``wrote ...`` line printed after success.
            what: Names the output in the message of a raw OS error.
        """
        from mfa_engine.errors import MFAError

        try:
            value = step()
        except (MFAError, OSError, ValueError) as exc:
            if not isinstance(exc, MFAError) and isinstance(exc, ValueError):
                if "closed file" not in str(exc):
                    raise
            if isinstance(exc, (BrokenPipeError, ValueError)):
                silence_stdout()
            self.failed += 1
            if isinstance(exc, MFAError):
                msg = str(exc)
            else:
                msg = f"cannot write {what}: {getattr(exc, 'strerror', None) or exc}"
            print(f"error: {msg}", file=sys.stderr)
            return None
        if announce is not None:
            self.say(announce(value))
        return value

    def say(self, line: str) -> None:
        """Print a progress line to stdout, or stderr when stdout carries a document (silently
        dropped if the stream is gone)."""
        try:
            print(line, flush=True, file=sys.stderr if self.data_on_stdout else sys.stdout)
        except (OSError, ValueError):
            silence_stdout()

    def rescue(self, doc: Any) -> Path | None:
        """Keep a computed document whose requested output failed: write it to a new file in
        the temporary directory and say where (on stderr)."""
        from mfa_engine.io import atomic_write_json

        try:
            fd, name = tempfile.mkstemp(prefix=f"mfa-{self.command}-", suffix=".json")
            os.close(fd)
            path = atomic_write_json(name, doc)
        except (OSError, ValueError):
            return None
        print(f"note: the {self.command} result was kept in {path}", file=sys.stderr)
        return path

    @property
    def code(self) -> int:
        """Exit code: 2 if an output failed, else 0."""
        return 2 if self.failed else 0
