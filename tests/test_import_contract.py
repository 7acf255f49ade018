"""The import contract of the package: imports run downward, and no module imports itself back.

Every import of an ``mfa_engine`` module counts, at module level or inside a function (a
function-local import hides a cycle from Python, not from this test). Two rules:

* No cycles among the package's modules (a package's ``__init__`` counts as a module).
* The top-level units (the modules and subpackages of ``mfa_engine``) sit in the layers of
  :data:`LAYERS`, lowest first: a unit imports only units of a lower layer (or itself).

The root package (``mfa_engine/__init__.py``: the version and lazy exports) imports nothing
statically; modules may import ``__version__`` from it, but not its lazy exports (those are
the public facade, at the top).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mfa_engine"

#: The layers of the top-level units, lowest first. A new module or subpackage goes here.
LAYERS: list[set[str]] = [
    {"threads"},  # imported by mfa_engine/__init__ (the OpenMP wait policy is set at import)
    {"mfa_engine", "errors", "progress", "sass", "synthetic"},
    {"limits", "io", "_device", "layered", "arch"},
    {"kernels", "analysis"},
    {"aot", "options", "checkpoints", "plots"},
    {"paths", "nin", "reference"},
    {"graph_spectrum", "summary"},
    {"modes", "nx"},
    {"checkpoint_analysis"},
    {"api", "batch", "tm"},
    {"warmup", "tracking"},
    {"cli"},
    {"__main__"},
]

#: Names the root package defines itself (importable from it by any module).
ROOT_NAMES = {"__version__"}


def _modules() -> dict[str, Path]:
    mods = {}
    for p in PACKAGE.rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def _edges(mods: dict[str, Path]) -> tuple[dict[str, set[str]], list[str]]:
    """Import edges between modules (most specific module named) and root facade imports."""

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = defaultdict(set)
    facade: list[str] = []
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                for alias in node.names:
                    target = resolve(f"{module}.{alias.name}")
                    if target == "mfa_engine" and alias.name not in ROOT_NAMES and mod != "mfa_engine":
                        facade.append(f"{mod} imports {alias.name!r} from the root package")
                    if target and target != mod:
                        edges[mod].add(target)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    target = resolve(alias.name)
                    if target and target != mod:
                        edges[mod].add(target)
    return edges, facade


def _cycles(edges: dict[str, set[str]], nodes: list[str]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in nodes:
        if v not in index:
            visit(v)
    return found


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


@pytest.fixture(scope="module")
def graph() -> tuple[dict[str, Path], dict[str, set[str]], list[str]]:
    mods = _modules()
    edges, facade = _edges(mods)
    return mods, edges, facade


def test_the_graph_is_read(graph) -> None:
    mods, edges, _ = graph
    assert len(mods) > 100 and sum(len(v) for v in edges.values()) > 200
    assert "mfa_engine.graph_spectrum" in edges["mfa_engine.modes.paper"]


def test_no_import_cycles_among_modules(graph) -> None:
    mods, edges, _ = graph
    assert _cycles(edges, sorted(mods)) == []


def test_every_unit_has_a_layer(graph) -> None:
    mods, _, _ = graph
    layered = set().union(*LAYERS)
    assert sorted({_unit(m) for m in mods} - layered) == []
    assert sum(len(layer) for layer in LAYERS) == len(layered)  # each unit in one layer


def test_imports_run_downward(graph) -> None:
    _, edges, facade = graph
    level = {u: i for i, layer in enumerate(LAYERS) for u in layer}
    upward = sorted(
        f"{a} -> {b}"
        for a, targets in edges.items()
        for b in targets
        if _unit(a) != _unit(b) and level[_unit(b)] >= level[_unit(a)]
    )
    assert upward == []
    assert facade == []


def test_the_checks_catch_a_cycle_and_an_upward_import() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(edges, ["a", "b", "c", "d"]) == [["a", "b", "c"]]
    assert _unit("mfa_engine.paths.cpu") == "paths" and _unit("mfa_engine") == "mfa_engine"
