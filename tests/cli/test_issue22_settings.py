"""Issue 22 class 5: every numeric MFA_*/HF_* setting read through one checked reader (X1), a
closed stdout (X6)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mfa_engine.checkpoints.prefetch import prefetch_checkpoint
from mfa_engine.cli import main
from mfa_engine.errors import ConfigError
from mfa_engine.limits import SETTINGS, check_settings, setting

from ..batch.conftest import neox_series  # noqa: F401

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("MFA_RANGE_CACHE_LIMIT", "abc", "expected an integer of bytes in 0..4611686018427387904"),
    ("MFA_RANGE_CACHE_LIMIT", "1e99", "expected an integer of bytes"),
    ("MFA_HUB_BACKOFF", "abc", "expected a number of seconds in 0..60"),
    ("MFA_HUB_BACKOFF", "-1", "expected a number of seconds in 0..60"),
    ("MFA_HUB_BACKOFF", "nan", "expected a number of seconds"),
    ("MFA_PREFETCH_BYTES", "abc", "expected an integer of bytes"),
    ("MFA_PREFETCH_BYTES", "1.5", "expected an integer of bytes"),
    ("MFA_HUB_WORKERS", "0", "expected an integer in 1..256"),
    ("MFA_HUB_RETRIES", "x", "expected an integer in 1..100"),
    ("MFA_HUB_GAP", "-5", "expected an integer of bytes"),
    ("HF_HUB_ETAG_TIMEOUT", "soon", "expected an integer of seconds"),
])
def test_x1_bad_settings_are_one_line_errors_naming_the_setting(monkeypatch, capsys, tmp_path, name, value, expected):
    with pytest.raises(ConfigError, match=f"environment variable {name}={value!r}: {expected}"):
        setting(name, {name: value})
    monkeypatch.setenv(name, value)
    assert main(["plot", str(tmp_path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: environment variable {name}={value!r}: {expected}")


def test_x1_valid_settings_read_as_before():
    assert setting("MFA_RANGE_CACHE_LIMIT", {"MFA_RANGE_CACHE_LIMIT": "1e9"}) == 10**9
    assert setting("MFA_RANGE_CACHE_LIMIT", {}) == 50 * 10**9
    assert setting("MFA_HUB_BACKOFF", {"MFA_HUB_BACKOFF": "0.01"}) == 0.01
    assert setting("MFA_PREFETCH_BYTES", {"MFA_PREFETCH_BYTES": " 1048576 "}) == 1 << 20
    assert setting("MFA_HUB_GAP", {"MFA_HUB_GAP": ""}) == 4096
    big = str(2**61 + 1)  # exact beyond float precision
    assert setting("MFA_RANGE_CACHE_LIMIT", {"MFA_RANGE_CACHE_LIMIT": big}) == 2**61 + 1
    check_settings({})
    assert set(SETTINGS) >= {"MFA_PREFETCH_BYTES", "MFA_HUB_GAP", "MFA_HUB_WORKERS", "MFA_HUB_RETRIES",
                             "MFA_HUB_BACKOFF", "MFA_RANGE_CACHE_LIMIT"}


def test_x1_prefetch_budget_read_at_call_time_and_checked(monkeypatch):
    monkeypatch.setenv("MFA_PREFETCH_BYTES", "abc")
    with pytest.raises(ConfigError, match="MFA_PREFETCH_BYTES='abc'"):
        prefetch_checkpoint(object(), [])
    # importing the module with a bad value is no traceback either
    proc = subprocess.run([sys.executable, "-c", "import mfa_engine.checkpoints.prefetch"], cwd=REPO,
                          env={"MFA_PREFETCH_BYTES": "abc", "PYTHONPATH": str(REPO)}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_x6_json_to_a_closed_stdout_is_one_line(neox_series, tmp_path):
    proc = subprocess.run(f"{sys.executable} -m mfa_engine analyze {neox_series / 'step0'} --mode reference "
                          "--samples 1 --quiet --json - >&-", shell=True, cwd=REPO, capture_output=False,
                          stderr=subprocess.PIPE, text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    lines = [ln for ln in proc.stderr.strip().splitlines() if not ln.startswith(("step0", " ", "  "))]
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "error: cannot write the JSON document to stdout: stdout is closed" in lines
