"""Issue 22 U1: a config.json the Hub keeps answering with 503 is one line naming the 503."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mfa_engine.cli import main

from .hub_server import HubServer
from .test_hub import REPO, neox, publish  # noqa: F401 - neox is a fixture

__all__: list[str] = []


def test_u1_config_json_503_is_not_reported_as_404(hub: HubServer, neox: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    publish(hub, neox)
    hub.add_fault("503", "config.json", count=1000)
    t0 = time.monotonic()
    assert main(["analyze", REPO, "--quiet", "--samples", "1", "--json", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert time.monotonic() - t0 < 10
    assert len(err) == 1, err
    assert err[0].startswith(f"error: config.json of {REPO}@")
    assert "HTTP 503" in err[0] and "404" not in err[0] and "not found" not in err[0]
