"""Store keys under changing content and settings (issue 22): a Hub branch that moves gets a new
key per commit (never the old rows), a local checkpoint whose files change is refused (never
skipped), and every numeric setting parses to a bounded value or one named error line."""

from __future__ import annotations

import os
from unittest import mock

from hypothesis import example, given
from hypothesis import strategies as st

from mfa_engine.batch import identity
from mfa_engine.batch.runner import _identify, plan_tasks
from mfa_engine.batch.series import CheckpointSpec
from mfa_engine.batch.store import ResultsStore
from mfa_engine.errors import ConfigError
from mfa_engine.limits import SETTINGS, setting
from mfa_engine.options import AnalysisOptions

from .harness import budget, one_line, record

_OPTS = {"reference": AnalysisOptions(mode="reference", samples=1)}


def _row(key: str, step: int | None, h: str) -> dict:
    return {"checkpoint": key, "step": step, "mode": "reference", "seed": 0, "config_hash": h,
            "record": {"seed": 0, "alpha0": 1.0, "width": 0.5}}


@budget(25)
@given(moves=st.lists(st.tuples(st.sampled_from(["main", "step1", "step2"]), st.integers(0, 3)),
                      min_size=1, max_size=8))
def test_hub_keys_follow_commits(tmp_path_factory, moves):
    """Each run sees the branch at some commit; it skips exactly when that commit's row exists."""
    store = ResultsStore(tmp_path_factory.mktemp("hub") / "s")
    stored: set[tuple[str, str]] = set()
    try:
        for branch, c in moves:
            commit = f"{c:040x}"
            spec = CheckpointSpec("Org/moving", branch, None, f"Org/moving@{branch}")
            with mock.patch.object(identity, "cached_commit", return_value=None), \
                    mock.patch.object(identity, "offline", return_value=False), \
                    mock.patch.object(identity, "hub_commit", return_value=commit):
                series, refused = _identify([spec], store)
            assert refused == {}
            (pinned,) = series
            assert pinned.key == f"Org/moving@{branch}#{commit}" and pinned.revision == commit
            tasks, skipped = plan_tasks(series, store, [0], _OPTS, {"reference": "h"})
            assert skipped == int((branch, commit) in stored)
            assert len(tasks) == 1 - skipped
            if tasks:
                assert store.append(_row(pinned.key, None, "h"))
                stored.add((branch, commit))
        assert store.count() == len(stored)
    finally:
        store.close()
    record("identity", "ok")


_CHANGE = st.sampled_from(["none", "size", "mtime", "header", "new-file"])


@budget(25)
@given(changes=st.lists(_CHANGE, min_size=1, max_size=5))
@example(changes=["header", "header"])  # flipped back: the stored content again, not a change
@example(changes=["header", "size", "header"])
def test_local_changes_are_refused_never_skipped(tmp_path_factory, changes):
    root = tmp_path_factory.mktemp("local")
    ck = root / "step5"
    ck.mkdir()
    (ck / "config.json").write_text('{"model_type": "gpt_neox"}')
    weights = ck / "model.safetensors"
    weights.write_bytes(b"\x08" + bytes(7) + b"{}      " + bytes(64))
    mtime = 10**9
    os.utime(weights, ns=(10**9, mtime))
    spec = CheckpointSpec(str(ck), None, 5, str(ck))
    store = ResultsStore(root / "s")
    try:
        series, refused = _identify([spec], store)
        assert refused == {}
        store.append(_row(spec.key, 5, "h"))
        original = weights.read_bytes()
        for i, change in enumerate(changes):
            data = weights.read_bytes()
            if change == "size":
                weights.write_bytes(data + b"\0")
            elif change == "header":
                weights.write_bytes(data[:8] + bytes([data[8] ^ 0xFF]) + data[9:])
            elif change == "new-file":
                (ck / f"extra{i}.json").write_text("{}")
            if change != "none":
                mtime = 10**9 + (i + 1) * 10**6 if change == "mtime" else mtime
                os.utime(weights, ns=(10**9, mtime))
            # changed = differs from what was stored now (a header flipped twice is the original again)
            changed = (weights.read_bytes() != original or mtime != 10**9
                       or any(ck.glob("extra*.json")))
            series, refused = _identify([spec], store)
            if changed:
                assert list(refused) == [0] and "changed since its 1 stored samples" in refused[0]
                one_line(refused[0])
                record("identity", "error")
            else:
                assert refused == {}
                tasks, skipped = plan_tasks(series, store, [0], _OPTS, {"reference": "h"})
                assert (len(tasks), skipped) == (0, 1)
                record("identity", "ok")
    finally:
        store.close()


@budget(60)
@given(name=st.sampled_from(sorted(SETTINGS)),
       text=st.one_of(st.text(max_size=12), st.integers(-10**20, 10**20).map(str),
                      st.floats(allow_nan=True, allow_infinity=True).map(repr)))
def test_settings_parse_bounded_or_one_named_line(name, text):
    s = SETTINGS[name]
    try:
        value = setting(name, {name: text})
    except ConfigError as exc:
        one_line(str(exc))
        assert str(exc).startswith(f"environment variable {name}=")
        record("settings", "error")
        return
    assert s.low <= value <= s.high
    assert isinstance(value, int) if s.kind is int else isinstance(value, float)
    record("settings", "ok")
