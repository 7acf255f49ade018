"""The pre-registered fit windows per model family (mfa_engine.analysis.windows)."""

from __future__ import annotations

import pytest

from mfa_engine.analysis.windows import DEFAULT_WINDOW, FAMILY_WINDOWS, family_window, resolve_window
from mfa_engine.errors import ConfigError


def test_family_table_and_resolution() -> None:
    assert family_window("bert") == ((1.1, 2.1), "family:bert")
    assert family_window("gpt_neox") == ((1.2, 2.2), "family:gpt_neox")
    assert family_window("llama") == (DEFAULT_WINDOW, "family:default")
    assert family_window(None) == (DEFAULT_WINDOW, "family:default")
    assert resolve_window((0.5, 1.5), "bert") == ((0.5, 1.5), "option")
    assert resolve_window(None, "gpt_neox") == (FAMILY_WINDOWS["gpt_neox"], "family:gpt_neox")
    for lo, hi in [*FAMILY_WINDOWS.values(), DEFAULT_WINDOW]:
        assert -3.0 <= lo < hi <= 3.0 and hi - lo >= 1.0 - 1e-12  # inside the grid, span >= 1
    with pytest.raises(ConfigError, match="LO < HI"):
        resolve_window((1.0, 1.0), "bert")
