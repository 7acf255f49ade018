"""Checked reading of a checkpoint's JSON files (``config.json``, ``*.index.json``): size,
nesting depth and integer length are limited, and every failure is one line naming the file
(and, for an over-long integer, the field)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from mfa_engine.errors import CheckpointError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_INT_DIGITS", "nesting_depth", "read_json"]

#: Largest JSON file read (an index of a very large model is a few MB).
MAX_BYTES = 64 << 20
#: Deepest nesting of arrays and objects (Hugging Face configs nest a few levels).
MAX_DEPTH = 64
#: Longest integer literal (Python refuses to parse more than 4300 digits).
MAX_INT_DIGITS = 100

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def nesting_depth(raw: bytes) -> int:
    """Deepest nesting of ``[`` and ``{`` in JSON text (brackets inside strings ignored), without
    parsing it (no recursion)."""
    a = np.frombuffer(_STRING.sub(b'""', raw), np.uint8)
    step = np.isin(a, (ord("["), ord("{"))).astype(np.int64) - np.isin(a, (ord("]"), ord("}")))
    return int(np.cumsum(step).max()) if step.size else 0


class _LongInt:
    """Placeholder of an integer literal longer than :data:`MAX_INT_DIGITS` (found after parsing)."""

    def __init__(self, digits: int) -> None:
        self.digits = digits


def _parse_int(text: str) -> int | _LongInt:
    return int(text) if len(text.lstrip("-")) <= MAX_INT_DIGITS else _LongInt(len(text.lstrip("-")))


def _long_int(obj: Any, where: str) -> tuple[str, int] | None:
    """The path and digit count of the first over-long integer in a parsed document."""
    if isinstance(obj, _LongInt):
        return where, obj.digits
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        found = _long_int(value, f"{where}.{key}" if isinstance(key, str) and where else
                          str(key) if isinstance(key, str) else f"{where}[{key}]")
        if found is not None:
            return found
    return None


def read_json(path: Path, what: str, *, max_bytes: int | None = None, max_depth: int = MAX_DEPTH) -> Any:
    """Parse a JSON file with size, depth and integer-length limits.

    Args:
        path: The file.
        what: What it is, for messages (``"config"``, ``"index file"``).
        max_bytes: Size limit (default :data:`MAX_BYTES`).
        max_depth: Nesting limit of arrays and objects.

    Returns:
        The parsed document.

    Raises:
        CheckpointError: unreadable, too large, not UTF-8 JSON, nested too deeply, or holding an
            integer of more than :data:`MAX_INT_DIGITS` digits (the field is named).
    """
    limit = MAX_BYTES if max_bytes is None else max_bytes
    try:
        with open(path, "rb") as f:
            raw = f.read(limit + 1)
    except OSError as exc:
        raise CheckpointError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise CheckpointError(f"{what} {path} is larger than {limit} bytes; expected a small JSON file")
    depth = nesting_depth(raw)
    if depth > max_depth:
        raise CheckpointError(f"{what} {path} nests arrays/objects {depth} deep; expected at most {max_depth}")
    try:
        doc = json.loads(raw.decode("utf-8"), parse_int=_parse_int)
    except UnicodeDecodeError as exc:
        raise CheckpointError(f"{what} {path} is not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{what} {path} is not valid JSON: {exc}") from None
    except (RecursionError, ValueError) as exc:  # e.g. a float literal Python cannot hold
        raise CheckpointError(f"{what} {path} cannot be parsed ({type(exc).__name__})") from None
    found = _long_int(doc, "")
    if found is not None:
        field, digits = found
        raise CheckpointError(f"{what} {path}: field {field or '(top level)'!r} is an integer of {digits} digits; "
                              f"expected at most {MAX_INT_DIGITS}")
    return doc
