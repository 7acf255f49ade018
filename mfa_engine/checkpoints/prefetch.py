"""One streamed read of a checkpoint for all samples and modes of a batch task.

The analysis reads weights through ``ckpt.read_block(name, rows, cols)``: paper mode once per
seed and weight (``build_nin`` -> ``adapter.edge_weights``), reference mode once per weight for
all its seeds. :func:`prefetch_checkpoint` first replays those reads against a recorder (the
sampling is cheap and needs no weights), then reads every tensor **once** (the union of the
rows and columns asked for, in row chunks of bounded size) and keeps only the sub-blocks that
were asked for. The analysis then runs against :class:`PrefetchedCheckpoint`, which serves each
recorded request from memory and drops it once served. Memory is the sum of the requested
sub-blocks (about 1 MB per paper sample of a 2.8B model), plus one row chunk in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mfa_engine.limits import setting

__all__ = ["RecordingCheckpoint", "PrefetchedCheckpoint", "prefetch_checkpoint", "record_requests"]

#: Maximum bytes of requested sub-blocks kept in memory (else reads are not prefetched).
DEFAULT_BUDGET = 512 << 20
#: Bytes of one union row chunk read at a time.
_CHUNK_BYTES = 32 << 20

Request = tuple[str, np.ndarray, np.ndarray]


def _key(name: str, rows: np.ndarray, cols: np.ndarray) -> tuple[str, bytes, bytes]:
    return (name, rows.tobytes(), cols.tobytes())


def _idx(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.int64).reshape(-1)


class _Proxy:
    """Forwards everything except the reads to the wrapped checkpoint."""

    def __init__(self, ckpt: Any) -> None:
        self._ckpt = ckpt

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ckpt, name)

    def __contains__(self, name: object) -> bool:
        return name in self._ckpt

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class RecordingCheckpoint(_Proxy):
    """Stands in for a checkpoint in the planning pass: records ``read_block`` calls, returns zeros.

    Attributes:
        requests: ``(name, rows int64 [k], cols int64 [l])`` in call order.
    """

    def __init__(self, ckpt: Any) -> None:
        super().__init__(ckpt)
        self.requests: list[Request] = []

    def read_block(self, name: str, rows: Any, cols: Any) -> np.ndarray:
        """Record the request; returns float32 zeros ``[len(rows), len(cols)]``."""
        r, c = _idx(rows), _idx(cols)
        self.requests.append((name, r, c))
        return np.zeros((r.size, c.size), dtype=np.float32)


class PrefetchedCheckpoint(_Proxy):
    """A checkpoint whose recorded ``read_block`` requests are served from memory.

    A request not recorded falls through to the wrapped checkpoint (counted in ``misses``).

    Attributes:
        hits: Requests served from memory.
        misses: Requests read from the checkpoint.
        cached_bytes: Bytes of sub-blocks currently held.
    """

    def __init__(self, ckpt: Any, blocks: dict[tuple[str, bytes, bytes], list[Any]]) -> None:
        super().__init__(ckpt)
        self._blocks = blocks
        self.hits = 0
        self.misses = 0

    @property
    def cached_bytes(self) -> int:
        return int(sum(v[0].nbytes for v in self._blocks.values()))

    def read_block(self, name: str, rows: Any, cols: Any) -> np.ndarray:
        """``tensor[rows][:, cols]`` as float32 ``[len(rows), len(cols)]`` (read-only if cached)."""
        r, c = _idx(rows), _idx(cols)
        key = _key(name, r, c)
        entry = self._blocks.get(key)
        if entry is None:
            self.misses += 1
            return self._ckpt.read_block(name, r, c)
        self.hits += 1
        entry[1] -= 1
        if entry[1] <= 0:
            del self._blocks[key]
        return entry[0]


def record_requests(ckpt: Any, plans: Sequence[Callable[[Any], None]]) -> list[Request]:
    """Run planning functions against a :class:`RecordingCheckpoint`; returns all requests."""
    rec = RecordingCheckpoint(ckpt)
    for plan in plans:
        plan(rec)
    return rec.requests


def prefetch_checkpoint(ckpt: Any, requests: Sequence[Request], *,
                        budget: int | None = None) -> PrefetchedCheckpoint | None:
    """Read each requested tensor once and keep the requested sub-blocks.

    Args:
        ckpt: The opened checkpoint.
        requests: ``(name, rows, cols)`` read requests (duplicates are served once each).
        budget: Upper bound on the bytes of sub-blocks held; above it nothing is prefetched
            (default ``MFA_PREFETCH_BYTES``, checked, else :data:`DEFAULT_BUDGET`).

    Returns:
        The serving wrapper, or None when the requests exceed ``budget``.
    """
    if budget is None:
        budget = int(setting("MFA_PREFETCH_BYTES"))
    counts: dict[tuple[str, bytes, bytes], list[Any]] = {}
    per_tensor: dict[str, list[tuple[np.ndarray, np.ndarray, tuple[str, bytes, bytes]]]] = {}
    total = 0
    for name, r, c in requests:
        key = _key(name, r, c)
        if key in counts:
            counts[key][1] += 1
            continue
        counts[key] = [None, 1]
        per_tensor.setdefault(name, []).append((r, c, key))
        total += r.size * c.size * 4
    if total > budget:
        return None
    for name, reqs in per_tensor.items():  # first-request order = block order, close to file order
        rows_u = np.unique(np.concatenate([r for r, _, _ in reqs]))
        cols_u = np.unique(np.concatenate([c for _, c, _ in reqs]))
        outs = []
        for r, c, key in reqs:
            out = np.empty((r.size, c.size), dtype=np.float32)
            outs.append((np.searchsorted(rows_u, r), np.searchsorted(cols_u, c), out))
            counts[key][0] = out
        step = max(1, _CHUNK_BYTES // max(1, cols_u.size * 4))
        for a in range(0, rows_u.size, step):
            chunk = ckpt.read_block(name, rows_u[a : a + step], cols_u)  # float32 [rc, C]
            b = a + chunk.shape[0]
            for pr, pc, out in outs:
                sel = (pr >= a) & (pr < b)
                if sel.any():
                    out[sel] = chunk[np.ix_(pr[sel] - a, pc)]
            del chunk
        for _, _, out in outs:
            out.setflags(write=False)
    return PrefetchedCheckpoint(ckpt, counts)
