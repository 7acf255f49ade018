"""Results store: atomic append-only rows, unique keys, config check, export."""

from __future__ import annotations

import csv
import json
import sqlite3

import pytest

from mfa_engine.batch.store import STORE_FILE, ResultsStore, config_hash
from mfa_engine.errors import StoreError


def row(seed, step=1000, alpha0=1.5, ckpt="/c/step1000", chash="h1", mode="reference"):
    return {"checkpoint": ckpt, "step": step, "mode": mode, "seed": seed, "config_hash": chash,
            "record": {"seed": seed, "alpha0": alpha0, "width": 0.5 + seed, "n_centres": 7,
                       "r2_min": 0.9, "tau": [1.0, 2.0]}}


def test_append_is_unique_and_rows_round_trip(tmp_path):
    with ResultsStore(tmp_path / "s") as st:
        assert st.append(row(0)) is True
        assert st.append(row(0, alpha0=9.9)) is False  # same key: ignored, first value kept
        assert st.append_many([row(1), row(2), row(1)]) == 2
        assert st.count() == 3
        assert st.done_seeds("/c/step1000", 1000, "reference", "h1") == {0, 1, 2}
        assert st.done_seeds("/c/step1000", 1000, "reference", "other") == set()
        rows = st.rows("reference", "h1")
        assert [r["seed"] for r in rows] == [0, 1, 2]
        assert rows[0]["alpha0"] == 1.5 and rows[0]["record"]["tau"] == [1.0, 2.0]
        assert rows[2]["width"] == 2.5
        st.append(row(0, step=None, ckpt="/c/final"))
        assert st.rows(checkpoint="/c/final")[0]["step"] is None
        assert st.done_seeds("/c/final", None, "reference", "h1") == {0}
    # WAL mode, one database file in the directory.
    conn = sqlite3.connect(tmp_path / "s" / STORE_FILE)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 4


def test_other_config_is_refused_unless_forced(tmp_path):
    cfg = {"mode": "reference", "threshold": 150.0, "q": None}
    with ResultsStore(tmp_path) as st:
        h = st.ensure_config("reference", cfg)
        assert h == config_hash(dict(reversed(list(cfg.items()))))  # key order does not matter
        assert st.config("reference") is None  # recorded with the first row only
        st.append(row(0, chash=h))
        assert st.config("reference") == (h, cfg)
        assert st.ensure_config("reference", cfg) == h
        other = {**cfg, "threshold": 200.0}
        with pytest.raises(StoreError, match=r"another config \(threshold 150.0 -> 200.0\).*--force"):
            st.ensure_config("reference", other)
        assert st.config("reference") == (h, cfg)
        h2 = st.ensure_config("reference", other, force=True)
        st.append(row(1, chash=h2))
        assert h2 != h and st.config("reference") == (h2, other)
        # Another mode has its own config.
        st.append(row(0, mode="paper", chash=st.ensure_config("paper", {"mode": "paper"})))
        assert st.modes() == ["paper", "reference"]


def test_export_csv_and_json(tmp_path):
    with ResultsStore(tmp_path / "s") as st:
        h = st.ensure_config("reference", {"mode": "reference"})
        st.append_many([row(0, chash=h), row(1, chash=h), row(5, chash="stale")])
        st.export(tmp_path / "out.csv")
        st.export(tmp_path / "out.json")
        with pytest.raises(StoreError, match="expected a .csv or .json"):
            st.export(tmp_path / "out.txt")
    lines = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert [(r["seed"], r["width"], r["n_centres"]) for r in lines] == [("0", "0.5", "7"), ("1", "1.5", "7")]
    doc = json.loads((tmp_path / "out.json").read_text())
    assert [r["seed"] for r in doc] == [0, 1] and doc[1]["record"]["width"] == 1.5


def test_bad_store_paths(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        ResultsStore(f)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / STORE_FILE).write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="is corrupt"):
        ResultsStore(tmp_path / "d")
