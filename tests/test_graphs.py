"""The named oracle graphs of tests/graphs.py have their known sizes and distances."""

from __future__ import annotations

import numpy as np
from scipy.sparse.csgraph import dijkstra

from tests.graphs import flower, gasket, unit_graph


def test_builders_have_the_known_sizes() -> None:
    # (u,v)-flower: E_g = (u+v)^g links, N_g = ((w-2) w^g + w) / (w-1) nodes with w = u+v.
    for u, v, g in [(2, 2, 3), (3, 3, 2), (2, 3, 3)]:
        n, e = flower(u, v, g)
        w = u + v
        assert len(e) == w**g
        assert n == ((w - 2) * w**g + w) // (w - 1)
        assert len(np.unique(e)) == n
    # Gasket of order k: 3^k unit triangles, (3^(k+1) + 3) / 2 nodes, corner distance 2^k.
    for k in (1, 2, 4):
        n, e = gasket(k)
        assert len(e) == 3 * 3**k and n == (3 ** (k + 1) + 3) // 2
    n, e = gasket(4)
    d = dijkstra(unit_graph(n, e), unweighted=True, indices=[0])
    assert d.max() == 16
    n, e = flower(2, 2, 4)
    d = dijkstra(unit_graph(n, e), unweighted=True, indices=[0])
    assert d[0, 1] == 16  # the two original hubs are 2^g apart
