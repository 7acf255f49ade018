"""NetworkX backend ``mfa``: the same calls, run by the engine (see docs/networkx.md).

Run:  .venv/bin/python examples/networkx_backend.py
"""

from __future__ import annotations

import networkx as nx
import numpy as np

import mfa_engine.nx as mnx


def main() -> None:
    nx.config.warnings_to_ignore.add("cache")  # converted graphs are cached on g: reuse is intended
    g = nx.random_geometric_graph(3000, 0.04, seed=1)
    pos = nx.get_node_attributes(g, "pos")
    for u, v in g.edges:
        g[u][v]["weight"] = float(np.hypot(*(np.subtract(pos[u], pos[v]))))

    # 1. per call: backend="mfa" (results identical to NetworkX's, same key order and types)
    near = nx.single_source_dijkstra_path_length(g, 0, cutoff=0.1, backend="mfa")
    assert near == nx.single_source_dijkstra_path_length(g, 0, cutoff=0.1)
    print(f"{len(near)} nodes within 0.1 of node 0")

    # 2. every call: backend priority (small graphs stay in NetworkX, see should_run)
    with nx.config.backend_priority(algos=["mfa"]):
        lengths = dict(nx.all_pairs_dijkstra_path_length(g, cutoff=0.1))
    print(f"all pairs within 0.1: {sum(map(len, lengths.values()))} pairs")

    # 3. convert once, then pass the backend graph to NetworkX functions
    h = mnx.from_networkx(g, edge_attrs={"weight": 1})
    print("hops from 0 to 5:", nx.shortest_path_length(h, 0, 5) if nx.has_path(g, 0, 5) else "no path")

    # 4. the engine's own algorithms, for any graph
    balls = mnx.ball_sizes(g, sources=[0, 1, 2], radii=[0.05, 0.1, 0.2])
    print("ball sizes:", balls)
    spec = mnx.multifractal_spectrum(g, convention="sandbox", weight=None, centres=list(range(0, 3000, 10)))
    print("sandbox spectrum: tau(q=2) =", float(spec.tau[np.argmin(np.abs(spec.q - 2))]))


if __name__ == "__main__":
    main()
