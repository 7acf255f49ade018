"""Run in a subprocess: record every numba type signature that Python code asks for.

``python -m tests._jit_record OUT.json warmup|user`` (run from the repository root) imports
every module of the package that defines numba functions, patches numba's dispatcher so that each first call from Python with a
new type signature is recorded (compiled or loaded from the on-disk cache alike), runs either the
setup warm-up or a set of typical user calls, and writes ``{"dispatchers": [...], "calls": [...]}``.
Kernels called only from other compiled kernels never pass through this hook: they are compiled
inside their callers.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from numba.core.dispatcher import Dispatcher
from numba.core.registry import CPUDispatcher

import mfa_engine

PACKAGE = Path(mfa_engine.__file__).resolve().parent


def numba_modules() -> list[str]:
    """Modules of the package whose source defines numba-compiled functions."""
    out = []
    for p in sorted(PACKAGE.rglob("*.py")):
        text = p.read_text()
        if "numba" in text and ("njit" in text or "@jit" in text or "numba.jit" in text):
            out.append(".".join(("mfa_engine", *p.relative_to(PACKAGE).with_suffix("").parts)))
    return out


def dispatchers() -> dict[str, CPUDispatcher]:
    """``module.name`` -> dispatcher, for every numba function the package defines."""
    found = {}
    for name in numba_modules():
        mod = importlib.import_module(name)
        for attr, obj in vars(mod).items():
            if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == name:
                found[f"{name}.{attr}"] = obj
    return found


def user_calls() -> None:
    """What users run first: a general graph, a layered DAG, the NetworkX backend, TM loss."""
    import networkx as nx
    import numpy as np
    import scipy.sparse as sp

    from mfa_engine.api import analyze_graph

    rng = np.random.default_rng(0)
    n = 2000
    m = sp.random_array((n, n), density=0.01, rng=rng, format="csr")
    m.data = rng.uniform(0.5, 2.0, m.nnz)
    analyze_graph(m)
    analyze_graph(sp.csr_matrix(m), directed=False)
    g = nx.random_geometric_graph(400, 0.1, seed=2)
    for u, v in g.edges:
        g[u][v]["weight"] = float(rng.uniform(0.5, 2.0))
    nx.config.warnings_to_ignore.add("cache")
    nx.single_source_dijkstra_path_length(g, 0, backend="mfa")
    nx.single_source_dijkstra_path_length(g, 0, cutoff=0.3, backend="mfa")
    dict(nx.all_pairs_dijkstra_path_length(g, cutoff=0.3, backend="mfa"))
    dict(nx.all_pairs_shortest_path_length(g, backend="mfa"))
    nx.single_source_shortest_path_length(g, 0, backend="mfa")
    nx.dijkstra_path_length(g, 0, 5, backend="mfa")
    from mfa_engine.nx import ball_sizes, multifractal_spectrum

    ball_sizes(g, radii=[0.2, 0.5], backend="mfa")
    multifractal_spectrum(g, backend="mfa")
    h = nx.grid_2d_graph(20, 20)
    for u, v in h.edges:
        h[u][v]["weight"] = int(rng.integers(1, 4))
    dict(nx.all_pairs_dijkstra_path_length(h, cutoff=4, backend="mfa"))
    big = nx.grid_2d_graph(130, 130)  # above the renumbering threshold
    nx.single_source_dijkstra_path_length(big, (0, 0), cutoff=10, backend="mfa")


def main() -> None:
    out, what = Path(sys.argv[1]), sys.argv[2]
    found = dispatchers()
    calls: set[tuple[str, str]] = set()
    names = {id(d): k for k, d in found.items()}
    original = Dispatcher._compile_for_args

    def recording(self, *args, **kws):  # type: ignore[no-untyped-def]
        key = names.get(id(self)) or f"{self.py_func.__module__}.{self.py_func.__qualname__}"
        calls.add((key, str(tuple(self.typeof_pyval(a) for a in args))))
        return original(self, *args, **kws)

    Dispatcher._compile_for_args = recording
    if what == "warmup":
        from mfa_engine.warmup import warm_jit_cache

        warm_jit_cache(log=lambda line: None)
    else:
        user_calls()
    out.write_text(json.dumps({"dispatchers": sorted(found), "calls": sorted(calls)}))


if __name__ == "__main__":
    main()
