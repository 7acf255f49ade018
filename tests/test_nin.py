"""NIN builder: sampling, distances, exports; paper-mode distances vs SciPy dijkstra."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.csgraph as csgraph

from mfa_engine.arch import get_adapter
from mfa_engine.checkpoints import open_checkpoint
from mfa_engine.errors import ConfigError
from mfa_engine.nin import LAYER_KINDS, LayeredGraph, build_nin
from mfa_engine.paths import multi_source_distances

from ._models import write_tiny_checkpoint

MODEL_TYPES = ["gpt_neox", "gpt2", "llama", "bert"]


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    out = {}
    for mt in MODEL_TYPES:
        kw = {"kv_heads": 2} if mt == "llama" else {}
        out[mt] = write_tiny_checkpoint(tmp_path_factory.mktemp(mt), mt, seed=1, **kw)
    return out


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_sampled_layers_and_edge_distances(ckpts, model_type):
    with open_checkpoint(ckpts[model_type]) as ck:
        ad = get_adapter(ck.config)
        g = build_nin(ck, ad, neurons_per_layer=5, seed=3)
        sizes = ad.layer_sizes()
        expect = []
        for _ in range(ad.n_blocks):
            expect += [min(10 if kd == "mlp" else 5, sizes[kd]) for kd in LAYER_KINDS]
        expect.append(5)
        assert g.layer_sizes == expect
        assert g.n_nodes == sum(expect) == len(g.node_kind) == len(g.node_neuron) == len(g.node_block)
        # Every weighted block is exactly 1/|w| (float64) of the adapter's weights.
        off = g.offsets
        for l, blk in enumerate(g.blocks):
            kind = LAYER_KINDS[l % 5]
            src = g.node_neuron[off[l]:off[l + 1]]
            dst = g.node_neuron[off[l + 1]:off[l + 2]]
            b = int(g.node_block[off[l]])
            if kind == "qkv":
                mask = ad.structural_mask(src, dst)
                np.testing.assert_array_equal(np.isfinite(blk), mask)
                assert np.all(blk[mask] == 1.0)
            else:
                edge = {"x": "x_qkv", "ctx": "ctx_attn_out", "attn_out": "attn_out_mlp", "mlp": "mlp_x"}[kind]
                w = ad.edge_weights(ck, b, edge, src, dst).astype(np.float64)
                np.testing.assert_allclose(blk, 1.0 / np.abs(w), rtol=0, atol=0)


def test_same_neurons_at_every_checkpoint(tmp_path):
    a = write_tiny_checkpoint(tmp_path / "a", "gpt_neox", seed=1)
    b = write_tiny_checkpoint(tmp_path / "b", "gpt_neox", seed=2)
    with open_checkpoint(a) as ca, open_checkpoint(b) as cb:
        ga = build_nin(ca, get_adapter(ca.config), neurons_per_layer=4, seed=7)
        gb = build_nin(cb, get_adapter(cb.config), neurons_per_layer=4, seed=7)
        gc = build_nin(cb, get_adapter(cb.config), neurons_per_layer=4, seed=8)
    np.testing.assert_array_equal(ga.node_neuron, gb.node_neuron)
    assert not np.array_equal(ga.node_neuron, gc.node_neuron)
    assert not np.array_equal(ga.blocks[0], gb.blocks[0])  # different weights, same neurons


def test_full_network_and_csr_export(ckpts):
    with open_checkpoint(ckpts["gpt2"]) as ck:
        ad = get_adapter(ck.config)
        g = build_nin(ck, ad, neurons_per_layer="all")
    sizes = ad.layer_sizes()
    assert g.layer_sizes[:5] == [sizes[k] for k in LAYER_KINDS]
    csr = g.to_csr()
    assert csr.shape == (g.n_nodes, g.n_nodes) and csr.nnz == g.n_edges
    # Edges only go from a layer to the next one.
    off = g.offsets
    layer_of = np.searchsorted(off, np.arange(g.n_nodes), side="right") - 1
    r, c = csr.nonzero()
    assert np.all(layer_of[c] == layer_of[r] + 1)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
@pytest.mark.parametrize("directed", [True, False])
def test_paper_distances_equal_scipy_dijkstra(ckpts, model_type, directed):
    with open_checkpoint(ckpts[model_type]) as ck:
        g = build_nin(ck, get_adapter(ck.config), neurons_per_layer=6, seed=0)
    src = np.arange(g.n_nodes)
    ours = multi_source_distances(g, src, directed=directed)
    ref = csgraph.dijkstra(g.to_csr(), directed=directed, indices=src)
    assert ours.shape == ref.shape
    np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(ref))
    fin = np.isfinite(ref)
    np.testing.assert_allclose(ours[fin], ref[fin], rtol=1e-5)
    assert fin.sum() > g.n_nodes * 3  # multi-hop paths exist


def test_zero_weights_and_eps_drop_edges(tmp_path):
    path = write_tiny_checkpoint(tmp_path, "gpt_neox", seed=4)
    with open_checkpoint(path) as ck:
        ad = get_adapter(ck.config)
        g0 = build_nin(ck, ad, neurons_per_layer="all", seed=0)
        g1 = build_nin(ck, ad, neurons_per_layer="all", seed=0, eps=0.02)
    w = 1.0 / g0.blocks[0]
    np.testing.assert_array_equal(np.isfinite(g1.blocks[0]), w > 0.02)


@pytest.mark.parametrize("bad", [0, -3, "some"])
def test_bad_sample_size(ckpts, bad):
    with open_checkpoint(ckpts["gpt2"]) as ck:
        with pytest.raises(ConfigError, match="neurons_per_layer"):
            build_nin(ck, get_adapter(ck.config), neurons_per_layer=bad)


def test_layered_graph_shape_check():
    with pytest.raises(ConfigError, match=r"blocks\[0\] has shape"):
        LayeredGraph(layer_sizes=[2, 3], blocks=[np.zeros((3, 2))])


def test_structural_distance_relative_to_median_weight_distance(ckpts):
    with open_checkpoint(ckpts["gpt_neox"]) as ck:
        ad = get_adapter(ck.config)
        g = build_nin(ck, ad, neurons_per_layer=5, seed=3, structural_distance=0.5,
                      structural_scale="median")
        absolute = build_nin(ck, ad, neurons_per_layer=5, seed=3)
    weights = np.concatenate([b[np.isfinite(b)] for l, b in enumerate(absolute.blocks)
                              if LAYER_KINDS[l % 5] != "qkv"])
    np.testing.assert_array_equal(g.weight_distances(), weights)
    assert g.structural_distance == 0.5 * np.median(weights)
    assert absolute.structural_distance == 1.0
    for l, blk in enumerate(g.blocks):
        assert g.structural[l] == (LAYER_KINDS[l % 5] == "qkv")
        if g.structural[l]:
            assert np.all(blk[np.isfinite(blk)] == g.structural_distance)
        else:
            np.testing.assert_array_equal(blk, absolute.blocks[l])
    with pytest.raises(ConfigError, match="structural_scale"):
        build_nin(None, None, structural_scale="mean")


@pytest.mark.parametrize("model_type", MODEL_TYPES)
@pytest.mark.parametrize("eps", [0.0, 0.05])
def test_nin_blocks_equal_build_nin_all(ckpts, model_type, eps):
    """NinBlocks' float64 blocks equal build_nin(all, absolute) and its float32 blocks are their
    float32 rounding, for the fused (GPT-NeoX), in_out (GPT-2), gated (Llama) and separate
    q/k/v (BERT) layouts."""
    from mfa_engine.nin import NinBlocks, iter_nin_blocks, nin_level_sizes

    with open_checkpoint(ckpts[model_type]) as ck:
        ad = get_adapter(ck.config)
        g = build_nin(ck, ad, neurons_per_layer="all", eps=eps, structural_distance=2.5)
        nb = NinBlocks(ck, ad, eps=eps, structural_distance=2.5)
        assert nb.sizes == list(g.layer_sizes) == nin_level_sizes(ad)
        assert nb.n_levels == len(g.layer_sizes)
        for lv, ref in enumerate(g.blocks):
            assert nb.structural(lv) == g.structural[lv]
            b64 = nb.block(lv, np.float64)
            assert b64.dtype == np.float64 and b64.flags.c_contiguous
            np.testing.assert_array_equal(b64, ref)
            np.testing.assert_array_equal(nb.block(lv, np.float32), ref.astype(np.float32))
        for blk, ref in zip(iter_nin_blocks(ck, ad, eps=eps, structural_distance=2.5), g.blocks):
            np.testing.assert_array_equal(blk.weights, ref)
        rng = np.random.default_rng(lv)
        for lv in range(nb.n_levels - 1):  # selected columns (any order, repeats)
            cols = rng.integers(0, nb.sizes[lv + 1], 7)
            for dt in (np.float32, np.float64):
                np.testing.assert_array_equal(nb.block(lv, dt, cols), nb.block(lv, dt)[:, cols])
        with pytest.raises(ConfigError, match="columns"):
            nb.block(0, np.float64, [nb.sizes[1]])
        levels = [b.level for b in nb.iter(np.float32)]
        assert levels == list(range(len(g.blocks)))


@pytest.mark.parametrize("null", ["shuffle", "gaussian"])
def test_nin_blocks_of_a_null_model_read_the_null_weights(ckpts, null):
    """A wrapper that forwards unknown attributes (a null model) is read through its own reads,
    never the wrapped checkpoint's raw tensors: NinBlocks equals build_nin on the null."""
    from mfa_engine.checkpoints.nulls import null_checkpoint
    from mfa_engine.nin import NinBlocks

    with open_checkpoint(ckpts["gpt_neox"]) as ck:
        ad = get_adapter(ck.config)
        nul = null_checkpoint(null, ck, 3)
        g = build_nin(nul, ad, neurons_per_layer="all", structural_distance=2.5)
        real = build_nin(ck, ad, neurons_per_layer="all", structural_distance=2.5)
        nb = NinBlocks(nul, ad, structural_distance=2.5)
        for lv, ref in enumerate(g.blocks):
            np.testing.assert_array_equal(nb.block(lv, np.float64), ref)
            np.testing.assert_array_equal(nb.block(lv, np.float32), ref.astype(np.float32))
        assert any(not np.array_equal(a, b) for a, b in zip(g.blocks, real.blocks))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
@pytest.mark.parametrize("model_type", ["gpt_neox", "gpt2", "bert"])
def test_distance_counts_are_the_multiset_of_the_float64_block(tmp_path, dtype, model_type):
    """NinBlocks.distance_counts (a histogram of the stored 16-bit weights) equals np.unique of
    the float64 block's finite entries, eps included; None for float32 storage and structural
    blocks."""
    from mfa_engine.nin import NinBlocks

    path = write_tiny_checkpoint(tmp_path, model_type, seed=6, dtype=dtype)
    with open_checkpoint(path) as ck:
        ad = get_adapter(ck.config)
        for eps in (0.0, 0.03):
            nb = NinBlocks(ck, ad, eps=eps)
            for lv in range(nb.n_levels - 1):
                got = nb.distance_counts(lv)
                if dtype == "float32" or nb.structural(lv):
                    assert got is None
                    continue
                w = nb.block(lv, np.float64)
                u, c = np.unique(w[np.isfinite(w)], return_counts=True)
                np.testing.assert_array_equal(got[0], u)
                np.testing.assert_array_equal(got[1], c)


def test_nin_blocks_fp16_checkpoint_and_bad_input(tmp_path):
    from mfa_engine.nin import NinBlocks
    from mfa_engine.synthetic import write_gpt_neox_checkpoint

    path = write_gpt_neox_checkpoint(tmp_path, seed=2, hidden_size=40, num_hidden_layers=1, num_attention_heads=5)
    with open_checkpoint(path) as ck:
        ad = get_adapter(ck.config)
        g = build_nin(ck, ad, neurons_per_layer="all", structural_distance=7.0)
        nb = NinBlocks(ck, ad, structural_distance=7.0)
        for lv, ref in enumerate(g.blocks):
            np.testing.assert_array_equal(nb.block(lv, np.float64), ref)
            np.testing.assert_array_equal(nb.block(lv, np.float32), ref.astype(np.float32))
        with pytest.raises(ConfigError, match="out of range"):
            nb.block(len(g.blocks))
        with pytest.raises(ConfigError, match="dtype"):
            nb.block(0, np.float16)
        with pytest.raises(ConfigError):
            NinBlocks(ck, ad, eps=-1.0)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_nin_blocks_from_a_pytorch_bin_checkpoint(tmp_path, dtype):
    """The torch .bin reader's storage (bfloat16 as uint16 bit patterns) through NinBlocks."""
    from mfa_engine.nin import NinBlocks

    from ._models import write_pytorch_bin

    src = write_tiny_checkpoint(tmp_path / "st", "gpt_neox", seed=4, dtype=dtype)
    binp = write_pytorch_bin(src, tmp_path / "bin")
    with open_checkpoint(binp) as ck, open_checkpoint(src) as ref_ck:
        ad = get_adapter(ck.config)
        g = build_nin(ref_ck, get_adapter(ref_ck.config), neurons_per_layer="all", structural_distance=1.5)
        nb = NinBlocks(ck, ad, structural_distance=1.5)
        for lv, ref in enumerate(g.blocks):
            np.testing.assert_array_equal(nb.block(lv, np.float64), ref)
            np.testing.assert_array_equal(nb.block(lv, np.float32), ref.astype(np.float32))


def test_nin_blocks_reject_nan_weights(tmp_path):
    from safetensors.numpy import load_file, save_file

    from mfa_engine.errors import CheckpointError
    from mfa_engine.nin import NinBlocks
    from mfa_engine.synthetic import write_gpt_neox_checkpoint

    path = write_gpt_neox_checkpoint(tmp_path, seed=5, hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
    (st,) = path.glob("*.safetensors")
    tensors = load_file(str(st))
    name = next(k for k in tensors if k.endswith("mlp.dense_4h_to_h.weight"))
    tensors[name][3, 5] = np.nan
    save_file(tensors, str(st))
    with open_checkpoint(path) as ck:
        nb = NinBlocks(ck, get_adapter(ck.config))
        nb.block(0, np.float32)  # other tensors are fine
        with pytest.raises(CheckpointError, match="NaN"):
            nb.block(4, np.float32)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_nin_blocks_panels_equal_block_in_panel_layout(ckpts, model_type):
    """NinBlocks.panels (straight from the stored weights) equals panels_into of block(), for
    the fused, in_out, gated and separate-q/k/v layouts, into a fresh or a reused buffer;
    structural blocks give None; NinLevel reads on demand."""
    from mfa_engine.kernels.cpu_minplus import panels_into
    from mfa_engine.nin import NinBlocks, NinLevel

    with open_checkpoint(ckpts[model_type]) as ck:
        nb = NinBlocks(ck, get_adapter(ck.config), eps=0.01, structural_distance=2.5)
        big = max(a * b for a, b in zip(nb.sizes[:-1], nb.sizes[1:]))
        reuse = {dt: np.full(big + 5, -1.0, dt) for dt in (np.float32, np.float64)}
        for lv in range(nb.n_levels - 1):
            for dt in (np.float32, np.float64):
                for cols in (8, 32):
                    got = nb.panels(lv, cols, dtype=dt)
                    if nb.structural(lv):
                        assert got is None
                        continue
                    b = nb.block(lv, dt)
                    ref = panels_into(b, cols, np.empty(b.size, dt))
                    np.testing.assert_array_equal(got, ref)
                    np.testing.assert_array_equal(nb.panels(lv, cols, reuse[dt], dt), ref)
        lazy = list(nb.iter(np.float32, lazy=True))
        assert all(isinstance(x, NinLevel) for x in lazy) and [x.level for x in lazy] == list(range(nb.n_levels - 1))
        for x in lazy:
            assert x.structural == nb.structural(x.level) and x.shape == (nb.sizes[x.level], nb.sizes[x.level + 1])
            np.testing.assert_array_equal(x.weights, nb.block(x.level, np.float32))
        with pytest.raises(ConfigError, match="panel buffer"):
            nb.panels(0, 8, np.empty(3, np.float32))
        with pytest.raises(ConfigError, match="panel dtype"):
            nb.panels(0, 8, dtype=np.float16)
