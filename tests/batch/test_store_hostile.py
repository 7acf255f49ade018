"""Results store under hostile conditions: concurrent configs, read-only and corrupt stores,
a store path under a file, a 0-byte store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mfa_engine.batch.store import STORE_FILE, ResultsStore
from mfa_engine.errors import StoreError

from .test_store import row as _row


def row(seed, **kw):
    r = _row(seed, **kw)
    r["record"].update(alpha=[0.5, 1.0, 1.5], f_alpha=[0.2, 1.0, 0.3])
    return r


def test_two_configs_on_a_fresh_store_cannot_both_store_rows(tmp_path):
    a, b = ResultsStore(tmp_path / "s"), ResultsStore(tmp_path / "s")
    try:
        ha = a.ensure_config("paper", {"mode": "paper", "n_radii": 64})
        hb = b.ensure_config("paper", {"mode": "paper", "n_radii": 32})  # both checks pass
        assert a.append(row(0, mode="paper", chash=ha))
        with pytest.raises(StoreError, match=r"another config \(n_radii 64 -> 32\)"):
            b.append(row(1, mode="paper", chash=hb))
        assert a.count() == 1 and a.config("paper")[0] == ha
        assert {r["config_hash"] for r in a.rows()} == {ha}
    finally:
        a.close()
        b.close()


def test_config_diff_is_compact(tmp_path):
    with ResultsStore(tmp_path / "s") as st:
        h = st.ensure_config("paper", {"mode": "paper", "q": [i / 10 for i in range(-30, 31)], "eps": 0.0})
        st.append(row(0, mode="paper", chash=h))
        with pytest.raises(StoreError) as info:
            st.ensure_config("paper", {"mode": "paper", "q": [i / 10 for i in range(-20, 21)], "eps": 0.0})
    msg = str(info.value)
    assert "q [61 values -3.0..3.0] -> [41 values -2.0..2.0]" in msg and "eps" not in msg
    assert len(msg) < 300


def test_zero_byte_store_is_refused_read_only_and_left_alone(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / STORE_FILE).write_bytes(b"")
    with pytest.raises(StoreError, match="empty or not a results store"):
        ResultsStore(tmp_path / "s", read_only=True)
    assert (tmp_path / "s" / STORE_FILE).stat().st_size == 0
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [STORE_FILE]


def _filled_store(path: Path, n: int = 400) -> None:
    with ResultsStore(path) as st:
        h = st.ensure_config("reference", {"mode": "reference"})
        st.append_many([row(i, chash=h) for i in range(n)])


def test_corrupt_page_is_a_one_line_store_error(tmp_path):
    _filled_store(tmp_path / "s")
    db = tmp_path / "s" / STORE_FILE
    data = bytearray(db.read_bytes())
    page = 4096
    assert len(data) > 6 * page
    for p in range(2, len(data) // page):  # keep page 1 (schema), wreck the rest
        data[p * page : p * page + 200] = b"\xff" * 200
    db.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="is corrupt") as info:
        with ResultsStore(tmp_path / "s", read_only=True) as st:
            st.rows()
    assert "\n" not in str(info.value)


def test_store_under_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(StoreError, match="cannot create results store"):
        ResultsStore(tmp_path / "f" / "store")


def test_read_only_open_never_writes(tmp_path):
    _filled_store(tmp_path / "s", n=3)
    before = {p.name: p.read_bytes() for p in (tmp_path / "s").iterdir()}
    with ResultsStore(tmp_path / "s", read_only=True) as st:
        assert st.count() == 3
        with pytest.raises(StoreError, match="read-only"):
            st.append(row(9))
    after = {p.name: p.read_bytes() for p in (tmp_path / "s").iterdir()}
    assert after == before


# --------------------------------------------------------------------- without write permission
def _run_unprivileged(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run Python code so that file permissions apply (root: without the DAC-override
    capabilities, via setpriv)."""
    prefix: list[str] = []
    if os.getuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot drop the permission override")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    env = {**os.environ, "MPLCONFIGDIR": str(cwd / "mpl")}
    return subprocess.run([*prefix, sys.executable, "-c", code], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=300)


@pytest.fixture
def shared_dir(tmp_path):
    yield tmp_path
    for p in tmp_path.rglob("*"):
        if p.is_dir():
            p.chmod(0o755)


def _read_only_store(shared_dir: Path) -> Path:
    store = shared_dir / "store"
    _filled_store(store, n=3)
    with ResultsStore(store) as st:
        st.append(row(0, step=2000, ckpt="/c/step2000", chash=st.ensure_config("reference", {"mode": "reference"})))
    store.chmod(0o555)
    (store / STORE_FILE).chmod(0o444)
    out = shared_dir / "out"
    out.mkdir()
    out.chmod(0o777)
    return store


@pytest.mark.slow
def test_plot_and_export_a_read_only_store(shared_dir):
    pytest.importorskip("matplotlib")
    store = _read_only_store(shared_dir)
    code = (
        "import sys; from mfa_engine.cli import main; "
        f"rc1 = main(['plot', {str(store)!r}, '--out', {str(shared_dir / 'out')!r}, '--formats', 'png']); "
        "from mfa_engine.batch.store import ResultsStore; "
        f"st = ResultsStore({str(store)!r}, read_only=True); st.export({str(shared_dir / 'out' / 'x.csv')!r}); "
        "sys.exit(rc1)"
    )
    res = _run_unprivileged(code, shared_dir / "out")
    assert res.returncode == 0, res.stderr
    assert (shared_dir / "out" / "reference-series.png").stat().st_size > 0
    assert (shared_dir / "out" / "x.csv").read_text().count("\n") == 5


@pytest.mark.slow
def test_batch_onto_a_read_only_store_says_read_only(shared_dir):
    store = _read_only_store(shared_dir)
    code = (
        "from mfa_engine.batch.store import ResultsStore; "
        "from mfa_engine.errors import StoreError\n"
        "try:\n"
        f"    st = ResultsStore({str(store)!r}); h = st.ensure_config('paper', {{'mode': 'paper'}})\n"
        "    st.append({'checkpoint': 'c', 'step': 1, 'mode': 'paper', 'seed': 0, 'config_hash': h,"
        " 'record': {'alpha0': 1.0, 'width': 1.0}})\n"
        "except StoreError as e:\n"
        "    print(e)\n"
    )
    res = _run_unprivileged(code, shared_dir / "out")
    assert res.returncode == 0, res.stderr
    assert "read-only" in res.stdout and "not readable" not in res.stdout
