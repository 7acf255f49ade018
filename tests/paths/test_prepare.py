"""A graph prepared once (checked, converted, packed) serves several path calls."""

from __future__ import annotations

import numpy as np
import pytest

from mfa_engine.errors import ConfigError
from mfa_engine.layered import LayeredGraph
from mfa_engine.paths import multi_source_counts, multi_source_distances, prepare_graph
from mfa_engine.paths import prepare as prepare_mod

from .paths_graphs import layered_to_csr, oracle_counts, random_layered


@pytest.mark.parametrize("directed", [True, False])
def test_prepared_graph_gives_the_same_paths(directed):
    rng = np.random.default_rng(7)
    g = random_layered(rng, [5, 7, 3, 6], 0.6, "float")
    p = prepare_graph(g, directed)
    assert p.n_nodes == 21 and p.shape == (21, 21)
    src = np.array([0, 4, 9, 20])
    radii = np.array([0.5, 2.0, 7.5, 40.0])
    want = oracle_counts(layered_to_csr(g), src, radii, directed=directed)
    np.testing.assert_array_equal(multi_source_counts(p, src, radii, directed=directed, backend="cpu"), want)
    np.testing.assert_array_equal(multi_source_counts(g, src, radii, directed=directed, backend="cpu"), want)
    np.testing.assert_array_equal(multi_source_distances(p, src, directed=directed, backend="cpu"),
                                  multi_source_distances(g, src, directed=directed, backend="cpu"))
    with pytest.raises(ConfigError, match="prepared for directed"):
        multi_source_counts(p, src, radii, directed=not directed)


def test_layered_to_csr_matches_the_blocks():
    rng = np.random.default_rng(3)
    g = random_layered(rng, [4, 2, 5], 0.5, "zero")
    m = LayeredGraph(g.layer_sizes, g.blocks).to_csr()
    assert m.has_canonical_format
    np.testing.assert_array_equal(m.toarray(), layered_to_csr(g).toarray())
    assert m.nnz == sum(int(np.isfinite(b).sum()) for b in g.blocks)  # zero-length edges kept


def test_analyze_graph_prepares_each_graph_once(monkeypatch):
    from mfa_engine.api import analyze_graph
    from mfa_engine.paths import inputs

    calls = {"prepare": 0, "scan": 0}
    real_prepare, real_check = prepare_mod._prepare, inputs._check_distances

    def counting_prepare(*a, **k):
        calls["prepare"] += 1
        return real_prepare(*a, **k)

    def counting_check(*a, **k):
        calls["scan"] += 1
        return real_check(*a, **k)

    monkeypatch.setattr(prepare_mod, "_prepare", counting_prepare)
    monkeypatch.setattr(inputs, "_check_distances", counting_check)
    rng = np.random.default_rng(1)
    g = random_layered(rng, [12, 15, 10, 14], 0.9, "float")
    lg = LayeredGraph(g.layer_sizes, g.blocks)
    spec = analyze_graph(lg, n_radii=8, min_reach=1, backend="cpu", fit_window="full")
    assert spec.n_centres > 1
    assert calls == {"prepare": 1, "scan": 3}  # one preparation, each block scanned once


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("n", [7, 300])  # small arrays: CRC-32 fingerprint; larger: compiled hash
def test_repeated_call_revalidates_after_an_in_place_change(fmt, n):
    """A repeated call on the same matrix reuses its validated conversion, but an index broken in
    place afterwards changes the fingerprint, so it is validated again and rejected."""
    import scipy.sparse as sp

    rng = np.random.default_rng(n)
    m = sp.random_array((n, n), density=min(1.0, 20 / n), format=fmt, rng=rng) * 3.0
    m = m.asformat(fmt)
    src, radii = np.arange(min(n, 5)), np.array([0.5, 2.0, 9.0])
    first = multi_source_counts(m, src, radii, backend="cpu")
    assert np.array_equal(multi_source_counts(m, src, radii, backend="cpu"), first)
    idx = m.coords[1] if fmt == "coo" else m.indices
    idx[0] = n + 3  # out of range, written in place
    with pytest.raises(ConfigError, match="out of range"):
        multi_source_counts(m, src, radii, backend="cpu")
