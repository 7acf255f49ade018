"""Header parsing and positioned reads of one ``.safetensors`` file (no safetensors library).

Layout of the format: an 8-byte little-endian unsigned header length ``N``, then ``N`` bytes
of UTF-8 JSON mapping each tensor name to ``{"dtype", "shape", "data_offsets": [begin, end]}``
(offsets relative to the first data byte at ``8 + N``), optionally ``"__metadata__"``, then
the raw little-endian tensor data.

Every header is validated before use: known dtypes, non-negative integer shapes, offsets whose
span matches dtype and shape, inside the file, and not overlapping another tensor's bytes.
Data is read with positioned reads (:mod:`mfa_engine.checkpoints.file_tensor`), never through
a memory map, so a file that shrinks while it is read gives a CheckpointError, not SIGBUS.
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mfa_engine.checkpoints.dtypes import SAFETENSORS_DTYPES
from mfa_engine.checkpoints.file_tensor import FileTensor
from mfa_engine.errors import CheckpointError

__all__ = ["TensorEntry", "SafetensorsFile", "MAX_HEADER_BYTES"]

# The reference implementation refuses headers above 100 MB; a larger length means corruption.
MAX_HEADER_BYTES = 100_000_000


class TensorEntry(NamedTuple):
    """Location and type of one tensor inside a safetensors file.

    Attributes:
        code: safetensors dtype code (``"F32"``, ``"BF16"``, ...).
        dtype: canonical dtype name (``"float32"``, ``"bfloat16"``, ...).
        shape: tensor shape.
        begin: absolute byte offset of the first data byte in the file.
        end: absolute byte offset one past the last data byte.
    """

    code: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


class SafetensorsFile:
    """A parsed safetensors file whose data is read on demand with positioned reads.

    Args:
        path: the ``.safetensors`` file.

    Raises:
        CheckpointError: the file is missing, truncated, or its header is corrupt.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.entries: dict[str, TensorEntry] = {}
        self.metadata: dict[str, str] = {}
        self._fd: int | None = None
        self._identity: tuple[int, int, int] | None = None
        self._parse_header()

    def _parse_header(self) -> None:
        try:
            st = self.path.stat()
            size = st.st_size
            self._identity = (st.st_dev, st.st_ino, size)
            with open(self.path, "rb") as fh:
                head = fh.read(8)
                if len(head) < 8:
                    raise CheckpointError(
                        f"{self.path} is truncated: {size} bytes, expected at least the 8-byte "
                        "header length"
                    )
                (n_header,) = struct.unpack("<Q", head)
                if n_header > MAX_HEADER_BYTES:
                    raise CheckpointError(
                        f"{self.path} has a corrupt header: header length {n_header} bytes is "
                        f"implausible (expected at most {MAX_HEADER_BYTES})"
                    )
                if 8 + n_header > size:
                    raise CheckpointError(
                        f"{self.path} is truncated: header says {n_header} bytes of header JSON, "
                        f"file has {size - 8} bytes after the length field"
                    )
                raw = fh.read(n_header)
        except OSError as exc:
            raise CheckpointError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        try:
            header = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(
                f"{self.path} has a corrupt header: not valid JSON ({exc}); expected a "
                "safetensors file"
            ) from None
        if not isinstance(header, dict):
            raise CheckpointError(
                f"{self.path} has a corrupt header: JSON is a {type(header).__name__}, "
                "expected an object mapping tensor names to entries"
            )
        data_start = 8 + n_header
        data_size = size - data_start
        max_end = 0
        for key, info in header.items():
            if key == "__metadata__":
                if isinstance(info, dict):
                    self.metadata = {str(k): str(v) for k, v in info.items()}
                continue
            entry = self._parse_entry(key, info, data_start)
            max_end = max(max_end, entry.end - data_start)
            self.entries[key] = entry
        if max_end > data_size:
            raise CheckpointError(
                f"{self.path} is truncated: header says {max_end} bytes of data, "
                f"file has {data_size}"
            )
        self._check_overlaps(data_start)

    def _check_overlaps(self, data_start: int) -> None:
        """Refuse two tensors whose data bytes overlap (empty tensors occupy no bytes)."""
        spans = sorted((e.begin, e.end, k) for k, e in self.entries.items() if e.end > e.begin)
        for (b0, e0, k0), (b1, e1, k1) in zip(spans, spans[1:]):
            if b1 < e0:
                raise CheckpointError(
                    f"{self.path} has a corrupt header: tensors {k0!r} [{b0 - data_start}, "
                    f"{e0 - data_start}) and {k1!r} [{b1 - data_start}, {e1 - data_start}) "
                    "overlap; expected disjoint data_offsets"
                )

    def _parse_entry(self, key: str, info: object, data_start: int) -> TensorEntry:
        where = f"tensor {key!r} in {self.path}"
        if not isinstance(info, dict):
            raise CheckpointError(f"{where}: corrupt header entry {info!r}, expected an object")
        code = info.get("dtype")
        if code not in SAFETENSORS_DTYPES:
            raise CheckpointError(
                f"{where}: unsupported dtype {code!r}, expected one of "
                f"{', '.join(SAFETENSORS_DTYPES)}"
            )
        shape = info.get("shape")
        offsets = info.get("data_offsets")
        if not (
            isinstance(shape, list)
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)
        ):
            raise CheckpointError(f"{where}: corrupt shape {shape!r}, expected non-negative ints")
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            and 0 <= offsets[0] <= offsets[1]
        ):
            raise CheckpointError(
                f"{where}: corrupt data_offsets {offsets!r}, expected [begin, end] with "
                "0 <= begin <= end"
            )
        dtype_name, storage = SAFETENSORS_DTYPES[code]
        expected = math.prod(shape) * storage.itemsize
        if offsets[1] - offsets[0] != expected:
            raise CheckpointError(
                f"{where}: data_offsets span {offsets[1] - offsets[0]} bytes, expected "
                f"{expected} for {code} shape {tuple(shape)}"
            )
        return TensorEntry(
            code, dtype_name, tuple(shape), data_start + offsets[0], data_start + offsets[1]
        )

    def _descriptor(self) -> int:
        """The open file, checked to be the file whose header was parsed."""
        if self._fd is None:
            try:
                fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            except OSError as exc:
                raise CheckpointError(f"cannot read {self.path}: {exc.strerror or exc}") from None
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino, st.st_size) != self._identity:
                os.close(fd)
                raise CheckpointError(
                    f"{self.path} changed or was truncated while being read (now {st.st_size} "
                    f"bytes, {self._identity[2] if self._identity else '?'} when its header was "
                    "read); expected an unchanged file"
                )
            self._fd = fd
        return self._fd

    def raw(self, key: str) -> FileTensor | np.ndarray:
        """Lazy view of a tensor's stored values (nothing is read until it is indexed).

        Args:
            key: tensor name present in :attr:`entries`.

        Returns:
            A :class:`FileTensor` of the tensor's shape in its storage dtype (``uint16`` bit
            patterns for bfloat16); indexing it reads the bytes needed.
        """
        entry = self.entries[key]
        storage = SAFETENSORS_DTYPES[entry.code][1]
        if entry.end == entry.begin:
            return np.zeros(entry.shape, dtype=storage)
        return FileTensor(self._descriptor, self.path, entry.begin, entry.shape, storage)

    def prefetch(self, key: str) -> None:
        """Hint that all of tensor ``key`` is about to be read (sequential read-ahead)."""
        entry = self.entries[key]
        advise = getattr(os, "posix_fadvise", None)
        if advise is None or entry.end <= entry.begin:
            return
        try:
            advise(self._descriptor(), entry.begin, entry.end - entry.begin, os.POSIX_FADV_WILLNEED)
        except (OSError, CheckpointError):  # advice only; never fatal
            pass

    def release(self, key: str) -> None:
        """Nothing to release: positioned reads map no file pages into this process."""

    def close(self) -> None:
        """Close the file (it is reopened, and checked unchanged, on the next read)."""
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_fd"] = None
        return state

    def __del__(self) -> None:
        self.close()
