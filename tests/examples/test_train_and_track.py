"""examples/train_and_track.py end to end (short): E(t) in TensorBoard's event files and in the
results store that mfa plot draws."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("tensorboard")
pytest.importorskip("matplotlib")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "train_and_track.py"


@pytest.mark.slow
def test_example_logs_emergence_to_tensorboard_and_the_store(tmp_path, monkeypatch, capsys):
    from mfa_engine.batch import ResultsStore

    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(tmp_path / "tb"))
    spec = importlib.util.spec_from_file_location("train_and_track", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assert example.main(["--out", str(tmp_path / "out"), "--steps", "40", "--save-steps", "20"]) == 0
    out = capsys.readouterr().out
    assert "analysed steps [0, 20, 40], skipped [], failed 0" in out
    assert (tmp_path / "out" / "plots" / "paper-series.png").stat().st_size > 0
    tb = example.read_tensorboard(tmp_path / "tb")
    assert [s for s, _ in tb] == [0, 20, 40] and tb[0][1] == 0.0
    with ResultsStore(tmp_path / "out" / "mfa-store", read_only=True) as st:
        rows = st.rows("paper")
    assert len(rows) == 3 * 10 and {r["checkpoint"] for r in rows} == {"tiny-gpt-neox"}
