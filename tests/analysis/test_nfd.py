"""Tests of mfa_engine.analysis.nfd.node_fractal_dimension."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

from mfa_engine.analysis.nfd import node_fractal_dimension
from mfa_engine.errors import ConfigError

INF = np.inf


def test_hand_tiny() -> None:
    # Node 0: distances 1.4, 2.5, 1.6, 3.5, 250, inf -> np.round (half to even): 1, 2, 2, 4, 250.
    # Window (0, 200]: drop 250. Distinct radii 1, 2, 4 with masses (self included)
    # M(1) = 1 + 1 = 2, M(2) = 1 + 3 = 4, M(4) = 1 + 4 = 5.
    # ln r = 0, ln2, 2 ln2 (centred -ln2, 0, ln2) -> slope = (ln5 - ln2) / (2 ln2).
    # Node 1: distances 0.4 (rounds to 0: excluded), 1, 2 -> 2 distinct radii.
    # Node 2: no finite distances.
    d = np.full((7, 7), INF)
    np.fill_diagonal(d, 0.0)
    d[0, 1:] = [1.4, 2.5, 1.6, 3.5, 250.0, INF]
    d[1, [0, 2, 3]] = [0.4, 1.0, 2.0]
    out = node_fractal_dimension(d, min_distances=2)
    assert out[0] == pytest.approx(math.log(2.5) / (2 * math.log(2)), abs=1e-14)
    # Node 1 has 2 distinct distances (<= min_distances=2) -> 0; the rest have none.
    np.testing.assert_array_equal(out[1:], 0.0)
    # With the default min_distances=10, node 0 (3 distances) is sparse too.
    np.testing.assert_array_equal(node_fractal_dimension(d), 0.0)
    # A threshold of 3 drops radius 4: radii 1, 2 with masses 2, 4 -> slope ln2 / ln2 = 1.
    assert node_fractal_dimension(d, threshold=3.0, min_distances=1)[0] == pytest.approx(1.0)
    # Same result from a sparse matrix whose explicit entries are the distances.
    s = sp.csr_array(np.where(np.isfinite(d), d, 0.0))
    np.testing.assert_allclose(node_fractal_dimension(s, min_distances=2), out, atol=1e-15)


def test_min_distances_boundary() -> None:
    # A path 0-1-...-12 from node 0: distances 1..12 -> 12 distinct radii.
    n = 13
    d = np.abs(np.subtract.outer(np.arange(n), np.arange(n))).astype(float)
    out11 = node_fractal_dimension(d, min_distances=11)
    out12 = node_fractal_dimension(d, min_distances=12)
    x, y = np.log(np.arange(1, 13)), np.log(np.arange(2, 14))  # M(r) = 1 + r
    assert out11[0] == pytest.approx(stats.linregress(x, y).slope, abs=1e-12)
    assert out12[0] == 0.0  # 12 distances is not more than 12
    # The middle node 6 only has 6 distinct distances: 0 with the default min_distances=10.
    assert node_fractal_dimension(d)[6] == 0.0


def _oracle(dist: dict[int, dict[int, float]], n: int, threshold: float, k: int) -> np.ndarray:
    out = np.zeros(n)
    for i in range(n):
        rounded = [round(v) for j, v in dist[i].items() if j != i]  # Python round: half to even
        rounded = [v for v in rounded if 0 < v <= threshold]
        radii = sorted(set(rounded))
        if len(radii) <= k:
            continue
        mass = [1 + sum(1 for v in rounded if v <= r) for r in radii]
        out[i] = stats.linregress(np.log(radii), np.log(mass)).slope
    return out


@pytest.mark.parametrize(("n", "threshold"), [(30, 200.0), (120, 25.0)])
def test_random_weighted_graph_against_networkx(n: int, threshold: float) -> None:
    rng = np.random.default_rng(n)
    g = nx.gnm_random_graph(n, 3 * n, seed=int(n), directed=True)
    for u, v in g.edges:
        g[u][v]["weight"] = float(rng.uniform(0.5, 6.0))
    dist = dict(nx.all_pairs_dijkstra_path_length(g, weight="weight"))
    dense = np.full((n, n), INF)
    for i, row in dist.items():
        for j, v in row.items():
            dense[i, j] = v
    ref = _oracle(dist, n, threshold, 10)
    got = node_fractal_dimension(dense, threshold=threshold)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
    assert np.count_nonzero(ref) >= n // 3  # the case exercises real fits
    sparse = sp.csr_array(np.where(np.isfinite(dense), dense, 0.0))
    np.testing.assert_allclose(node_fractal_dimension(sparse, threshold=threshold), got, atol=1e-12)


@pytest.mark.parametrize(
    ("arg", "kwargs", "match"),
    [
        (np.zeros((2, 3)), {}, "square"),
        (sp.csr_array(np.zeros((2, 3))), {}, "square"),
        (np.array([[0.0, -1.0], [1.0, 0.0]]), {}, ">= 0"),
        (np.array([[0.0, np.nan], [1.0, 0.0]]), {}, "NaN"),
        (np.zeros((2, 2)), {"threshold": 0.0}, "threshold"),
        (np.zeros((2, 2)), {"min_distances": 0}, "min_distances"),
    ],
)
def test_errors(arg, kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        node_fractal_dimension(arg, **kwargs)
