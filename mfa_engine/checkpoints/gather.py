"""Row and block gathers from a weight file's tensors (positioned reads) into float32, chunked to
bound memory."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mfa_engine.checkpoints.dtypes import to_float32
from mfa_engine.errors import CheckpointError

__all__ = ["as_index", "gather_all", "gather_rows", "gather_block", "CHUNK_BYTES"]

# Upper bound on the raw bytes gathered per step (keeps temporaries small for huge reads).
CHUNK_BYTES = 16 * 1024 * 1024

IndexLike = Sequence[int] | np.ndarray


def as_index(idx: IndexLike, bound: int, what: str) -> np.ndarray:
    """Validate an index vector.

    Args:
        idx: 1-D integer indices.
        bound: exclusive upper bound (the axis length).
        what: description for error messages, e.g. ``"rows of tensor 'w'"``.

    Returns:
        int64 array [n].

    Raises:
        CheckpointError: not 1-D integers, or an index outside ``[0, bound)``.
    """
    arr = np.asarray(idx)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise CheckpointError(
            f"{what}: expected a 1-D integer index, got dtype {arr.dtype} shape {arr.shape}"
        )
    arr = arr.astype(np.int64, copy=False)
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi >= bound:
        bad = lo if lo < 0 else hi
        raise CheckpointError(f"{what}: index {bad} out of range, expected 0 <= index < {bound}")
    return arr


def _sorted_unique(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Sorted unique indices and the inverse map (None when ``idx`` is already sorted unique)."""
    if idx.size <= 1 or bool(np.all(idx[1:] > idx[:-1])):
        return idx, None
    uniq, inverse = np.unique(idx, return_inverse=True)
    return uniq, inverse.reshape(-1)


def gather_all(raw: np.ndarray, dtype: str) -> np.ndarray:
    """Convert a whole stored tensor to float32, row chunk by row chunk.

    Args:
        raw: stored array of any shape.
        dtype: canonical dtype name of ``raw``.

    Returns:
        float32 array of ``raw.shape``.
    """
    if raw.ndim == 0:
        return to_float32(raw.reshape(1), dtype).reshape(())
    out = np.empty(raw.shape, dtype=np.float32)
    row_bytes = max(1, math.prod(raw.shape[1:]) * raw.itemsize)
    step = max(1, CHUNK_BYTES // row_bytes)
    for start in range(0, raw.shape[0], step):
        out[start : start + step] = to_float32(raw[start : start + step], dtype)
    return out


def gather_rows(raw: np.ndarray, rows: np.ndarray, dtype: str) -> np.ndarray:
    """Gather rows (first-axis entries) of a stored tensor as float32.

    Only the pages holding the requested rows are touched: indices are sorted and
    de-duplicated before the fancy index, then the caller's order is restored.

    Args:
        raw: stored array [n, ...].
        rows: validated int64 indices [k].
        dtype: canonical dtype name of ``raw``.

    Returns:
        float32 array [k, ...].
    """
    uniq, inverse = _sorted_unique(rows)
    out = np.empty((uniq.size, *raw.shape[1:]), dtype=np.float32)
    row_bytes = max(1, math.prod(raw.shape[1:]) * raw.itemsize)
    step = max(1, CHUNK_BYTES // row_bytes)
    for start in range(0, uniq.size, step):
        out[start : start + step] = to_float32(raw[uniq[start : start + step]], dtype)
    return out if inverse is None else out[inverse]


def gather_block(raw: np.ndarray, rows: np.ndarray, cols: np.ndarray, dtype: str) -> np.ndarray:
    """Gather the sub-matrix ``raw[rows][:, cols]`` of a stored 2-D tensor as float32.

    Args:
        raw: stored array [n, m].
        rows: validated int64 row indices [k].
        cols: validated int64 column indices [l].
        dtype: canonical dtype name of ``raw``.

    Returns:
        float32 array [k, l].
    """
    urows, rinv = _sorted_unique(rows)
    ucols, cinv = _sorted_unique(cols)
    out = np.empty((urows.size, ucols.size), dtype=np.float32)
    if urows.size and ucols.size:
        step = max(1, CHUNK_BYTES // max(1, ucols.size * raw.itemsize))
        for start in range(0, urows.size, step):
            chunk = urows[start : start + step]
            out[start : start + step] = to_float32(raw[np.ix_(chunk, ucols)], dtype)
    if rinv is not None:
        out = out[rinv]
    if cinv is not None:
        out = out[:, cinv]
    return out
