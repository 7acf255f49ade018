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


def python_called_kernels() -> set[str]:
    """Names of numba functions that non-compiled code of the package refers to.

    A numba function referred to only inside other compiled functions is compiled as part of
    them; one referred to from plain Python is an entry point the warm-up must call.
    """
    numba_defs: set[str] = set()
    refs: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        uses_numba = "numba" in path.read_text()
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and uses_numba and any(
                    _is_jit(d) and "triton" not in ast.unparse(d) for d in node.decorator_list):
                numba_defs.add(node.name)

        class Visitor(ast.NodeVisitor):
            def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
                if not any(_is_jit(d) for d in node.decorator_list):
                    self.generic_visit(node)

            def visit_Name(self, node: ast.Name) -> None:
                refs.add(node.id)

            def visit_Attribute(self, node: ast.Attribute) -> None:
                refs.add(node.attr)
                self.generic_visit(node)

        Visitor().visit(tree)
    return numba_defs & refs


def test_static_inventory_finds_the_known_entry_points() -> None:
    found = python_called_kernels()
    # Called from the path drivers, the NetworkX backend and the TM loss respectively.
    assert {"ball_histogram", "dag_minplus_counts", "sorted_balls", "ordered_balls", "tm_fwd_rows"} <= found
    # Heap operations are only ever called from compiled code.
    assert "_push" not in found


@pytest.mark.slow
def test_warmup_calls_every_python_called_kernel(recorded: tuple[dict, dict]) -> None:
    warm, _ = recorded
    warmed = {name.rsplit(".", 1)[-1] for name, _ in warm["calls"]}
    missing = python_called_kernels() - warmed
    assert not missing, f"mfa_engine/warmup.py never reaches: {sorted(missing)}"


@pytest.mark.slow
def test_first_user_calls_need_no_compilation(recorded: tuple[dict, dict]) -> None:
    warm, user = recorded
    warmed = {tuple(c) for c in warm["calls"]}
    missing = [c for c in map(tuple, user["calls"]) if c not in warmed]
    assert user["calls"], "the user calls reached no numba kernel"
    assert not missing, "signatures the warm-up does not compile:\n" + "\n".join(f"{n} {s}" for n, s in missing)
