"""The one retry policy of every Hub request (huggingface_hub's http_backoff) and its settings."""

from __future__ import annotations

import socket

import pytest

from mfa_engine.checkpoints import http_ranges
from mfa_engine.checkpoints.http_ranges import check_reachable, retry_settings
from mfa_engine.checkpoints.hub import hub_branches
from mfa_engine.errors import CheckpointError, ConfigError

from .hub_server import HubServer
from .test_hub import REPO, neox, publish  # noqa: F401 - neox is a fixture


def test_retry_settings_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("MFA_HUB_RETRIES", raising=False)
    monkeypatch.delenv("MFA_HUB_BACKOFF", raising=False)
    assert retry_settings() == {"max_retries": 4, "base_wait_time": 0.5, "max_wait_time": 8.0}
    monkeypatch.setenv("MFA_HUB_RETRIES", "1")
    monkeypatch.setenv("MFA_HUB_BACKOFF", "0.01")
    assert retry_settings() == {"max_retries": 0, "base_wait_time": 0.01, "max_wait_time": 8.0}
    monkeypatch.setenv("MFA_HUB_BACKOFF", "abc")  # one parser for every Hub request: one message
    with pytest.raises(ConfigError, match=r"^environment variable MFA_HUB_BACKOFF='abc': expected a number of "
                                          r"seconds in 0\.\.60$"):
        retry_settings()  # the one checked reader of every setting (limits.setting)


def test_metadata_requests_retry_like_range_reads(hub: HubServer, neox) -> None:
    publish(hub, neox)
    hub.add_fault("503", "/api/models/", count=2)
    assert "step0" in hub_branches(REPO)  # two 503 answers, then the list
    hub.add_fault("503", "/api/models/", count=100)
    with pytest.raises(CheckpointError, match=r"^EleutherAI/pythia-tiny \(branches\): failed after 3 attempts: HTTP 503$"):
        hub_branches(REPO)


def test_an_unresolvable_host_fails_at_once(monkeypatch) -> None:
    calls = []

    def no_dns(host, *args, **kwargs):
        calls.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    http_ranges._resolves.cache_clear()
    with pytest.raises(CheckpointError) as err:
        check_reachable("Org/Name@main", "https://hub.invalid")
    msg = str(err.value)
    assert msg.startswith("Org/Name@main: cannot reach https://hub.invalid: the host name hub.invalid does not resolve")
    assert "HF_HUB_OFFLINE=1" in msg and "--download" in msg and calls == ["hub.invalid"]
    check_reachable("local", "http://127.0.0.1:1")  # an address needs no lookup
