"""Fixtures of the checkpoint tests: a local Hub-compatible server reached through HF_ENDPOINT.

``hub`` starts :class:`~tests.checkpoints.hub_server.HubServer` and points ``HF_ENDPOINT`` at
it, with a fresh ``HF_HOME`` (HF cache and range cache inside it), no token, online mode and
fast retries (``MFA_HUB_BACKOFF=0.01``, ``MFA_HUB_RETRIES=3``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .hub_server import HubServer


def hub_environment(monkeypatch: pytest.MonkeyPatch, home: Path, endpoint: str) -> None:
    """Point huggingface_hub and the engine at a local server with a fresh HF_HOME."""
    import huggingface_hub.constants as hf_constants

    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HOME", str(home))
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_CACHE",
                "MFA_RANGE_CACHE", "MFA_RANGE_CACHE_LIMIT", "MFA_HUB_GAP"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MFA_HUB_BACKOFF", "0.01")
    monkeypatch.setenv("MFA_HUB_RETRIES", "3")
    # huggingface_hub reads these once at import; the engine reads them from its constants
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(hf_constants, "HF_HOME", str(home))
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(hf_constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"), raising=False)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[HubServer]:
    """A running local Hub server with the environment pointed at it."""
    with HubServer() as server:
        hub_environment(monkeypatch, tmp_path / "hf-home", server.endpoint)
        yield server
