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


def test_x4_unreadable_hf_cache_is_one_line_error(monkeypatch, tmp_path):
    from mfa_engine.checkpoints import locate as loc
    from mfa_engine.errors import CheckpointError

    real_stat = loc.os.stat

    def stat(path, *a, **k):
        if "locked" in str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_stat(path, *a, **k)

    monkeypatch.setattr(loc.os, "stat", stat)
    with pytest.raises(CheckpointError, match=r"^cannot read the HF cache folder .*locked.*: Permission denied"):
        loc.cache_repo_for(Path("Org/Name"), tmp_path / "locked")


@pytest.mark.skipif(not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() != 0
                    or not Path("/usr/bin/setpriv").exists(), reason="needs root and setpriv to drop privileges")
@pytest.mark.parametrize("var", ["HF_HUB_CACHE", "HOME"])
def test_x4_unreadable_cache_or_home_as_a_user(tmp_path, var):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    tmp_path.chmod(0o755)
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path),
           var: str(locked / "hub") if var == "HF_HUB_CACHE" else str(locked)}
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = subprocess.run([*drop, sys.executable, "-c", "import mfa_engine"], cwd="/", env=env,
                           capture_output=True, text=True)
    if probe.returncode != 0:  # e.g. a checkout under a 0700 folder (mktemp -d)
        pytest.skip("this checkout or its Python environment is not readable by uid 65534: "
                    + (probe.stderr.strip().splitlines() or ["?"])[-1])
    proc = subprocess.run([*drop, sys.executable,
                           "-m", "mfa_engine", "analyze", "Org/Name"], cwd="/", env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot read the HF cache folder {locked}") and "Permission denied" in line
