"""Issue 22 X1, closed by class: the Hub and range-cache settings are read through the one checked
reader (limits.setting) on every path, the Python API included (the CLI checks them first, the
API did not: ``MFA_RANGE_CACHE_LIMIT=1e9`` was a ValueError traceback, ``MFA_HUB_BACKOFF=-1`` or
``nan`` was silently clamped or passed on to ``time.sleep``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mfa_engine.checkpoints.http_ranges import RangeFetcher, retry_settings
from mfa_engine.checkpoints.range_cache import RangeCache
from mfa_engine.errors import ConfigError
from mfa_engine.limits import SETTINGS, check_settings

__all__: list[str] = []


def test_range_cache_limit_read_like_the_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MFA_RANGE_CACHE_LIMIT", "1e9")
    assert RangeCache(tmp_path).limit == 10**9
    monkeypatch.setenv("MFA_RANGE_CACHE_LIMIT", "2_000")
    assert RangeCache(tmp_path).limit == 2000
    for bad in ("abc", "-1", "1.5", "inf"):
        monkeypatch.setenv("MFA_RANGE_CACHE_LIMIT", bad)
        with pytest.raises(ConfigError, match=f"MFA_RANGE_CACHE_LIMIT={bad!r}"):
            RangeCache(tmp_path)
    assert RangeCache(tmp_path, limit=5).limit == 5  # an explicit limit does not read it


@pytest.mark.parametrize(("name", "value"), [("MFA_HUB_BACKOFF", "-1"), ("MFA_HUB_BACKOFF", "nan"),
                                             ("MFA_HUB_BACKOFF", "abc"), ("MFA_HUB_RETRIES", "0"),
                                             ("MFA_HUB_RETRIES", "2.5")])
def test_retry_settings_are_checked_not_clamped(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=f"environment variable {name}={value!r}"):
        retry_settings()


def test_retry_and_worker_settings_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MFA_HUB_BACKOFF", "0.25")
    monkeypatch.setenv("MFA_HUB_RETRIES", "3")
    assert retry_settings() == {"max_retries": 2, "base_wait_time": 0.25, "max_wait_time": 8.0}
    monkeypatch.setenv("MFA_HUB_WORKERS", "3")
    assert RangeFetcher("Org/A", "a" * 40).workers == 3
    monkeypatch.setenv("MFA_HUB_WORKERS", "0")
    with pytest.raises(ConfigError, match="MFA_HUB_WORKERS='0'"):
        RangeFetcher("Org/A", "a" * 40)


def test_threads_setting_is_checked_by_the_cli_reader() -> None:
    assert "MFA_THREADS" in SETTINGS
    check_settings({"MFA_THREADS": "4"})
    with pytest.raises(ConfigError, match="MFA_THREADS='four'"):
        check_settings({"MFA_THREADS": "four"})
