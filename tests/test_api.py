"""analyze_graph: end to end on graphs with known answers; input validation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph

from mfa_engine import analyze_graph
from mfa_engine.analysis import spectrum_from_counts
from mfa_engine.api import make_q_grid
from mfa_engine.errors import AnalysisError, ConfigError


def torus(n: int) -> sp.csr_array:
    """2-D n x n torus with unit distances, as a symmetric CSR matrix."""
    idx = np.arange(n * n).reshape(n, n)
    right = np.roll(idx, -1, axis=1)
    down = np.roll(idx, -1, axis=0)
    r = np.concatenate([idx.ravel(), idx.ravel()])
    c = np.concatenate([right.ravel(), down.ravel()])
    a = sp.csr_array((np.ones(r.size), (r, c)), shape=(n * n, n * n))
    return (a + a.T).tocsr()


def test_q_grid_is_exact():
    q = make_q_grid()
    assert q.size == 61
    np.testing.assert_array_equal(q, np.round(np.arange(-30, 31) / 10, 12))
    assert q[30] == 0.0
    with pytest.raises(ConfigError, match="at least 3"):
        make_q_grid(0.0, 0.1, 0.1)
    with pytest.raises(ConfigError, match="step must be > 0"):
        make_q_grid(0, 1, 0)


def test_torus_sandbox_dims_equal_mass_slope_and_boxgrowing_width_zero():
    g = torus(15)
    radii = np.arange(1.0, 7.0)
    spec = analyze_graph(g, convention="sandbox", radii=radii, directed=False, fit_window="full")
    # Oracle: M(r) from SciPy, identical for every centre on a vertex-transitive graph.
    d = csgraph.dijkstra(g, directed=False, indices=[0])
    m = np.array([(d[0] <= r).sum() for r in radii], dtype=float)
    slope = np.polyfit(np.log(radii), np.log(m), 1)[0]
    assert spec.dims is not None
    np.testing.assert_allclose(spec.dims, slope, rtol=1e-9)
    box = analyze_graph(g, radii=radii, directed=False, fit_window="full")
    assert box.width == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(box.alpha, slope, rtol=1e-9)


def test_counts_pipeline_matches_scipy_counts():
    rng = np.random.default_rng(5)
    n = 120
    a = sp.random_array((n, n), density=0.05, random_state=rng, format="csr")
    a.data = rng.uniform(0.5, 3.0, a.nnz)
    a.setdiag(0)
    a.eliminate_zeros()
    radii = np.linspace(0.5, 9.0, 20)
    spec = analyze_graph(a, radii=radii, min_reach=3, fit_window="full")
    d = csgraph.dijkstra(a, directed=True)
    counts = (d[:, :, None] <= radii[None, None, :]).sum(axis=1)
    ref = spectrum_from_counts(counts, radii, min_reach=3)
    np.testing.assert_allclose(spec.tau, ref.tau, rtol=1e-12, atol=1e-12)
    assert spec.n_centres == ref.n_centres


def test_default_radius_grid_reaches_p99():
    g = torus(9)
    spec = analyze_graph(g, directed=False, n_radii=16, min_reach=2, fit_window="full")
    d = csgraph.dijkstra(g, directed=False)
    fin = d[np.isfinite(d) & (d > 0)]
    assert spec.radii[0] == pytest.approx(fin.min())
    assert spec.radii[-1] == pytest.approx(np.percentile(fin, 99))
    assert len(spec.radii) == 16


def test_bad_graphs_and_options():
    with pytest.raises(ConfigError, match="square"):
        analyze_graph(sp.csr_array(np.ones((2, 3))))
    bad = sp.csr_array(np.array([[0.0, -1.0], [1.0, 0.0]]))
    with pytest.raises(ConfigError, match="negative"):
        analyze_graph(bad)
    with pytest.raises(ConfigError, match="SciPy sparse"):
        analyze_graph(np.ones((3, 3)))
    with pytest.raises(ConfigError, match="convention"):
        analyze_graph(torus(4), convention="boxcounting")
    with pytest.raises(ConfigError, match="centres"):
        analyze_graph(torus(4), centres=[0, 99])
    with pytest.raises(ConfigError):
        analyze_graph(torus(6), q=[0.0, 1.0], radii=[1.0, 2.0, 3.0], directed=False)


def test_too_few_centres():
    path = sp.csr_array((np.ones(3), ([0, 1, 2], [1, 2, 3])), shape=(4, 4))
    with pytest.raises(AnalysisError, match="centres"):
        analyze_graph(path, radii=[1.0, 2.0, 3.0])
