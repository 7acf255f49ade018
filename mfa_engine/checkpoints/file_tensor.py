"""A tensor of a weight file read with positioned reads (``os.preadv``), never memory-mapped.

A memory-mapped file that shrinks while it is read kills the process with SIGBUS; positioned
reads instead return fewer bytes, which becomes a :class:`~mfa_engine.errors.CheckpointError`
for that checkpoint. Only the bytes of the requested rows (and, for 2-D blocks, the span of the
requested columns) are read, so sampled reads stay cheap in time and memory.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mfa_engine.errors import CheckpointError

__all__ = ["FileTensor", "read_exact"]

# Upper bound of the raw bytes one positioned read brings in for a block gather.
_SPAN_BYTES = 16 * 1024 * 1024
# Rows closer than this many bytes are read with one positioned read (the gap is read too:
# cheaper than another system call).
_GAP_BYTES = 16 * 1024


def read_exact(fd: int, offset: int, nbytes: int, path: Path) -> np.ndarray:
    """Read exactly ``nbytes`` at ``offset`` into a new uint8 array.

    Raises:
        CheckpointError: The file ends early (it changed or was truncated while being read)
            or the OS refused the read.
    """
    buf = np.empty(nbytes, dtype=np.uint8)
    _read_into(fd, offset, buf, path)
    return buf


class FileTensor:
    """Array-like view of one stored tensor; indexing reads the needed bytes from the file.

    Supports what the gathers use: ``t[a:b]`` (rows), ``t[idx]`` (rows by an int array),
    ``t[np.ix_(rows, cols)]`` (2-D block), ``np.asarray(t)`` and ``t.reshape(...)`` (whole).

    Args:
        fd: Returns the open file descriptor (checked against the parsed file on each call).
        path: File name for messages.
        begin: Absolute offset of the first data byte.
        shape: Tensor shape.
        dtype: NumPy storage dtype.
    """

    def __init__(self, fd: Callable[[], int], path: Path, begin: int, shape: tuple[int, ...],
                 dtype: np.dtype) -> None:
        self._fd = fd
        self.path = path
        self.begin = begin
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.itemsize = self.dtype.itemsize
        self.ndim = len(self.shape)
        self.size = math.prod(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def _row_items(self) -> int:
        return math.prod(self.shape[1:])

    def _read(self, item_offset: int, n_items: int) -> np.ndarray:
        raw = read_exact(self._fd(), self.begin + item_offset * self.itemsize, n_items * self.itemsize,
                         self.path)
        return raw.view(self.dtype)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self._read(0, self.size).reshape(self.shape)
        return out if dtype is None else out.astype(dtype)

    def read_into(self, buf: np.ndarray) -> np.ndarray:
        """The whole tensor read into ``buf`` (contiguous uint8 of at least its bytes, e.g. a
        buffer reused from tensor to tensor: no fresh pages); returns a view of ``buf``."""
        nbytes = self.size * self.itemsize
        if buf.dtype != np.uint8 or buf.ndim != 1 or buf.size < nbytes or not buf.flags.c_contiguous:
            raise ValueError(f"read_into needs a contiguous 1-D uint8 buffer of >= {nbytes} bytes, got {buf.dtype} {buf.shape}")
        _read_into(self._fd(), self.begin, buf[:nbytes], self.path)
        return buf[:nbytes].view(self.dtype).reshape(self.shape)

    def reshape(self, *shape: Any) -> np.ndarray:
        """The whole tensor, read and reshaped."""
        return np.asarray(self).reshape(*shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            if step != 1:
                return self._rows(np.arange(start, stop, step, dtype=np.int64))
            n = max(0, stop - start)
            m = self._row_items
            return self._read(start * m, n * m).reshape((n, *self.shape[1:]))
        if isinstance(key, tuple) and len(key) == 2 and self.ndim == 2:
            rows = np.asarray(key[0], dtype=np.int64).reshape(-1)
            cols = np.asarray(key[1], dtype=np.int64).reshape(-1)
            return self._block(rows, cols)
        if isinstance(key, tuple):
            raise TypeError(f"FileTensor supports row and 2-D block indexing, got {key!r}")
        return self._rows(np.asarray(key, dtype=np.int64).reshape(-1))

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        m = self._row_items
        return self._block_span(rows, 0, m).reshape((rows.size, *self.shape[1:]))

    def _block(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        if rows.size == 0 or cols.size == 0:
            return np.empty((rows.size, cols.size), dtype=self.dtype)
        c0, c1 = int(cols.min()), int(cols.max()) + 1
        return self._block_span(rows, c0, c1)[:, cols - c0]

    def _block_span(self, rows: np.ndarray, c0: int, c1: int) -> np.ndarray:
        """``tensor[rows][:, c0:c1]`` in storage dtype (rows as a 2-D [n, m] view)."""
        m = self._row_items
        span = c1 - c0
        out = np.empty((rows.size, span), dtype=self.dtype)
        if rows.size == 0 or span == 0:
            return out
        order = np.argsort(rows, kind="stable")
        srt = rows[order]
        # runs of close rows are read with one positioned read each, bounded so that one read
        # brings in at most about _SPAN_BYTES; a lone row is read straight into its output row
        row_bytes = max(1, m * self.itemsize)
        max_rows = max(1, _SPAN_BYTES // row_bytes)
        gap_rows = _GAP_BYTES // row_bytes + 1
        breaks = np.flatnonzero(np.diff(srt) > gap_rows) + 1
        starts = np.concatenate(([0], breaks)).tolist()
        ends = np.concatenate((breaks, [srt.size])).tolist()
        fd, path = self._fd(), self.path
        srt_list = srt.tolist()
        for a, b in zip(starts, ends):
            if b - a == 1:
                dst = out[int(order[a])]
                _read_into(fd, self.begin + (srt_list[a] * m + c0) * self.itemsize, dst, path)
                continue
            lo = a
            while lo < b:
                # rows srt[lo:hi] lie within max_rows of srt[lo]
                hi = lo + int(np.searchsorted(srt[lo:b], srt[lo] + max_rows, side="left"))
                hi = max(hi, lo + 1)
                r0, r1 = srt_list[lo], srt_list[hi - 1]
                flat = self._read(r0 * m + c0, (r1 - r0) * m + span)
                view = np.lib.stride_tricks.as_strided(
                    flat, shape=(r1 - r0 + 1, span), strides=(row_bytes, self.itemsize),
                    writeable=False)
                out[order[lo:hi]] = view[srt[lo:hi] - r0]
                lo = hi
        return out


def _read_into(fd: int, offset: int, dst: np.ndarray, path: Path) -> None:
    """Fill the contiguous array ``dst`` with the bytes at ``offset`` (see :func:`read_exact`)."""
    view = memoryview(dst).cast("B")
    nbytes = len(view)
    got = 0
    try:
        while got < nbytes:
            n = os.preadv(fd, [view[got:]], offset + got)
            if n == 0:
                break
            got += n
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from None
    if got < nbytes:
        raise CheckpointError(
            f"{path} changed or was truncated while being read: expected {nbytes} bytes at "
            f"offset {offset}, the file ends after {got}"
        )
