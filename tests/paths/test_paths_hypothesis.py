"""Hypothesis property test: CPU neighbour counts equal SciPy Dijkstra counts on arbitrary small
weighted graphs (DAGs and graphs with cycles), radius grids that hit exact path lengths."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from mfa_engine.paths import multi_source_counts
from tests.paths.paths_graphs import oracle_counts, oracle_distances


@st.composite
def _graphs(draw: st.DrawFn) -> tuple[sp.csr_array, np.ndarray, np.ndarray, bool]:
    n = draw(st.integers(1, 12))
    dag = draw(st.booleans())
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))
    edges = draw(st.lists(pairs, max_size=3 * n, unique=True))
    if dag:
        edges = [(u, v) for u, v in edges if u < v]
    weights = draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 0.1, 0.7]),
                            min_size=len(edges), max_size=len(edges)))
    rows = np.array([u for u, _ in edges], np.int64)
    cols = np.array([v for _, v in edges], np.int64)
    m = sp.csr_array((np.array(weights, np.float64), (rows, cols)), shape=(n, n))
    sources = np.array(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=5)), np.int64)
    d = oracle_distances(m, sources)
    exact = np.unique(d[np.isfinite(d)])
    radii = draw(st.lists(st.sampled_from(list(exact) + [0.25, 1.2, 10.0]), min_size=1, max_size=6))
    return m, sources, np.array(radii, np.float64), dag


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(_graphs())
def test_cpu_counts_equal_dijkstra_counts(case: tuple[sp.csr_array, np.ndarray, np.ndarray, bool]) -> None:
    m, sources, radii, _ = case
    got = multi_source_counts(m, sources, radii, backend="cpu")
    np.testing.assert_array_equal(got, oracle_counts(m, sources, radii))
