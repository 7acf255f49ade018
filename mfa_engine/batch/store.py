"""The results store of batch runs: SQLite (WAL), append-only, one atomic transaction per row.

Layout of a store directory ``DIR``: ``DIR/results.sqlite`` with two tables.

* ``meta(mode PRIMARY KEY, config_hash, config, engine_version, created)``: the analysis
  configuration of each mode. A run with another configuration is refused unless forced
  (then the new configuration becomes current; rows of the old one stay, under their hash).
* ``results(id, checkpoint, step, mode, seed, config_hash, alpha0, width, record,
  engine_version, created)`` with ``UNIQUE(checkpoint, step, mode, seed, config_hash)``:
  one row per (checkpoint, sample). ``record`` is the per-sample record of
  ``analyze_checkpoint`` as JSON text. Unknown steps are stored as -1.

Each append is its own transaction (``INSERT OR IGNORE``), so a killed process leaves either the
whole row or nothing, and a row is never stored twice.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import sqlite3
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mfa_engine.errors import StoreError, plain
from mfa_engine.io import atomic_write_json, atomic_write_text

__all__ = ["ResultsStore", "config_hash", "STORE_FILE", "NO_STEP", "MAX_STEP"]

STORE_FILE = "results.sqlite"
#: Value of ``step`` for checkpoints whose step is unknown (NULL would defeat UNIQUE).
NO_STEP = -1
_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    mode TEXT PRIMARY KEY,
    config_hash TEXT NOT NULL,
    config TEXT NOT NULL,
    engine_version TEXT,
    created REAL
);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    checkpoint TEXT NOT NULL,
    step INTEGER NOT NULL,
    mode TEXT NOT NULL,
    seed INTEGER NOT NULL,
    config_hash TEXT NOT NULL,
    alpha0 REAL NOT NULL,
    width REAL NOT NULL,
    record TEXT NOT NULL,
    engine_version TEXT,
    created REAL,
    UNIQUE (checkpoint, step, mode, seed, config_hash)
);
CREATE TABLE IF NOT EXISTS checkpoint_identity (
    checkpoint TEXT NOT NULL,
    step INTEGER NOT NULL,
    identity TEXT NOT NULL,
    PRIMARY KEY (checkpoint, step)
);
CREATE TABLE IF NOT EXISTS checkpoint_reads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    checkpoint TEXT NOT NULL,
    step INTEGER NOT NULL,
    bytes_read INTEGER NOT NULL,
    bytes_total INTEGER NOT NULL,
    created REAL
);
"""

_CSV_FIELDS = ("checkpoint", "step", "mode", "seed", "config_hash", "alpha0", "width",
               "n_centres", "r2_min", "engine_version")


#: Largest step SQLite stores (a signed 64-bit integer).
MAX_STEP = 2**63 - 1


def _step(step: int | None) -> int:
    """A step as stored (``NO_STEP`` for None); a step SQLite cannot hold is a StoreError."""
    if step is None:
        return NO_STEP
    step = int(step)
    if not 0 <= step <= MAX_STEP:
        raise StoreError(f"step {step} does not fit the results store (0..{MAX_STEP})")
    return step


def config_hash(config: dict[str, Any]) -> str:
    """SHA-256 (hex) of a configuration dict as canonical JSON (sorted keys)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=float)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _short(v: Any) -> str:
    """A config value for a one-line message: long lists as ``[61 values -3.0..3.0]``."""
    if isinstance(v, (list, tuple)) and len(v) > 4:
        return f"[{len(v)} values {plain(v[0])}..{plain(v[-1])}]"
    return repr(v)


def _diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(set(old) | set(new))
    parts = [f"{k} {_short(old.get(k))} -> {_short(new.get(k))}" for k in keys if old.get(k) != new.get(k)]
    return ", ".join(parts[:4]) + (", ..." if len(parts) > 4 else "")


class ResultsStore:
    """A results store directory (created on first use).

    Args:
        directory: The store directory; ``results.sqlite`` inside it is created if missing.

    Raises:
        StoreError: The path is a file, or the database is not a results store.
    """

    def __init__(self, directory: str | Path, *, read_only: bool = False) -> None:
        self.directory = Path(directory)
        self.read_only = read_only
        self.path = self.directory / STORE_FILE
        self._pending: dict[str, tuple[str, dict[str, Any], bool, str]] = {}
        if self.directory.exists() and not self.directory.is_dir():
            raise StoreError(f"results store {self.directory} is a file; expected a directory")
        if read_only:
            self._conn = self._open_read_only()
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create results store {self.directory}: {exc.strerror or exc}") from None
        with self._errors():
            self._conn = sqlite3.connect(str(self.path), timeout=60.0, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._check_version()
            self._conn.executescript(_SCHEMA)
            self._conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")

    def _open_read_only(self) -> sqlite3.Connection:
        """Open an existing store without ever writing to it (SQLite URI ``mode=ro``)."""
        if not self.path.is_file():
            raise StoreError(f"{self.directory} is not a results store (no {STORE_FILE}); "
                             "run mfa batch --store first")
        uri = "file:" + urllib.parse.quote(str(self.path.resolve()))
        wal = self.path.with_name(self.path.name + "-wal")
        with self._errors():
            if wal.exists():  # another connection may be writing: share its WAL index
                try:
                    conn = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=60.0, isolation_level=None)
                    conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
                except sqlite3.OperationalError:  # a folder we cannot write: no -shm file
                    conn = sqlite3.connect(uri + "?immutable=1", uri=True, isolation_level=None)
            else:
                # no connection is open (the last one removes the WAL file): read the file as
                # it is, creating no -wal/-shm files next to it
                conn = sqlite3.connect(uri + "?immutable=1", uri=True, isolation_level=None)
            self._conn = conn
            self._check_version()
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"meta", "results"} <= tables:
            conn.close()
            raise StoreError(f"results store {self.path} is empty or not a results store "
                             "(no results table); expected a store written by mfa batch")
        return conn

    def _check_version(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, _SCHEMA_VERSION):
            raise StoreError(
                f"results store {self.path} has schema version {version}; this engine reads "
                f"version {_SCHEMA_VERSION}"
            )

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn SQLite errors into one-line StoreErrors that say what is wrong with the store."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            text = str(exc)
            low = text.lower()
            if "readonly" in low or "read-only" in low:
                what = "is read-only (cannot record results)"
            elif "not a database" in low or "malformed" in low or "corrupt" in low:
                what = "is corrupt"
            elif "unable to open" in low:
                what = "cannot be opened"
            elif "disk is full" in low or "database or disk is full" in low:
                what = "cannot grow: the disk is full"
            else:
                what = "cannot be used"
            raise StoreError(f"results store {self.path} {what}: {text}") from None

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._errors():
            return self._conn.execute(sql, args).fetchall()

    # ------------------------------------------------------------------ configuration
    def config(self, mode: str) -> tuple[str, dict[str, Any]] | None:
        """The current ``(config_hash, config)`` of ``mode``, or None if the mode was never run."""
        rows = self._query("SELECT config_hash, config FROM meta WHERE mode = ?", (mode,))
        return None if not rows else (rows[0][0], json.loads(rows[0][1]))

    def modes(self) -> list[str]:
        """Modes with a recorded configuration, sorted."""
        return [r[0] for r in self._query("SELECT mode FROM meta ORDER BY mode")]

    def ensure_config(self, mode: str, config: dict[str, Any], *, force: bool = False,
                      engine_version: str = "") -> str:
        """Check the configuration of ``mode`` against the recorded one; record it with the
        first row of that mode.

        The check is repeated inside the transaction that appends the first rows under this
        configuration, so two concurrent runs with different configurations can never both
        store rows, and a run that stores nothing (every checkpoint failed) records nothing.

        Args:
            mode: ``"paper"`` or ``"reference"``.
            config: The analysis configuration (JSON-able; everything that changes results).
            force: Replace a different recorded configuration instead of refusing.
            engine_version: Stored with the configuration.

        Returns:
            The configuration hash (the ``config_hash`` of the rows to append).

        Raises:
            StoreError: A different configuration is recorded and ``force`` is False.
        """
        h = config_hash(config)
        current = self.config(mode)
        if current is not None and current[0] != h and not force:
            raise self._mismatch(mode, current[1], config)
        self._pending[mode] = (h, config, force, engine_version)
        return h

    def _mismatch(self, mode: str, old: dict[str, Any], new: dict[str, Any]) -> StoreError:
        return StoreError(
            f"results store {self.directory} holds {mode}-mode results of another config "
            f"({_diff(old, new)}); use another --store, or --force to add results "
            "under the new config"
        )

    def _record_configs(self, rows: Sequence[dict[str, Any]]) -> None:
        """Inside a write transaction: record or check the pending configs of ``rows``."""
        for mode in dict.fromkeys(r["mode"] for r in rows):
            pending = self._pending.get(mode)
            if pending is None or not any(r["config_hash"] == pending[0] for r in rows if r["mode"] == mode):
                continue
            h, config, force, engine_version = pending
            row = self._conn.execute("SELECT config_hash, config FROM meta WHERE mode = ?", (mode,)).fetchone()
            if row is not None and row[0] == h:
                continue
            if row is not None and not force:
                raise self._mismatch(mode, json.loads(row[1]), config)
            self._conn.execute(
                "INSERT OR REPLACE INTO meta (mode, config_hash, config, engine_version, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (mode, h, json.dumps(config, sort_keys=True), engine_version, time.time()),
            )

    # ------------------------------------------------------------------ byte accounting
    def record_read(self, checkpoint: str, step: int | None, bytes_read: int, bytes_total: int) -> None:
        """Record the bytes one task fetched from the Hub for a checkpoint (one row per task).

        Args:
            checkpoint: The checkpoint key.
            step: Its step (None: unknown).
            bytes_read: Bytes fetched from the Hub (0 for local files and cached ranges).
            bytes_total: Size of the checkpoint's weight files.
        """
        if self.read_only:
            raise StoreError(f"results store {self.path} was opened read-only; cannot record reads")
        with self._errors(), self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute(
                "INSERT INTO checkpoint_reads (checkpoint, step, bytes_read, bytes_total, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (checkpoint, _step(step), int(bytes_read),
                 int(bytes_total), time.time()),
            )

    def reads(self) -> list[dict[str, Any]]:
        """Byte accounting rows ``{checkpoint, step, bytes_read, bytes_total}``, oldest first."""
        cur = self._query(
            "SELECT checkpoint, step, bytes_read, bytes_total FROM checkpoint_reads ORDER BY id")
        return [{"checkpoint": c, "step": None if s == NO_STEP else s, "bytes_read": r,
                 "bytes_total": t} for c, s, r, t in cur]

    # ------------------------------------------------------------------ content identity
    def identity(self, checkpoint: str, step: int | None) -> str | None:
        """The recorded content fingerprint of a local checkpoint (None: none recorded)."""
        rows = self._query("SELECT identity FROM checkpoint_identity WHERE checkpoint = ? AND step = ?",
                           (checkpoint, _step(step)))
        return rows[0][0] if rows else None

    def set_identity(self, checkpoint: str, step: int | None, identity: str) -> None:
        """Record the content fingerprint of a local checkpoint (replacing an older one)."""
        if self.read_only:
            raise StoreError(f"results store {self.path} was opened read-only; cannot record identities")
        with self._errors(), self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute("INSERT OR REPLACE INTO checkpoint_identity (checkpoint, step, identity) "
                               "VALUES (?, ?, ?)", (checkpoint, _step(step), identity))

    def has_rows(self, checkpoint: str, step: int | None) -> int:
        """Number of rows stored for one checkpoint (any mode or configuration)."""
        return int(self._query("SELECT COUNT(*) FROM results WHERE checkpoint = ? AND step = ?",
                               (checkpoint, _step(step)))[0][0])

    # ------------------------------------------------------------------ rows
    def done_seeds(self, checkpoint: str, step: int | None, mode: str, chash: str) -> set[int]:
        """Seeds already stored for one checkpoint, mode and configuration."""
        cur = self._query(
            "SELECT seed FROM results WHERE checkpoint = ? AND step = ? AND mode = ? AND config_hash = ?",
            (checkpoint, _step(step), mode, chash),
        )
        return {int(r[0]) for r in cur}

    def append(self, row: dict[str, Any]) -> bool:
        """Append one row atomically (one transaction); a row already stored is left alone.

        Args:
            row: ``checkpoint, step, mode, seed, config_hash, record`` (the per-sample dict with
                ``alpha0`` and ``width``) and optionally ``engine_version``.

        Returns:
            True if the row was inserted, False if the key was already present.
        """
        return self.append_many([row]) == 1

    def append_many(self, rows: Sequence[dict[str, Any]]) -> int:
        """Append rows in one transaction; returns how many were new."""
        values = []
        for r in rows:
            rec = r["record"]
            step = r.get("step")
            values.append((
                r["checkpoint"], _step(step), r["mode"], int(r["seed"]),
                r["config_hash"], float(rec["alpha0"]), float(rec["width"]),
                json.dumps(rec, allow_nan=True), r.get("engine_version", ""), time.time(),
            ))
        if self.read_only:
            raise StoreError(f"results store {self.path} was opened read-only; cannot append rows")
        with self._errors(), self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._record_configs(rows)
            before = self._conn.total_changes
            self._conn.executemany(
                "INSERT OR IGNORE INTO results (checkpoint, step, mode, seed, config_hash, alpha0, "
                "width, record, engine_version, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            return self._conn.total_changes - before

    def rows(self, mode: str | None = None, chash: str | None = None,
             checkpoint: str | None = None) -> list[dict[str, Any]]:
        """Stored rows (with the parsed ``record``), ordered by step, checkpoint, mode, seed.

        Args:
            mode: Only this mode.
            chash: Only this configuration hash.
            checkpoint: Only this checkpoint key.

        Returns:
            Dicts with ``checkpoint, step (None if unknown), mode, seed, config_hash, alpha0,
            width, record, engine_version``.
        """
        where, args = [], []
        for col, val in (("mode", mode), ("config_hash", chash), ("checkpoint", checkpoint)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        sql = ("SELECT checkpoint, step, mode, seed, config_hash, alpha0, width, record, engine_version "
               "FROM results")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY step, checkpoint, mode, seed"
        out = []
        for c, st, m, se, h, a, w, rec, ev in self._query(sql, args):
            out.append({"checkpoint": c, "step": None if st == NO_STEP else int(st), "mode": m,
                        "seed": int(se), "config_hash": h, "alpha0": a, "width": w,
                        "record": json.loads(rec), "engine_version": ev})
        return out

    def count(self) -> int:
        """Number of stored rows."""
        return int(self._query("SELECT COUNT(*) FROM results")[0][0])

    # ------------------------------------------------------------------ export
    def export(self, out: str | Path, mode: str | None = None, current_only: bool = True) -> Path:
        """Write the rows to CSV (scalars per sample) or JSON (full records), by file suffix.

        Args:
            out: ``*.csv`` or ``*.json``.
            mode: Only this mode.
            current_only: Only rows of each mode's current configuration.

        Returns:
            The written path.

        Raises:
            StoreError: An unknown suffix.
        """
        out = Path(out)
        rows = self._export_rows(mode, current_only)
        if out.suffix.lower() == ".json":
            return atomic_write_json(out, rows)
        if out.suffix.lower() != ".csv":
            raise StoreError(f"cannot export to {out.name}: expected a .csv or .json file name")
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(_CSV_FIELDS), lineterminator="\n")
        writer.writeheader()
        for r in rows:
            rec = r["record"]
            writer.writerow({k: r.get(k, rec.get(k)) for k in _CSV_FIELDS})
        return atomic_write_text(out, buf.getvalue())

    def _export_rows(self, mode: str | None, current_only: bool) -> list[dict[str, Any]]:
        modes = [mode] if mode else self.modes()
        rows: list[dict[str, Any]] = []
        for m in modes:
            cfg = self.config(m)
            rows.extend(self.rows(m, cfg[0] if (current_only and cfg) else None))
        return rows

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

