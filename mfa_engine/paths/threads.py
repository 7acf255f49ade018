"""The number of worker threads of the numba CPU kernels (numba is imported when asked)."""

from __future__ import annotations

__all__ = ["numba_threads"]


def numba_threads() -> int:
    """Number of numba worker threads."""
    import numba  # light-import rule: numba only when a CPU kernel is about to run

    return int(numba.get_num_threads())
