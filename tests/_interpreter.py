"""Run a test file again inside a ``TRITON_INTERPRET=1`` subprocess (Triton decides between
compiled and interpreted kernels when it is imported, so the mode cannot change in-process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_file_under_interpreter(path: str | Path) -> None:
    """Run the tests of ``path`` with ``TRITON_INTERPRET=1`` and assert they all passed."""
    env = dict(os.environ, TRITON_INTERPRET="1")
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--noconftest", "-p", "no:cacheprovider", str(path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-3000:]
    assert " passed" in res.stdout and "failed" not in res.stdout
