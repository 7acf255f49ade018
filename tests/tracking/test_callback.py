"""MFACallback inside a real (tiny) Trainer run: the store equals mfa batch on the saved
checkpoints, the scalars reach TensorBoard's event files, failures never stop training, and
only rank 0 analyses."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

pytest.importorskip("transformers")

from mfa_engine.batch import CheckpointSpec, ResultsStore, run_batch
from mfa_engine.tracking import MFACallback

from ._trainer import TRACK_OPTIONS, tiny_trainer


def _rows(store: Path) -> dict[tuple[int, int], dict]:
    with ResultsStore(store, read_only=True) as st:
        return {(r["step"], r["seed"]): r for r in st.rows("paper")}


@pytest.mark.slow
def test_tracked_store_equals_mfa_batch_on_saved_checkpoints(tmp_path):
    cb = MFACallback(tmp_path / "store", TRACK_OPTIONS, at_start=False)
    trainer = tiny_trainer(tmp_path / "out", [cb], max_steps=20, save_steps=10)
    trainer.train()
    assert cb.tracker.failures == [] and cb.tracker.skipped == []
    tracked = _rows(tmp_path / "store")
    assert sorted(tracked) == [(10, 0), (10, 1), (20, 0), (20, 1)]
    specs = [CheckpointSpec(str(tmp_path / "out" / f"checkpoint-{s}"), None, s, f"checkpoint-{s}") for s in (10, 20)]
    report = run_batch(specs, tmp_path / "batch", options={"paper": {"neurons_per_layer": 16}}, samples=2)
    assert report.ok
    batch = _rows(tmp_path / "batch")
    assert sorted(batch) == sorted(tracked)
    for key, row in tracked.items():
        assert row["record"] == batch[key]["record"]
        assert (row["alpha0"], row["width"]) == (batch[key]["alpha0"], batch[key]["width"])
        assert row["config_hash"] == batch[key]["config_hash"]
    # the run's key is the absolute output directory; the results were logged through Trainer.log
    assert {r["checkpoint"] for r in tracked.values()} == {str((tmp_path / "out").resolve())}
    logged = [h for h in trainer.state.log_history if "mfa/paper/alpha0" in h]
    assert [h["step"] for h in logged] == [10, 20]
    assert logged[1]["mfa/paper/alpha0"] == pytest.approx(
        (tracked[(20, 0)]["alpha0"] + tracked[(20, 1)]["alpha0"]) / 2, rel=1e-12)


def test_scalars_reach_tensorboard_event_files(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(tmp_path / "tb"))
    # room for every hand-over: on a busy machine the analysis of step 0 may still run at step 10
    cb = MFACallback(tmp_path / "store", {**TRACK_OPTIONS, "null": "shuffle"}, every_n_steps=5, on_save=False,
                     max_pending=3)
    tiny_trainer(tmp_path / "out", [cb], max_steps=10, save_steps=10, report_to=["tensorboard"]).train()
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for name in ("alpha0", "alpha0_ci_lo", "alpha0_ci_hi", "width", "width_ci_lo", "width_ci_hi", "emergence",
                 "emergence_ci_lo", "emergence_ci_hi", "null_emergence", "emergence_minus_null",
                 "alpha0_minus_null", "width_minus_null"):
        assert f"train/mfa/paper/{name}" in tags, name
    assert "train/loss" in tags  # the trainer's own scalars are in the same files
    events = acc.Scalars("train/mfa/paper/emergence")
    assert cb.tracker.skipped == [], cb.tracker.skipped
    assert [e.step for e in events] == [0, 5, 10]
    assert events[0].value == 0.0
    with ResultsStore(tmp_path / "store", read_only=True) as st:
        rows = st.rows("paper")
    at10 = [r for r in rows if r["step"] == 10]
    assert acc.Scalars("train/mfa/paper/alpha0")[-1].value == pytest.approx(
        sum(r["alpha0"] for r in at10) / len(at10), rel=1e-6)  # float32 in the event file


def test_a_failing_analysis_never_stops_training(tmp_path, monkeypatch, caplog):
    from mfa_engine.modes import paper

    def broken(*args, **kwargs):
        raise RuntimeError("deliberately broken analysis")

    monkeypatch.setattr(paper, "run", broken)
    cb = MFACallback(tmp_path / "store", TRACK_OPTIONS)
    trainer = tiny_trainer(tmp_path / "out", [cb], max_steps=10, save_steps=5)
    with caplog.at_level(logging.ERROR, logger="mfa_engine.tracking"):
        out = trainer.train()
    assert trainer.state.global_step == 10 and out.training_loss > 0
    assert [s for s, _ in cb.tracker.failures] == [0, 5, 10]
    assert all("deliberately broken analysis" in m for _, m in cb.tracker.failures)
    assert sum("deliberately broken analysis" in r.getMessage() for r in caplog.records) == 3
    assert not any("mfa/" in k for h in trainer.state.log_history for k in h)


def test_only_rank_zero_analyses(tmp_path):
    """A fake world of two processes: the callback on rank 1 does nothing, rank 0 analyses."""
    import transformers as tf

    from ._trainer import tiny_model

    args = tf.TrainingArguments(output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True)
    model = tiny_model()
    for rank in (1, 0):
        state = tf.TrainerState(is_world_process_zero=rank == 0, is_local_process_zero=True, global_step=0,
                                max_steps=10)
        cb = MFACallback(tmp_path / f"store{rank}", TRACK_OPTIONS, trainer=None)
        control = tf.TrainerControl()
        cb.on_train_begin(args, state, control, model=model)
        state.global_step = 10
        cb.on_save(args, state, control, model=model)
        cb.on_train_end(args, state, control, model=model)
        if rank == 1:
            assert cb.tracker is None and not (tmp_path / "store1").exists()
        else:
            assert sorted({r[0] for r in _rows(tmp_path / "store0")}) == [0, 10]


def test_bad_options_fail_before_training(tmp_path):
    from mfa_engine.errors import ConfigError

    with pytest.raises(ConfigError, match="samples"):
        MFACallback(tmp_path / "store", {"samples": 0})
    with pytest.raises(ConfigError, match="every_n_steps"):
        MFACallback(tmp_path / "store", every_n_steps=0)
