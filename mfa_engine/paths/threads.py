"""The number of worker threads of the numba CPU kernels (numba is imported when asked)."""

from __future__ import annotations

from mfa_engine import threads

__all__ = ["numba_threads"]


def numba_threads() -> int:
    """Number of numba worker threads, after applying ``MFA_THREADS`` / the ``threads`` option
    (:func:`mfa_engine.threads.apply`; numba is imported only when a CPU kernel is about to run)."""
    return threads.apply()
