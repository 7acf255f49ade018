"""Random NetworkX graphs for the backend tests."""

from __future__ import annotations

import networkx as nx
import numpy as np


def random_nx(rng: np.random.Generator, n: int, p: float, *, directed: bool, multi: bool = False,
              kind: str = "float", labels: str = "int", missing: float = 0.0, isolated: int = 2) -> nx.Graph:
    """Random graph with weights of ``kind`` ('int' small integers with ties, 'float', 'zero'
    including zero-length edges), some edges without a weight (``missing`` share), isolated
    nodes, and int or string labels inserted in a shuffled order."""
    cls = {(False, False): nx.Graph, (True, False): nx.DiGraph, (False, True): nx.MultiGraph,
           (True, True): nx.MultiDiGraph}[(directed, multi)]
    g = cls()
    names = [f"v{i}" if labels == "str" else int(i) for i in rng.permutation(n + isolated)]
    g.add_nodes_from(names)
    e = rng.random((n, n)) < p
    for i, j in zip(*np.nonzero(e)):
        if kind == "int":
            w: float = int(rng.integers(1, 4))
        elif kind == "zero":
            w = int(rng.integers(0, 3))
        else:
            w = float(rng.uniform(0.1, 2.0))
        if rng.random() < missing:
            g.add_edge(names[i], names[j])
        else:
            g.add_edge(names[i], names[j], weight=w)
        if multi and rng.random() < 0.3:
            g.add_edge(names[i], names[j], weight=w + 1)
    return g
