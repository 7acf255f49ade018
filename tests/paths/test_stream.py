"""Streamed full-network counts (mfa_engine.paths.stream) against SciPy's float64 Dijkstra."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse import csgraph

from mfa_engine import nin as nin_mod
from mfa_engine.layered import LayeredGraph
from mfa_engine.paths import stream


def _oracle(g: LayeredGraph, src: np.ndarray, radii: np.ndarray) -> np.ndarray:
    d = csgraph.dijkstra(sp.csr_array(g.to_csr()), indices=src)
    return np.stack([(d <= r).sum(axis=1) for r in radii], axis=1)


@pytest.mark.parametrize("sizes", [[3, 5, 2], [17, 33, 9, 65, 12], [40, 130, 64, 31]])
@pytest.mark.parametrize("zeros", [False, True])
def test_stream_counts_match_dijkstra(sizes: list[int], zeros: bool) -> None:
    rng = np.random.default_rng(sum(sizes) + zeros)
    blocks = []
    for a, b in itertools.pairwise(sizes):
        w = np.round(rng.uniform(0.1, 2.0, (a, b)), 1)
        w[rng.random((a, b)) < 0.3] = np.inf
        if zeros:
            w[rng.random((a, b)) < 0.05] = 0.0
        blocks.append(w)
    g = LayeredGraph(sizes, blocks)
    src = rng.choice(g.n_nodes, min(g.n_nodes, 23), replace=False)
    d = csgraph.dijkstra(sp.csr_array(g.to_csr()), indices=src)
    radii = rng.permutation(np.concatenate([[0.0, -1.0], np.unique(d[np.isfinite(d)])[:: 3]]))
    got = stream.stream_counts(sizes, stream.iter_layered_blocks(g), src, radii)
    np.testing.assert_array_equal(got, _oracle(g, src, radii))


def test_nin_blocks_from_the_checkpoint_match_build_nin(tmp_path) -> None:
    from mfa_engine.arch import get_adapter
    from mfa_engine.checkpoints import open_checkpoint
    from mfa_engine.nin import build_nin
    from mfa_engine.synthetic import write_gpt_neox_checkpoint

    path = write_gpt_neox_checkpoint(tmp_path, seed=1, hidden_size=32, num_hidden_layers=2, num_attention_heads=4)
    with open_checkpoint(path) as ckpt:
        ad = get_adapter(ckpt.config)
        g = build_nin(ckpt, ad, neurons_per_layer="all", structural_distance=3.0)
        blocks = list(nin_mod.iter_nin_blocks(ckpt, ad, structural_distance=3.0))
        assert nin_mod.nin_level_sizes(ad) == list(g.layer_sizes)
        assert [b.structural for b in blocks] == list(g.structural)
        for b, ref in zip(blocks, g.blocks):
            np.testing.assert_array_equal(b.weights, ref)
        src = np.arange(0, g.n_nodes, 7)
        d = csgraph.dijkstra(sp.csr_array(g.to_csr()), indices=src)
        radii = np.quantile(d[np.isfinite(d)], np.linspace(0, 1, 17))
        got = stream.stream_counts(g.layer_sizes, nin_mod.iter_nin_blocks(ckpt, ad, structural_distance=3.0), src, radii)
    np.testing.assert_array_equal(got, _oracle(g, src, radii))
