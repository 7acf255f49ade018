"""No name the repository puts on ``sys.path`` shadows an installed distribution.

Hugging Face's ``kernels`` package (a dependency of transformers 5.25+) once lost to the
repository's top-level ``kernels/`` folder whenever the repository root was on ``sys.path``
(``python -m pytest``, ``python -m mfa_engine``, benchmark scripts). Each way of running the code
is checked in its own subprocess from the repository root, and a general guard compares every
top-level name the project installs or exposes with the import names of the dependency tree.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

#: What every probe checks, in the sys.path of the way it was started: where ``kernels``
#: resolves, and that transformers' model classes import (they import HF ``kernels`` when it
#: is installed).
PROBE = """
import importlib.util, json, sys
spec = importlib.util.find_spec("kernels")
if spec is None:
    where = None
else:
    where = [spec.origin] if spec.origin else list(spec.submodule_search_locations or [])
from transformers import GPTNeoXForCausalLM  # noqa: F401
print("PROBE" + json.dumps({"kernels": where}))
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run(cmd: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600)


def _hf_kernels_installed() -> bool:
    try:
        importlib.metadata.distribution("kernels")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _check_probe(r: subprocess.CompletedProcess) -> None:
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if "PROBE{" in ln]
    assert lines, r.stdout[-2000:]
    where = json.loads(lines[-1].split("PROBE", 1)[1])["kernels"]
    # The repository's own files, not a virtual environment that happens to live in it.
    venv = Path(sys.prefix).resolve()
    inside = [p for p in (where or []) if Path(p).resolve().is_relative_to(ROOT) and not Path(p).resolve().is_relative_to(venv)]
    if _hf_kernels_installed():
        # A regular package anywhere on sys.path wins over a namespace portion: HF's must win.
        assert not inside, f"`kernels` resolves into the repository: {where}"
    else:
        # Without HF's package, kernels/ can at most be an empty namespace: no Python inside.
        assert not list((ROOT / "kernels").rglob("*.py"))


@pytest.mark.slow
def test_python_dash_m_pytest(tmp_path: Path) -> None:
    probe = tmp_path / "test_probe.py"
    probe.write_text("def test_probe():\n" + "\n".join("    " + ln for ln in PROBE.strip().splitlines()) + "\n")
    r = _run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", str(probe),
              "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml")])
    _check_probe(r)


@pytest.mark.slow
def test_pytest_console_script(tmp_path: Path) -> None:
    # pytest's prepend import mode puts the repository root on sys.path for tests/ (a package).
    probe = ROOT / "tests" / "_probe_import_names.py"
    probe.write_text("def test_probe():\n" + "\n".join("    " + ln for ln in PROBE.strip().splitlines()) + "\n")
    try:
        r = _run([str(BIN / "pytest"), "-q", "-s", "-p", "no:cacheprovider", str(probe)])
    finally:
        probe.unlink()
    _check_probe(r)


@pytest.mark.slow
def test_python_dash_m_from_the_root() -> None:
    # ``python -m`` and ``python -c`` both put the working directory first on sys.path.
    _check_probe(_run([sys.executable, "-c", PROBE]))
    for args in (["--help"], ["tm", "build-cache", "--help"]):
        r = _run([sys.executable, "-m", "mfa_engine", *args])
        assert r.returncode == 0, r.stderr[-3000:]
        assert "usage:" in r.stdout


@pytest.mark.slow
def test_benchmark_script_path() -> None:
    # A script in benchmarks/ runs with benchmarks/ first on sys.path and puts the root next.
    code = f"import sys; sys.path[:0] = [{str(ROOT / 'benchmarks')!r}, {str(ROOT)!r}]\n" + PROBE
    _check_probe(_run([sys.executable, "-c", code], cwd=ROOT / "benchmarks"))
    r = _run([sys.executable, str(ROOT / "benchmarks" / "science_tables.py"), "--help"])
    assert r.returncode == 0, r.stderr[-3000:]


# --- the general guard -------------------------------------------------------------------


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _tracked() -> list[Path]:
    """Files the repository holds (git's list; every file when git is not at hand)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return [p for p in ROOT.rglob("*") if p.is_file() and ".venv" not in p.parts]
    return [ROOT / f for f in out.decode().split("\0") if f]


def _exposed_names() -> dict[str, str]:
    """Top-level names the project installs or puts on sys.path -> where they come from.

    The repository root (python -m, pytest's rootdir), and benchmarks/, examples/ and scripts/
    (the folder of a script run by path is first on sys.path): their importable entries, i.e.
    ``*.py`` files and folders named like identifiers (a folder without ``__init__.py`` is still a
    namespace portion). tests/ is a package, so pytest puts the root on sys.path, never tests/.
    """
    names: dict[str, str] = {}
    folders = (ROOT, ROOT / "benchmarks", ROOT / "examples", ROOT / "scripts")
    entries = set()
    for f in _tracked():
        for folder in folders:
            if f.is_relative_to(folder) and f != folder:
                entries.add(folder / f.relative_to(folder).parts[0])
    for entry in sorted(entries):
        stem = entry.stem if entry.suffix == ".py" else entry.name
        if entry.name.startswith(".") or not stem.isidentifier():
            continue
        if entry.is_dir() or entry.suffix == ".py":
            names[stem] = str(entry.relative_to(ROOT))
    dist = importlib.metadata.distribution("mfa-engine")
    for top in (dist.read_text("top_level.txt") or "").split():
        names.setdefault(top, "installed by mfa-engine")
    return names


def _dependency_tree() -> set[str]:
    """Canonical names of every distribution reachable from mfa-engine's requirements (extras
    included, environment markers ignored), installed or not."""
    seen: set[str] = set()
    todo = ["mfa-engine"]
    while todo:
        name = _canon(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for req in reqs:
            m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
            if m:
                todo.append(m.group(1))
    return seen


def _import_names_of_installed() -> dict[str, list[str]]:
    return {_canon(k): v for k, v in importlib.metadata.packages_distributions().items()}


def test_no_exposed_name_collides_with_the_dependency_tree() -> None:
    tree = _dependency_tree()
    assert "transformers" in tree and "numpy" in tree
    installed = _import_names_of_installed()
    clashes = []
    for name, where in _exposed_names().items():
        key = _canon(name)
        owners = [d for d in installed.get(key, []) if _canon(d) != "mfa_engine"]
        if key in tree - {"mfa_engine"} or owners:
            entry = ROOT / where if not where.startswith("installed") else None
            # A folder with no Python in it can only be a namespace portion, which loses to any
            # regular package of that name (HF's `kernels`); anything else would shadow it.
            if entry is not None and entry.is_dir() and not list(entry.rglob("*.py")):
                continue
            clashes.append(f"{name} ({where}) vs {owners or 'a distribution in the dependency tree'}")
    assert not clashes, "repository names shadow distributions: " + "; ".join(clashes)


def test_tests_folder_is_a_package() -> None:
    # pytest's prepend import mode then puts the root on sys.path, not tests/ (whose
    # tests/kernels/ mirrors mfa_engine/kernels/ and would otherwise shadow HF's `kernels`).
    assert (ROOT / "tests" / "__init__.py").is_file()


def test_kernels_folder_holds_no_python() -> None:
    assert (ROOT / "kernels").is_dir()
    assert not list((ROOT / "kernels").rglob("*.py")), "Python kernels belong in mfa_engine/kernels/"
    assert not (ROOT / "kernels" / "__init__.py").exists()
