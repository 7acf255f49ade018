"""Concurrent runs on one results store with fuzzed configurations: rows of one mode never mix
configurations (unless forced), no row is lost or stored twice, counts add up."""

from __future__ import annotations

import multiprocessing as mp

from hypothesis import given
from hypothesis import strategies as st

from mfa_engine.batch.store import ResultsStore
from mfa_engine.errors import StoreError

from .harness import budget, record


def _writer(store: str, mode: str, cfg: dict, force: bool, seeds: list[int], start, out) -> None:
    start.wait()
    try:
        with ResultsStore(store) as st_:
            h = st_.ensure_config(mode, cfg, force=force)
            added = 0
            for s in seeds:
                row = {"checkpoint": "/c/step0", "step": 0, "mode": mode, "seed": s, "config_hash": h,
                       "record": {"seed": s, "alpha0": 1.0 + s, "width": 0.5}}
                added += st_.append(row)
        out.put(("ok", h, added))
    except StoreError as exc:
        out.put(("refused", str(exc), 0))


run = st.tuples(st.sampled_from(["paper", "reference"]), st.integers(0, 2), st.booleans(),
                st.lists(st.integers(0, 5), min_size=1, max_size=5, unique=True))


@budget(4)
@given(runs=st.lists(run, min_size=2, max_size=3))
def test_concurrent_runs(tmp_path_factory, runs):
    store = str(tmp_path_factory.mktemp("store") / "s")
    ctx = mp.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(store, m, {"mode": m, "n_radii": 32 + c}, f, seeds, start, out))
             for m, c, f, seeds in runs]
    for p in procs:
        p.start()
    start.set()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with ResultsStore(store, read_only=True) if any(r[0] == "ok" and r[2] for r in results) else ResultsStore(store) as st_:
        rows = st_.rows()
        added = sum(r[2] for r in results)
        assert len(rows) == added  # every row counted once, by the run that stored it
        for mode in {r["mode"] for r in rows}:
            hashes = {r["config_hash"] for r in rows if r["mode"] == mode}
            forced = any(f for m, _, f, _ in runs if m == mode)
            assert len(hashes) == 1 or forced, f"{mode}: rows of {len(hashes)} configs mixed"
            cfg = st_.config(mode)
            assert cfg is not None and cfg[0] in hashes
        assert set(st_.modes()) == {r["mode"] for r in rows}  # a config only where rows exist
    record("store", "ok" if all(r[0] == "ok" for r in results) else "error")
