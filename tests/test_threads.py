"""Thread count and wait policy of the CPU kernels (mfa_engine.threads)."""

from __future__ import annotations

import os
import subprocess
import sys

import numba
import pytest

from mfa_engine import threads


def test_import_sets_a_passive_wait_policy_and_sizes_the_pool() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "KMP_BLOCKTIME", "NUMBA_NUM_THREADS")}
    env["MFA_THREADS"] = "1"
    code = ("import os, mfa_engine, numba; print(os.environ['OMP_WAIT_POLICY'], os.environ['KMP_BLOCKTIME'], "
            "numba.config.NUMBA_NUM_THREADS, 'torch' in __import__('sys').modules)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["PASSIVE", "0", "1", "False"]
    env["OMP_WAIT_POLICY"] = "active"  # the user's choice is kept
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[0] == "active"


@pytest.mark.parametrize("raw,want", [("", 0), ("1", 1), ("3", 3), ("-2", 0), ("x", 0)])
def test_requested_reads_mfa_threads(monkeypatch, raw: str, want: int) -> None:
    monkeypatch.setenv(threads.ENV, raw)
    assert threads.requested() == want


def test_apply_and_limited_set_numba_threads(monkeypatch) -> None:
    pool = numba.config.NUMBA_NUM_THREADS
    monkeypatch.setenv(threads.ENV, "1")
    assert threads.apply() == 1 and numba.get_num_threads() == 1
    monkeypatch.delenv(threads.ENV)
    assert threads.apply() == pool
    with threads.limited(1):
        assert numba.get_num_threads() == 1
        from mfa_engine.paths.cpu import numba_threads

        assert numba_threads() == 1  # the drivers re-apply it: still honoured
    assert numba.get_num_threads() == pool
    with threads.limited(0):  # 0 / None: unchanged
        assert numba.get_num_threads() == pool


def test_threads_option_is_declared() -> None:
    from mfa_engine.errors import ConfigError
    from mfa_engine.options import AnalysisOptions

    assert AnalysisOptions().threads == 0
    assert AnalysisOptions(threads=2).threads == 2
    with pytest.raises(ConfigError, match="threads"):
        AnalysisOptions(threads=-1)


def test_mfa_threads_sizes_torch_and_blas_pools() -> None:
    """MFA_THREADS caps torch's intra-op pool (and the BLAS pools) when set before import; a
    user's own OMP_NUM_THREADS keeps every pool variable as the user left it."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")}
    env["MFA_THREADS"] = "1"
    code = ("import os, mfa_engine, torch; print(torch.get_num_threads(), os.environ['OPENBLAS_NUM_THREADS'], "
            "os.environ['MKL_NUM_THREADS'])")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "1", "1"]
    env["OMP_NUM_THREADS"] = "2"
    code = "import os, mfa_engine, torch; print(torch.get_num_threads(), os.environ.get('MKL_NUM_THREADS'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["2", "None"]


def test_limited_scopes_torch_threads() -> None:
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    with threads.limited(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
