"""One checked gate for file names that come from outside: the Hub's file list (``siblings``), an
index file's ``weight_map``, an HF cache's ``refs`` files. Every such name is checked here before it
becomes a path (a range-cache mirror, an HF cache download, a shard of a local folder).

A served name must be a plain relative path that stays inside the checkpoint folder:

- a non-empty string, at most :data:`MAX_NAME_BYTES` bytes (UTF-8) and :data:`MAX_PART_BYTES`
  bytes per part (the file systems' ``NAME_MAX``);
- no NUL byte, no control character (C0, DEL, C1), no backslash, valid UTF-8 (no lone surrogate);
- not absolute, and no part that is empty (``a//b``, a trailing ``/``), ``.`` or ``..``.

Anything else is refused with a one-line :class:`~mfa_engine.errors.CheckpointError` naming the
name (as a Python literal, so a NUL or escape sequence is shown, never sent to the terminal) and
where it came from.
"""

from __future__ import annotations

import re

from mfa_engine.errors import CheckpointError

__all__ = ["MAX_NAME_BYTES", "MAX_PART_BYTES", "served_name_problem", "check_served_name"]

#: Longest served name in bytes (UTF-8).
MAX_NAME_BYTES = 1024
#: Longest part of a served name in bytes (UTF-8; ``NAME_MAX`` of common file systems).
MAX_PART_BYTES = 255

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def served_name_problem(name: object, *, single: bool = False) -> str | None:
    """Why ``name`` cannot be used as a relative path inside a checkpoint folder (None: it can).

    Args:
        name: The name as served (any JSON value).
        single: The name must be one path part (no ``/``), e.g. a commit from a ``refs`` file.

    Returns:
        A short reason ("contains a NUL byte", ...) or None.
    """
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not a string"
    if not name:
        return "is empty"
    if "\x00" in name:
        return "contains a NUL byte"
    if _CONTROL.search(name):
        return "contains a control character"
    if "\\" in name:
        return "contains a backslash"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid UTF-8 (a lone surrogate)"
    if size > MAX_NAME_BYTES:
        return f"is {size} bytes long, above the limit of {MAX_NAME_BYTES}"
    if name.startswith("/"):
        return "is an absolute path"
    parts = name.split("/")
    if single and len(parts) > 1:
        return "contains a /"
    for part in parts:
        if part in ("", ".", ".."):
            return f"has a part {part!r}" if part else "has an empty part (// or a trailing /)"
        if len(part.encode("utf-8")) > MAX_PART_BYTES:
            return f"has a part of {len(part.encode('utf-8'))} bytes, above the limit of {MAX_PART_BYTES}"
    return None


def check_served_name(name: object, what: str, *, single: bool = False) -> str:
    """Return ``name`` if it is a safe relative path (see the module docstring), else refuse it.

    Args:
        name: The name as served.
        what: Where it came from, for the message (``"model.safetensors.index.json of Org/A@main"``).
        single: One path part only.

    Returns:
        ``name`` unchanged.

    Raises:
        CheckpointError: One line naming the file (as a Python literal), the reason and ``what``.
    """
    problem = served_name_problem(name, single=single)
    if problem is not None:
        shown = repr(name) if len(repr(name)) <= 200 else repr(name)[:120] + "...'"
        raise CheckpointError(f"file name {shown} from {what} {problem}; refused (a file name must be a "
                              "plain relative path inside the checkpoint folder)")
    return name  # type: ignore[return-value]
