"""Header parsing and memory mapping of one ``.safetensors`` file (no safetensors library).

Layout of the format: an 8-byte little-endian unsigned header length ``N``, then ``N`` bytes
of UTF-8 JSON mapping each tensor name to ``{"dtype", "shape", "data_offsets": [begin, end]}``
(offsets relative to the first data byte at ``8 + N``), optionally ``"__metadata__"``, then
the raw little-endian tensor data.
"""

from __future__ import annotations

import json
import math
import mmap
import struct
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mfa_engine.checkpoints.dtypes import SAFETENSORS_DTYPES
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
    """A parsed safetensors file whose data is memory-mapped on first use.

    Args:
        path: the ``.safetensors`` file.

    Raises:
        CheckpointError: the file is missing, truncated, or its header is corrupt.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.entries: dict[str, TensorEntry] = {}
        self.metadata: dict[str, str] = {}
        self._mmap: np.ndarray | None = None
        self._map: mmap.mmap | None = None
        self._parse_header()

    def _parse_header(self) -> None:
        try:
            size = self.path.stat().st_size
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

    def _buffer(self) -> np.ndarray:
        """The whole file as a read-only uint8 array over a shared memory map."""
        if self._mmap is None:
            try:
                with open(self.path, "rb") as fh:
                    self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError) as exc:
                raise CheckpointError(f"cannot memory-map {self.path}: {exc}") from None
            # sparse row reads: no read-around beyond the pages a row needs
            self._advise(getattr(mmap, "MADV_RANDOM", None), 0, len(self._map))
            self._mmap = np.frombuffer(self._map, dtype=np.uint8)
        return self._mmap

    def _advise(self, flag: int | None, begin: int, end: int) -> None:
        if flag is None or self._map is None or end <= begin:
            return
        start = begin - begin % mmap.PAGESIZE
        try:
            self._map.madvise(flag, start, end - start)
        except (OSError, ValueError, AttributeError):  # advice only; never fatal
            pass

    def raw(self, key: str) -> np.ndarray:
        """Memory-mapped view of a tensor's stored values (no data is read yet).

        Args:
            key: tensor name present in :attr:`entries`.

        Returns:
            Read-only array of the tensor's shape in its storage dtype (``uint16`` bit
            patterns for bfloat16).
        """
        entry = self.entries[key]
        storage = SAFETENSORS_DTYPES[entry.code][1]
        if entry.end == entry.begin:
            return np.zeros(entry.shape, dtype=storage)
        buf = self._buffer()[entry.begin : entry.end]
        return buf.view(storage).reshape(entry.shape)

    def prefetch(self, key: str) -> None:
        """Hint that all of tensor ``key`` is about to be read (sequential read-ahead)."""
        entry = self.entries[key]
        self._advise(getattr(mmap, "MADV_WILLNEED", None), entry.begin, entry.end)

    def release(self, key: str) -> None:
        """Unmap the resident pages of tensor ``key`` from this process.

        The pages stay in the OS page cache (and views stay valid: they fault back in from
        the file), but they no longer count towards this process's resident set. Without
        this, kernels that map whole large folios on a fault make a sparse row read show up
        as the whole tensor in RSS.
        """
        entry = self.entries[key]
        self._advise(getattr(mmap, "MADV_DONTNEED", None), entry.begin, entry.end)

    def close(self) -> None:
        """Drop the memory map (views handed out earlier keep it alive until released)."""
        self._mmap = None
        self._map = None
