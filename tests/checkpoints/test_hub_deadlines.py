"""Issue 22 X8: a stall timeout and overall deadlines per remote file and per checkpoint."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mfa_engine.api import analyze_checkpoint
from mfa_engine.checkpoints.http_ranges import deadline_settings
from mfa_engine.errors import CheckpointError, ConfigError
from mfa_engine.synthetic import write_gpt_neox_checkpoint

from .hub_server import HubServer

REPO = "Org/slow"


@pytest.fixture
def slow_repo(hub: HubServer, tmp_path: Path) -> HubServer:
    src = write_gpt_neox_checkpoint(tmp_path / "src", seed=4, hidden_size=64, num_hidden_layers=2,
                                    num_attention_heads=4, dtype="float32")
    hub.add_folder(REPO, "main", src)
    hub.add_fault("trickle", "model.safetensors", count=10**6, ranged_only=True)
    return hub


def test_trickling_server_stalls(slow_repo: HubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    slow_repo.trickle_interval = 0.2  # 320 bytes/s: progress, but below the stall rate
    monkeypatch.setenv("MFA_HUB_STALL", "1")
    monkeypatch.setenv("MFA_HUB_STALL_BYTES", "1024")
    t0 = time.monotonic()
    with pytest.raises(CheckpointError, match=r"stalled: \d+ bytes in 1 s \(MFA_HUB_STALL=1 s, "
                                              r"MFA_HUB_STALL_BYTES=1024\)") as err:
        analyze_checkpoint(REPO, samples=1, neurons_per_layer=6)
    assert "\n" not in str(err.value) and "model.safetensors" in str(err.value)
    assert time.monotonic() - t0 < 10


@pytest.mark.parametrize(("var", "names"), [("MFA_HUB_FILE_DEADLINE", "model.safetensors"),
                                            ("MFA_HUB_DEADLINE", f"{REPO}@")])
def test_deadline_stops_a_steady_trickle(slow_repo: HubServer, monkeypatch: pytest.MonkeyPatch,
                                         var: str, names: str) -> None:
    slow_repo.trickle_interval = 0.01  # fast enough never to stall, too slow to finish in time
    monkeypatch.setenv(var, "1.5")
    t0 = time.monotonic()
    with pytest.raises(CheckpointError, match=rf"stopped: the deadline {var}=1.5 s for {names}"):
        analyze_checkpoint(REPO, samples=1, neurons_per_layer=6)
    assert time.monotonic() - t0 < 10


def test_deadline_settings_defaults_and_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MFA_HUB_FILE_DEADLINE", "MFA_HUB_DEADLINE", "MFA_HUB_STALL", "MFA_HUB_STALL_BYTES"):
        monkeypatch.delenv(var, raising=False)
    assert deadline_settings() == {"file": 3600.0, "checkpoint": 14400.0, "stall": 60.0,
                                   "stall_bytes": 16384.0}
    for bad in ("abc", "0", "-1", "inf", "nan"):
        monkeypatch.setenv("MFA_HUB_STALL", bad)
        with pytest.raises(ConfigError, match=rf"^environment variable MFA_HUB_STALL='{bad}': expected a "
                                              r"number of seconds in 0\.001\.\.86400$"):
            deadline_settings()
