"""Launcher for crash-safety tests: ``python kill_after_rows.py N mfa-args...`` runs the ``mfa``
CLI in this process and SIGKILLs it right after the results store has accepted N new rows (the
hook lives here, in the test, not in the batch runner)."""

from __future__ import annotations

import os
import signal
import sys

from mfa_engine.batch.store import ResultsStore
from mfa_engine.cli import main

_LIMIT = int(sys.argv[1])
_stored = 0
_append = ResultsStore.append


def _append_then_maybe_die(self: ResultsStore, row: dict) -> bool:
    global _stored
    new = _append(self, row)
    if new:
        _stored += 1
        if _stored >= _LIMIT:
            os.kill(os.getpid(), signal.SIGKILL)
    return new


ResultsStore.append = _append_then_maybe_die  # type: ignore[method-assign]
sys.exit(main(sys.argv[2:]))
