"""The graph engine under one options record: counts, spectrum and the fit a fit plot shows."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mfa_engine.api import analyze_graph
from mfa_engine.graph_spectrum import graph_counts, graph_fit, graph_spectrum
from mfa_engine.options import AnalysisOptions


def _grid(n: int) -> sp.csr_array:
    idx = np.arange(n * n).reshape(n, n)
    rows = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    cols = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    m = sp.coo_array((np.ones(rows.size), (rows, cols)), shape=(n * n, n * n)).tocsr()
    return (m + m.T).tocsr()


def test_facade_and_engine_agree_and_share_one_default() -> None:
    g = _grid(10)
    options = AnalysisOptions(directed=False, n_radii=16, min_reach=2, backend="cpu")
    spec = graph_spectrum(g, options)
    same = analyze_graph(g, directed=False, n_radii=16, min_reach=2, backend="cpu")
    np.testing.assert_array_equal(spec.tau, same.tau)
    assert spec.diagnostics["fit_window_source"] == "auto"  # AnalysisOptions' default, everywhere
    full = analyze_graph(g, options, fit_window="full")
    assert full.diagnostics["fit_window_source"] == "full"


def test_fit_slopes_over_the_window_are_tau() -> None:
    g = _grid(12)
    options = AnalysisOptions(directed=False, n_radii=24, min_reach=2, backend="cpu")
    fit = graph_fit(g, options)
    counts, radii, n = graph_counts(g, options)
    assert counts.shape == (n, radii.size) and fit["ln_z"].shape == (fit["q"].size, radii.size)
    lo, hi = fit["window"]
    inside = (radii >= lo * (1 - 1e-12)) & (radii <= hi * (1 + 1e-12))
    slopes = np.polyfit(fit["ln_r"][inside], fit["ln_z"].T[inside], 1)[0]
    np.testing.assert_allclose(slopes, fit["tau"], rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(fit["tau"], graph_spectrum(g, options).tau)
