"""Exact ball sizes of multi_source_counts on the named graphs of tests/graphs.py (unit
distances, undirected), derived by hand rather than from another shortest-path code."""

from __future__ import annotations

import numpy as np
import pytest

from mfa_engine.paths import multi_source_counts, multi_source_distances
from tests.graphs import cycle, flower, gasket, lattice, unit_graph

BACKENDS = ["cpu", "torch"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [1, 2, 7, 40])
def test_cycle_ball_sizes(backend: str, n: int) -> None:
    # On C_n every centre sees 1 + 2 floor(r) nodes within r, until the ball covers the cycle.
    radii = np.array([0.0, 0.5, 1.0, 2.0, 3.5, 19.0, 20.0, 100.0])
    got = multi_source_counts(unit_graph(*cycle(n)), np.arange(n), radii, directed=False, backend=backend)
    expect = np.minimum(n, 1 + 2 * np.floor(radii)).astype(np.int64)
    np.testing.assert_array_equal(got, np.broadcast_to(expect, (n, radii.size)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("side", "dim"), [(1, 2), (5, 2), (9, 2), (4, 3)])
def test_lattice_ball_sizes(backend: str, side: int, dim: int) -> None:
    # On an open grid the graph distance is the L1 distance of the coordinates, so a ball is
    # the set of grid points within L1 distance r (clipped by the boundary).
    n, edges, xy = lattice(side, dim)
    radii = np.array([0.0, 1.0, 2.0, 2.5, 4.0, 30.0])
    got = multi_source_counts(unit_graph(n, edges), np.arange(n), radii, directed=False, backend=backend)
    l1 = np.abs(xy[:, None, :] - xy[None, :, :]).sum(-1)
    expect = (l1[:, None, :] <= radii[None, :, None]).sum(-1)
    np.testing.assert_array_equal(got, expect)
    if side == 9 and dim == 2:  # the centre sees the full L1 ball 1 + 2r(r+1) for r <= 4
        centre = 4 * side + 4
        np.testing.assert_array_equal(got[centre, :5], [1, 5, 13, 13, 41])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("u", "v", "g"), [(2, 2, 3), (3, 3, 2), (2, 3, 3)])
def test_flower_hub_distance(backend: str, u: int, v: int, g: int) -> None:
    # The two original hubs (nodes 0 and 1) of a (u,v)-flower, u <= v, are u^g apart. When
    # u = v every hub-to-hub path has that length and every node lies on one, so the whole
    # flower is within u^g of either hub (and the other hub only at u^g).
    n, edges = flower(u, v, g)
    d = multi_source_distances(unit_graph(n, edges), [0, 1], directed=False, backend=backend)
    assert d[0, 1] == d[1, 0] == u**g
    counts = multi_source_counts(unit_graph(n, edges), [0, 1], [u**g - 1, u**g], directed=False, backend=backend)
    assert np.all(counts[:, 0] < n)
    if u == v:
        assert np.all(counts[:, 1] == n)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("order", [1, 2, 4])
def test_gasket_corner_balls(backend: str, order: int) -> None:
    # From a corner of the order-k gasket (side 2^k) the farthest nodes are 2^k away; at
    # radius 2^(k-1) the ball is the corner's order-(k-1) copy: (3^k + 3) / 2 nodes.
    n, edges = gasket(order)
    side = 2**order
    counts = multi_source_counts(unit_graph(n, edges), [0], [side / 2, side - 1, side], directed=False,
                                 backend=backend)
    np.testing.assert_array_equal(counts[0], [(3**order + 3) // 2, counts[0, 1], n])
    assert counts[0, 1] < n
