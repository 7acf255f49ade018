"""CPU threads of the numba kernels: how many, and how they wait.

* **Count.** ``MFA_THREADS`` (an environment variable) or the ``threads`` analysis option caps
  the numba worker threads of every CPU kernel (paths, scans, the NetworkX backend, TM loss):
  :func:`apply` is called by the drivers before each parallel kernel, and :func:`limited`
  scopes an explicit count (the option; it also sets torch's intra-op threads while torch is
  imported). ``MFA_THREADS`` also sizes the other pools a run may start, read when they start:
  ``OMP_NUM_THREADS`` (torch), ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` (NumPy/SciPy),
  unless the user set one of them. ``0`` / unset means every thread numba has (``NUMBA_NUM_THREADS``,
  by default the cores).
* **Waiting.** numba's OpenMP threading layer (the default on Linux) spins its idle workers
  under OpenMP's default wait policy; on a busy machine that burns several times the CPU of
  the work itself. Importing :mod:`mfa_engine` sets ``OMP_WAIT_POLICY=PASSIVE`` (and
  ``KMP_BLOCKTIME=0`` for Intel's runtime) unless the user set them, before any OpenMP runtime
  starts; the TBB layer does not spin and the workqueue layer has no idle workers.

Nothing here imports numba at module import (``import mfa_engine`` stays light).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

__all__ = ["ENV", "apply", "configure_wait_policy", "limited", "requested"]

#: Environment variable holding the thread count.
ENV = "MFA_THREADS"

_explicit: list[int] = []  # stack of counts set by :func:`limited`
#: Thread-count variables of the other pools a run may start (torch's OpenMP intra-op pool,
#: OpenBLAS and MKL under NumPy/SciPy), set from ``MFA_THREADS`` at import unless already set.
_POOL_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def configure_wait_policy() -> None:
    """Make idle OpenMP workers sleep instead of spin (unless the user chose otherwise), and
    size numba's pool from ``MFA_THREADS`` (when numba is not imported yet).

    Must run before the OpenMP runtime starts (the first parallel numba kernel); called when
    :mod:`mfa_engine` is imported."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("KMP_BLOCKTIME", "0")
    n = requested()
    if n > 0:  # numba not imported yet: size its pool, which every numba kernel then uses
        os.environ.setdefault("NUMBA_NUM_THREADS", str(min(n, os.cpu_count() or n)))
        # torch's intra-op pool and the BLAS libraries read these when they start (torch
        # also reads MKL_NUM_THREADS, so a user's own setting of any of them keeps all)
        if not any(var in os.environ for var in _POOL_VARS):
            for var in _POOL_VARS:
                os.environ[var] = str(n)


def requested() -> int:
    """The thread count asked for: the innermost :func:`limited` count, else ``MFA_THREADS``,
    else 0 (all). A malformed ``MFA_THREADS`` is ignored (0)."""
    if _explicit:
        return _explicit[-1]
    raw = os.environ.get(ENV, "").strip()
    try:
        return max(0, int(raw)) if raw else 0
    except ValueError:
        return 0


def apply() -> int:
    """Set numba's thread count for this thread to :func:`requested` (bounded by the pool) and
    return it. Cheap; drivers call it before each parallel kernel."""
    import numba

    pool = int(numba.config.NUMBA_NUM_THREADS)
    want = requested()
    n = pool if want <= 0 else min(want, pool)
    if numba.get_num_threads() != n:
        numba.set_num_threads(n)
    return n


@contextlib.contextmanager
def limited(n: int | None) -> Iterator[None]:
    """Run the enclosed kernels with ``n`` threads (None or 0: leave the count as it is)."""
    if not n:
        yield
        return
    _explicit.append(int(n))
    torch = sys.modules.get("torch")  # torch's pool too, when torch is in use (never imported here)
    prev_torch = torch.get_num_threads() if torch is not None else 0
    try:
        apply()
        if torch is not None:
            torch.set_num_threads(int(n))
        yield
    finally:
        _explicit.pop()
        if torch is not None:
            torch.set_num_threads(prev_torch)
        apply()
