"""mfa_engine.track from a bare PyTorch loop, rank 0 only, and the light top-level import."""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import mfa_engine
from mfa_engine.batch import ResultsStore
from mfa_engine.errors import ConfigError
from mfa_engine.tracking import close_all, process_rank

from ._trainer import TRACK_OPTIONS, tiny_model


@pytest.fixture(autouse=True)
def _fresh_trackers(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    yield
    close_all()


def test_bare_training_loop(tmp_path):
    model = tiny_model(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    trackers = []
    for step in range(7):
        if step % 3 == 0:
            trackers.append(mfa_engine.track(model, step, store=tmp_path / "store", options=TRACK_OPTIONS,
                                             run="loop"))
            trackers[-1].wait(60)  # the test wants every step; a real loop does not wait
        x = torch.randint(0, 128, (4, 16), generator=gen)
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all(t is trackers[0] for t in trackers)  # one tracker per (store, run)
    close_all()
    assert trackers[0].closed and trackers[0].failures == []
    with ResultsStore(tmp_path / "store", read_only=True) as st:
        rows = st.rows("paper")
    assert sorted({(r["checkpoint"], r["step"]) for r in rows}) == [("loop", 0), ("loop", 3), ("loop", 6)]
    alpha0 = {r["step"]: r["alpha0"] for r in rows if r["seed"] == 0}
    assert len(set(alpha0.values())) == 3  # the weights changed between the steps


def test_only_rank_zero_tracks(tmp_path, monkeypatch):
    model = tiny_model(0)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert process_rank() == 1
    assert mfa_engine.track(model, 0, store=tmp_path / "store", options=TRACK_OPTIONS, run="r") is None
    assert not (tmp_path / "store").exists()
    monkeypatch.setenv("RANK", "0")
    tracker = mfa_engine.track(model, 0, store=tmp_path / "store", options=TRACK_OPTIONS, run="r")
    assert tracker is not None and tracker.wait(60) and tracker.analysed == [0]
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(ConfigError, match="RANK"):
        process_rank()


def test_other_options_for_a_tracked_run_are_refused(tmp_path):
    model = tiny_model(0)
    mfa_engine.track(model, 0, store=tmp_path / "store", options=TRACK_OPTIONS, run="r")
    with pytest.raises(ConfigError, match="already tracked with other options"):
        mfa_engine.track(model, 1, store=tmp_path / "store", options={**TRACK_OPTIONS, "samples": 3}, run="r")


def test_import_stays_light_until_the_callback_is_used():
    code = ("import sys, mfa_engine, mfa_engine.tracking\n"
            "print(sorted(m for m in ('torch', 'transformers', 'triton') if m in sys.modules))\n"
            "mfa_engine.MFACallback\n"
            "print('transformers' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["[]", "True"]
