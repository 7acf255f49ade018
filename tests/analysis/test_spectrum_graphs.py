"""Sandbox dimensions of graphs with a known dimension (unit edge lengths).

Graphs come from tests/graphs.py; neighbour counts come from SciPy's BFS/Dijkstra (the oracle for
distances). Every finite graph approaches its dimension from below (the ball mass has
additive lower-order terms, M(r) ~ A r^d + B r^(d-1) + ...), so radii are kept well inside
the finite-size regime, each estimate is also checked to lie below the exact value, and the
relative tolerances leave room above the deficits measured when these tests were written
(given next to each case; centres come from fixed seeds, so the values are reproducible).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from mfa_engine.analysis.spectrum import spectrum_from_counts
from tests.graphs import cycle, flower, gasket, lattice, unit_graph

Q0 = 30  # index of q = 0 in the default grid


def _counts(g: sp.csr_array, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    d = dijkstra(g, directed=False, indices=centres, unweighted=True, limit=radii[-1] + 0.5)
    return np.stack([(d <= r).sum(axis=1) for r in radii], axis=1)


def _sandbox_dims(g, centres, radii) -> np.ndarray:
    radii = np.asarray(radii, dtype=np.float64)
    counts = _counts(g, centres, radii)
    s = spectrum_from_counts(counts, radii, convention="sandbox", n_nodes=g.shape[0])
    assert s.n_centres == len(centres)
    assert np.all(s.r2 > 0.99)
    return s.dims


@pytest.mark.parametrize("n", [2001, 6001])
def test_cycle_dimension_one(n: int) -> None:
    # M(r) = 2r + 1 exactly; the log-slope over these radii is 0.982.
    g = unit_graph(*cycle(n))
    centres = np.random.default_rng(0).choice(n, 100, replace=False)
    dims = _sandbox_dims(g, centres, np.round(np.geomspace(10, 100, 8)))
    assert dims[Q0] == pytest.approx(1.0, rel=0.05)
    assert dims[Q0] < 1.0
    np.testing.assert_allclose(dims, dims[Q0], rtol=1e-10)  # monofractal: all centres alike


@pytest.mark.parametrize(("side", "r_max"), [(81, 24), (121, 40)])
def test_square_lattice_dimension_two(side: int, r_max: int) -> None:
    # Interior centres (farther than r_max from the open boundary) see the full L1 ball,
    # M(r) = 1 + 2r(r+1); its log-slope over [8, r_max] is 1.925 (side 81) and 1.939 (121).
    n, e, xy = lattice(side, 2)
    interior = np.flatnonzero(np.all((xy >= r_max) & (xy < side - r_max), axis=1))
    centres = np.random.default_rng(1).choice(interior, 50, replace=False)
    dims = _sandbox_dims(unit_graph(n, e), centres, np.round(np.geomspace(8, r_max, 6)))
    assert dims[Q0] == pytest.approx(2.0, rel=0.07)
    assert dims[Q0] < 2.0


def test_cube_lattice_dimension_three() -> None:
    # Interior of a 31^3 grid, r = 3..10: M(r) = (2r+1)(2r^2+2r+3)/3, log-slope 2.675
    # (11 % low: the lower-order terms weigh more in 3-D at these small radii, hence 12 %;
    # the value is exact for these radii, every interior centre seeing the same ball).
    side, r_max = 31, 10
    n, e, xyz = lattice(side, 3)
    interior = np.flatnonzero(np.all((xyz >= r_max) & (xyz < side - r_max), axis=1))
    centres = np.random.default_rng(2).choice(interior, 20, replace=False)
    dims = _sandbox_dims(unit_graph(n, e), centres, np.arange(3.0, r_max + 1))
    assert dims[Q0] == pytest.approx(3.0, rel=0.12)
    assert dims[Q0] < 3.0


@pytest.mark.parametrize(
    ("generations", "rel_tol"),
    [
        # Measured D(0) = 1.837 (g = 7, 8 % low) and 1.864 (g = 8, 7 % low). The (2,2)-flower
        # is the diamond hierarchical lattice: hub degrees grow as 2^g, so the sandbox balls
        # carry strong lower-order corrections; at this fixed window the deficit shrinks
        # with the generation (over seeds: g = 6: 11-12 %, 7: 7-9 %, 8: 5-7 %, 9: 4.6 %),
        # hence the looser 12 % at g = 7.
        (7, 0.12),
        (8, 0.10),
    ],
)
def test_22_flower_dimension_two(generations: int, rel_tol: float) -> None:
    n, e = flower(2, 2, generations)
    centres = np.random.default_rng(0).choice(n, 200, replace=False)
    # Radii 2..16, far below the hub-to-hub distance 2^g = 128 / 256.
    dims = _sandbox_dims(unit_graph(n, e), centres, [2.0, 4.0, 8.0, 16.0])
    assert dims[Q0] == pytest.approx(math.log(4) / math.log(2), rel=rel_tol)
    assert dims[Q0] < 2.0


@pytest.mark.parametrize(
    ("generations", "radii", "rel_tol"),
    [
        # Measured D(0) = 1.540 (6 % low) for g = 5 and 1.562 (4 % low) for g = 6.
        (5, [3.0, 5.0, 9.0, 15.0, 27.0], 0.10),
        (6, [9.0, 15.0, 27.0, 45.0, 81.0], 0.08),
    ],
)
def test_33_flower_dimension(generations: int, radii: list[float], rel_tol: float) -> None:
    n, e = flower(3, 3, generations)
    centres = np.random.default_rng(0).choice(n, 150, replace=False)
    dims = _sandbox_dims(unit_graph(n, e), centres, radii)  # hub distance 3^g = 243 / 729
    assert dims[Q0] == pytest.approx(math.log(6) / math.log(3), rel=rel_tol)
    assert dims[Q0] < math.log(6) / math.log(3)


@pytest.mark.parametrize(
    ("order", "radii", "rel_tol"),
    [
        # Measured D(0) = 1.471 (7 % low) for order 7 and 1.502 (5 % low) for order 8;
        # the largest deviation of any D(q) is 7.7 % and 5.4 %.
        (7, [4.0, 8.0, 16.0], 0.10),
        (8, [4.0, 8.0, 16.0, 32.0], 0.08),
    ],
)
def test_sierpinski_gasket_dimension(order: int, radii: list[float], rel_tol: float) -> None:
    n, e = gasket(order)
    centres = np.random.default_rng(0).choice(n, 200, replace=False)
    dims = _sandbox_dims(unit_graph(n, e), centres, radii)  # side 2^order = 128 / 256
    d_f = math.log(3) / math.log(2)
    assert dims[Q0] == pytest.approx(d_f, rel=rel_tol)
    assert dims[Q0] < d_f
    # The gasket is (nearly) monofractal: every D(q), q in [-3, 3], is within the tolerance.
    np.testing.assert_allclose(dims, d_f, rtol=rel_tol)
