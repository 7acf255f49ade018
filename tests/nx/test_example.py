"""The NetworkX-backend example runs."""

from __future__ import annotations

import runpy
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "networkx_backend.py"


def test_example_runs(capsys) -> None:
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "nodes within 0.1 of node 0" in out and "ball sizes: {0: [" in out
