"""Time the first general-graph call and the first NetworkX-backend call of a fresh process.

Each case runs in two fresh processes one after the other; the first finds whatever numba cache
the setup left (``python -m mfa_engine.warmup``), the second finds it filled by the first. With a
complete warm-up the two take about the same time. The times are of the call itself, imports
excluded.

    .venv/bin/python benchmarks/first_call.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "analyze_graph, 2,000-node random graph": """
import numpy as np, scipy.sparse as sp
from mfa_engine.api import analyze_graph
rng = np.random.default_rng(0)
m = sp.random_array((2000, 2000), density=0.01, rng=rng, format="csr")
m.data = rng.uniform(0.5, 2.0, m.nnz)
t = time.perf_counter(); analyze_graph(m); dt = time.perf_counter() - t
""",
    "NetworkX backend, all pairs with a cutoff": """
import networkx as nx, numpy as np
rng = np.random.default_rng(0)
g = nx.random_geometric_graph(2000, 0.05, seed=1)
for u, v in g.edges: g[u][v]["weight"] = float(rng.uniform(0.5, 2.0))
t = time.perf_counter()
dict(nx.all_pairs_dijkstra_path_length(g, cutoff=0.1, backend="mfa"))
nx.single_source_dijkstra_path_length(g, 0, backend="mfa")
dt = time.perf_counter() - t
""",
}


def _once(code: str) -> float:
    script = "import time\n" + code + "\nprint('SECONDS', dt)\n"
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(r.stdout.split("SECONDS")[-1])


def main() -> None:
    rows = {}
    for name, code in CASES.items():
        first, second = _once(code), _once(code)
        ok = first <= 2 * second + 1.0
        rows[name] = {"first_s": round(first, 3), "second_s": round(second, 3), "within_2x_plus_1s": ok}
        print(f"{name}: first {first:.2f} s, second {second:.2f} s ({'ok' if ok else 'SLOW FIRST CALL'})")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
