"""The setup warm-up (``python -m mfa_engine.warmup``) compiles every numba kernel a user reaches.

Two subprocesses record each numba type signature that Python code asks for
(``tests/_jit_record.py``): one runs the warm-up, one runs typical first calls (a general graph
through ``analyze_graph``, the NetworkX backend, a large renumbered graph). Every signature of
the second must be among the first, and every numba function that Python code calls (found in
the package's source, so a new kernel cannot be missed) must be warmed.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mfa_engine"


def _record(what: str, out: Path) -> dict:
    # As a module from the root: a script run by path would put tests/ (and tests/kernels/) first.
    r = subprocess.run([sys.executable, "-m", "tests._jit_record", str(out), what],
                       cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-4000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    tmp = tmp_path_factory.mktemp("jit")
    return _record("warmup", tmp / "warmup.json"), _record("user", tmp / "user.json")


def _is_jit(decorator: ast.expr) -> bool:
    return "jit" in ast.unparse(decorator)  # numba.njit, njit(...), triton.jit


def _is_numba_jit(decorator: ast.expr) -> bool:
    return _is_jit(decorator) and "triton" not in ast.unparse(decorator)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


class _Refs(ast.NodeVisitor):
    """Collects ``module.name`` of the numba functions that one module's plain code refers to."""

    def __init__(self, mod: str, names: dict[str, str], modules: dict[str, str],
                 numba_defs: dict[str, set[str]], found: set[str]) -> None:
        self.mod, self.names, self.modules, self.numba_defs, self.found = mod, names, modules, numba_defs, found

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if not any(_is_jit(d) for d in node.decorator_list):  # compiled bodies are not entry points
            self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        owner = self.mod if node.id in self.numba_defs[self.mod] else self.names.get(node.id)
        if owner is not None and node.id in self.numba_defs.get(owner, ()):
            self.found.add(f"{owner}.{node.id}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and node.value.id in self.modules:
            owner = self.modules[node.value.id]
            if node.attr in self.numba_defs.get(owner, ()):
                self.found.add(f"{owner}.{node.attr}")
        self.generic_visit(node)


def python_called_kernels() -> set[str]:
    """``module.name`` of every numba function that non-compiled code of the package calls.

    A numba function referred to only inside other compiled functions is compiled as part of
    them; one referred to from plain Python is an entry point the warm-up must call. Names are
    resolved per module (its own definitions, ``from M import f``, and ``alias.f`` for an
    imported module), so a plain function that happens to share a kernel's name is not counted.
    """
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    numba_defs: dict[str, set[str]] = {}
    trees = {}
    for mod, path in files.items():
        trees[mod] = tree = ast.parse(path.read_text())
        numba_defs[mod] = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)
                           and any(_is_numba_jit(d) for d in n.decorator_list)}
    found: set[str] = set()
    for mod, tree in trees.items():
        is_package = files[mod].name == "__init__.py"
        modules: dict[str, str] = {}  # alias -> module
        names: dict[str, str] = {}  # local name -> defining module
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    modules[a.asname or a.name] = a.name
            elif isinstance(node, ast.ImportFrom):
                src = _resolve(mod, is_package, node)
                for a in node.names:
                    if f"{src}.{a.name}" in files:
                        modules[a.asname or a.name] = f"{src}.{a.name}"
                    else:
                        names[a.asname or a.name] = src

        _Refs(mod, names, modules, numba_defs, found).visit(tree)
    return found


def _warmed(calls: list) -> set[str]:
    """``module.name`` (or ``module.outer.<locals>.name`` for a nested kernel) of recorded calls."""
    return {name for name, _ in calls}


def test_static_inventory_finds_the_known_entry_points() -> None:
    found = python_called_kernels()
    k = "mfa_engine.kernels."
    # Called from the path drivers, the NetworkX backend and the TM loss respectively.
    assert {k + "cpu_sssp.ball_histogram", k + "cpu_minplus.dag_minplus_counts", k + "cpu_sorted_balls.sorted_balls",
            k + "cpu_sssp.ordered_balls", k + "tm_cpu.tm_fwd_rows"} <= found
    # Only ever called from compiled code: heap operations, the per-thread ball search.
    assert k + "cpu_heap._push" not in found and k + "cpu_sorted_balls._worker" not in found


@pytest.mark.slow
def test_warmup_calls_every_python_called_kernel(recorded: tuple[dict, dict]) -> None:
    warm, _ = recorded
    warmed = _warmed(warm["calls"])
    nested = {w.split(".<locals>.")[0].rsplit(".", 1)[0] + "." + w.rsplit(".", 1)[-1] for w in warmed if "<locals>" in w}
    missing = python_called_kernels() - warmed - nested
    assert not missing, f"mfa_engine/warmup.py never reaches: {sorted(missing)}"


@pytest.mark.slow
def test_first_user_calls_need_no_compilation(recorded: tuple[dict, dict]) -> None:
    warm, user = recorded
    warmed = {tuple(c) for c in warm["calls"]}
    missing = [c for c in map(tuple, user["calls"]) if c not in warmed]
    assert user["calls"], "the user calls reached no numba kernel"
    assert not missing, "signatures the warm-up does not compile:\n" + "\n".join(f"{n} {s}" for n, s in missing)
