"""Reference mode (docs/method.md, Reference mode): every rule on hand-computed tiny cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mfa_engine.errors import AnalysisError, ArchitectureError, CheckpointError, ConfigError
from mfa_engine.reference import (
    NODE_KINDS,
    REFERENCE_Q,
    analyze_reference,
    reference_counts,
    reference_distance_lists,
    reference_emergence,
    reference_lists_from_raw,
    reference_sample_indices,
    reference_spectrum,
)

# ---------------------------------------------------------------------------------- q grid


def test_q_grid_is_the_published_list():
    expected = [k / 100 for k in range(-300, 301, 10)]
    assert REFERENCE_Q.shape == (61,)
    assert REFERENCE_Q.tolist() == expected  # exact floats, e.g. -2.9 is -290/100
    assert REFERENCE_Q[0] == -3.0 and REFERENCE_Q[30] == 0.0 and REFERENCE_Q[-1] == 3.0


# ---------------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("seed", [0, 3, 9])
def test_rng_sequence_matches_direct_np_random_calls(seed):
    n_blocks, h = 3, 40
    sample = reference_sample_indices((n_blocks, h), seed)
    np.random.seed(seed)
    for b in range(n_blocks):
        in1 = np.random.choice(np.arange(h), 32, replace=False)
        base = np.random.choice(np.arange(h), 32, replace=False)
        out_attn = np.random.choice(np.arange(h), 32, replace=False)
        mlp = np.random.choice(np.arange(4 * h), 64, replace=False)
        np.testing.assert_array_equal(sample.in1[b], in1)
        np.testing.assert_array_equal(sample.qkv_base[b], base)
        np.testing.assert_array_equal(sample.out_attn[b], out_attn)
        np.testing.assert_array_equal(sample.mlp[b], mlp)
        np.testing.assert_array_equal(
            sample.qkv_rows(b), np.concatenate([base, base + h, base + 2 * h])
        )
    next_in = np.random.choice(np.arange(h), 32, replace=False)
    np.testing.assert_array_equal(sample.next_in, next_in)
    np.testing.assert_array_equal(sample.block_output(n_blocks - 1), next_in)
    np.testing.assert_array_equal(sample.block_output(0), sample.in1[1])


def test_sampling_does_not_touch_global_rng():
    np.random.seed(123)
    expected = np.random.random(3)
    np.random.seed(123)
    reference_sample_indices((2, 50), 7)
    np.testing.assert_array_equal(np.random.random(3), expected)


def test_sampling_counts_override_and_config_dict():
    cfg = {"model_type": "gpt_neox", "num_hidden_layers": 2, "hidden_size": 8, "intermediate_size": 32}
    s = reference_sample_indices(cfg, 1, n_per_layer=4, n_mlp=5)
    assert s.in1.shape == (2, 4) and s.mlp.shape == (2, 5) and s.next_in.shape == (4,)
    np.random.seed(1)
    np.testing.assert_array_equal(s.in1[0], np.random.choice(np.arange(8), 4, replace=False))


def test_sampling_too_small_layer_is_config_error():
    with pytest.raises(ConfigError, match=r"needs 32 neurons .*'in1.* only 16 \(hidden_size=16\)"):
        reference_sample_indices((2, 16), 0)
    with pytest.raises(ConfigError, match=r"needs 40 .*'mlp'.* only 32"):
        reference_sample_indices((2, 8), 0, n_per_layer=4, n_mlp=40)


def test_non_gpt_neox_is_architecture_error(make_fake_ckpt):
    with pytest.raises(ArchitectureError, match="only supports gpt_neox.*'llama'"):
        reference_sample_indices({"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64}, 0)
    ckpt = make_fake_ckpt(1, 16)
    ckpt.config["model_type"] = "gpt2"
    with pytest.raises(ArchitectureError, match="published NeuroMFA code"):
        analyze_reference(ckpt, [0], n_per_layer=4)


def test_intermediate_size_other_than_4h_is_rejected():
    cfg = {"model_type": "gpt_neox", "num_hidden_layers": 1, "hidden_size": 64, "intermediate_size": 100}
    with pytest.raises(ArchitectureError, match="4\\*hidden_size = 256"):
        reference_sample_indices(cfg, 0)


# ------------------------------------------------------------------------- distance lists


def _tiny_ckpt(make_fake_ckpt):
    return make_fake_ckpt(2, 12, seed=5)


def test_distance_lists_follow_published_matrices_and_ids(make_fake_ckpt):
    ckpt = _tiny_ckpt(make_fake_ckpt)
    h, k = 12, 3
    s = reference_sample_indices(ckpt.config, 4, n_per_layer=k)
    dl = reference_distance_lists(ckpt, s, threshold=1e9)
    t = ckpt._tensors
    qkv = t["gpt_neox.layers.1.attention.query_key_value.weight"]
    # The node of block 1's input neuron in1[1][0]: id 10h + neuron; its list is W_qkv[rows, x].
    x = s.in1[1][0]
    i = int(np.flatnonzero(dl.keys == 10 * h + x)[0])
    assert NODE_KINDS[dl.kind[i]] == "x" and dl.block[i] == 1 and dl.neuron[i] == x
    w = qkv[s.qkv_rows(1), x].astype(np.float64)
    w = w[w != 0]
    d = 1.0 / np.abs(w)
    np.testing.assert_array_equal(dl.node(i), d[d > 1])
    assert dl.n_edges[i] == w.shape[0]
    # Context node qkv_base -> out_attn through attention.dense, id 10h*b + 4h + neuron.
    c = s.qkv_base[0][1]
    i = int(np.flatnonzero(dl.keys == 4 * h + c)[0])
    w = t["gpt_neox.layers.0.attention.dense.weight"][s.out_attn[0], c].astype(np.float64)
    w = w[w != 0]
    np.testing.assert_array_equal(dl.node(i), (1 / np.abs(w))[1 / np.abs(w) > 1])
    # MLP node of the last block feeds next_in through dense_4h_to_h, id 10h + 6h + neuron.
    m = s.mlp[1][2]
    i = int(np.flatnonzero(dl.keys == 16 * h + m)[0])
    w = t["gpt_neox.layers.1.mlp.dense_4h_to_h.weight"][s.next_in, m].astype(np.float64)
    w = w[w != 0]
    np.testing.assert_array_equal(dl.node(i), (1 / np.abs(w))[1 / np.abs(w) > 1])
    # Ids ascending; QKV nodes listed with their structural edges (1 for Q, k for K/V), none kept.
    assert np.all(np.diff(dl.keys) > 0)
    q_nodes = (dl.kind == 1) & (dl.neuron < h)
    kv_nodes = (dl.kind == 1) & (dl.neuron >= h)
    assert q_nodes.sum() == 2 * k and kv_nodes.sum() == 4 * k
    assert np.all(dl.n_edges[q_nodes] == 1) and np.all(dl.n_edges[kv_nodes] == k)
    assert np.all(dl.n_kept[dl.kind == 1] == 0)
    # Node count: per block k x + 3k qkv + k ctx + k attn_out + 2k mlp.
    assert dl.n_nodes == 2 * (k + 3 * k + k + k + 2 * k)


def test_distances_are_float64_of_float32_weights():
    w32 = np.float32(0.0123)
    dl = reference_lists_from_raw([[1.0 / abs(float(w32))] * 11, [50.0] * 11])
    assert dl.values.dtype == np.float64
    assert dl.values[0] == 1.0 / np.float64(w32)
    assert dl.values[0] != np.float32(1.0) / np.abs(w32)  # float32 arithmetic would differ


def test_zero_weights_are_not_edges(make_fake_ckpt):
    ckpt = _tiny_ckpt(make_fake_ckpt)
    name = "gpt_neox.layers.0.attention.dense.weight"
    s = reference_sample_indices(ckpt.config, 0, n_per_layer=3)
    ckpt._tensors[name][:, s.qkv_base[0][0]] = 0.0
    dl = reference_distance_lists(ckpt, s)
    i = int(np.flatnonzero(dl.keys == 4 * 12 + s.qkv_base[0][0])[0])
    assert dl.n_edges[i] == 0 and dl.n_kept[i] == 0


# ---------------------------------------------------------------------- window and filter


def test_window_excludes_one_includes_threshold():
    dl = reference_lists_from_raw([[1.0, 1.0000001, 150.0, 150.0000001, 0.5, np.inf, np.nan]])
    np.testing.assert_array_equal(dl.values, [1.0000001, 150.0])
    assert dl.n_edges.tolist() == [7]
    dl = reference_lists_from_raw([[1.0, 150.0, 200.0]], threshold=200)
    np.testing.assert_array_equal(dl.values, [150.0, 200.0])


def test_node_with_exactly_10_kept_is_dropped_11_kept():
    ten = [2.0] * 10 + [1.0, 151.0, 0.3]  # 13 raw, 10 kept -> dropped
    eleven = [3.0] * 11
    other = [5.0] * 6 + [7.0] * 6
    radii, counts = reference_counts(reference_lists_from_raw([ten, eleven, other]))
    assert counts.shape == (2, 3)  # only 'eleven' and 'other' are centres
    np.testing.assert_array_equal(radii, [3.0, 5.0, 7.0])  # 2.0 of the dropped node absent
    np.testing.assert_array_equal(counts, [[12, 12, 12], [1, 7, 13]])


def test_rounding_half_to_even_and_radii_distinct():
    a = [2.5] * 6 + [3.5] * 5  # rounds to 2 (x6) and 4 (x5)
    b = [1.4] * 4 + [2.6] * 4 + [4.49] * 3  # rounds to 1, 3, 4
    radii, counts = reference_counts(reference_lists_from_raw([a, b]))
    np.testing.assert_array_equal(radii, [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(counts, [[1, 7, 7, 12], [5, 5, 9, 12]])


def test_too_few_centres_names_seed_and_counts():
    dl = reference_lists_from_raw([[2.0] * 11, [2.0] * 3, [9.0] * 10], seed=7)
    with pytest.raises(AnalysisError, match=r"seed 7.*only 1 of 3 nodes.*more than 10"):
        reference_spectrum(dl)
    with pytest.raises(AnalysisError, match="single radius 2"):
        reference_spectrum(reference_lists_from_raw([[2.0] * 11, [2.2] * 12]))


# ---------------------------------------------------------------------- spectrum by hand


def _two_node_case():
    # Node A: 11 distances rounding to 2. Node B: 5 at radius 2, 6 at radius 3.
    # Radii {2, 3}; N_A = [12, 12], N_B = [6, 12]; mu_A = [1, 1], mu_B = [1/2, 1].
    # Z_q(2) = 1 + 2^-q, Z_q(3) = 2; two points x = [ln(2/3), 0]:
    # tau(q) = (ln 2 - ln(1 + 2^-q)) / ln(3/2).
    return reference_lists_from_raw([[2.0] * 11, [1.6] * 5 + [2.9] * 6], seed=0)


def _tau_closed(q):
    q = np.asarray(q, dtype=float)
    return (math.log(2) - np.log1p(2.0**-q)) / math.log(1.5)


def test_tau_closed_form_on_default_grid():
    spec = reference_spectrum(_two_node_case())
    np.testing.assert_array_equal(spec["radii"], [2.0, 3.0])
    assert spec["n_centres"] == 2 and spec["n_nodes"] == 2
    np.testing.assert_allclose(spec["tau"], _tau_closed(REFERENCE_Q), rtol=0, atol=1e-13)
    assert REFERENCE_Q[20] == -1.0 and spec["tau"][20] == pytest.approx(-1.0, abs=1e-14)
    assert abs(spec["tau"][30]) < 1e-15  # q = 0: Z_0 = number of centres at every radius
    np.testing.assert_allclose(spec["r2"], 1.0)  # two points: exact fits


def test_forward_difference_spectrum_by_hand():
    # q = [-1, 0, 1, 2]: tau = [-1, 0, ln(4/3)/ln(3/2), ln(8/5)/ln(3/2)].
    spec = reference_spectrum(_two_node_case(), q=[-1.0, 0.0, 1.0, 2.0])
    l15 = math.log(1.5)
    tau = [-1.0, 0.0, math.log(4 / 3) / l15, math.log(1.6) / l15]
    np.testing.assert_allclose(spec["tau"], tau, atol=1e-14)
    alpha = [1.0, math.log(4 / 3) / l15, math.log(1.2) / l15]  # forward differences, 3 values
    np.testing.assert_allclose(spec["alpha"], alpha, atol=1e-14)
    f = [-1 * alpha[0] - tau[0], 0 * alpha[1] - tau[1], 1 * alpha[2] - tau[2]]  # [0, 0, -0.26]
    np.testing.assert_allclose(spec["f_alpha"], f, atol=1e-14)
    assert spec["alpha0"] == pytest.approx(1.0, abs=1e-14)  # first of the tied maxima (j = 0)
    assert spec["width"] == pytest.approx(1.0 - math.log(1.2) / l15, abs=1e-14)


def test_three_radius_fit_matches_linregress():
    from scipy.stats import linregress

    lists = [[2.0] * 4 + [5.0] * 4 + [9.0] * 4, [2.0] * 11 + [9.0], [5.0] * 6 + [9.0] * 6]
    spec = reference_spectrum(reference_lists_from_raw(lists), q=[-2.0, 0.5, 3.0])
    n = np.array([[5, 9, 13], [12, 12, 13], [1, 7, 13]], dtype=float)
    x = np.log(np.array([2.0, 5.0, 9.0]) / 9.0)
    for j, q in enumerate([-2.0, 0.5, 3.0]):
        z = ((n / n[:, -1:]) ** q).sum(axis=0)
        fit = linregress(x, np.log(z))
        assert spec["tau"][j] == pytest.approx(fit.slope, rel=1e-13)
        assert spec["r2"][j] == pytest.approx(fit.rvalue**2, rel=1e-12)


def test_invalid_q_grid():
    dl = _two_node_case()
    for bad in ([0.0], [0.0, 0.0], [1.0, 0.0], [0.0, np.nan], [[0.0, 1.0]]):
        with pytest.raises(ConfigError, match="q grid"):
            reference_spectrum(dl, q=bad)


def test_threshold_must_exceed_one():
    with pytest.raises(ConfigError, match="threshold"):
        reference_lists_from_raw([[2.0]], threshold=1.0)


# ---------------------------------------------------------------------- whole checkpoint


def test_analyze_reads_each_block_once_for_all_seeds(make_fake_ckpt):
    ckpt = make_fake_ckpt(3, 24, seed=1)
    seeds = [0, 1, 2, 5]
    res = analyze_reference(ckpt, seeds, n_per_layer=6)
    assert len(ckpt.reads) == 3 * 4  # one read per weight matrix, not per seed
    assert len({name for name, _, _ in ckpt.reads}) == 12
    # Per-seed results equal the single-seed path.
    for s, spec in zip(seeds, res["per_seed"]):
        sample = reference_sample_indices(ckpt.config, s, n_per_layer=6)
        single = reference_spectrum(reference_distance_lists(ckpt, sample))
        np.testing.assert_array_equal(spec["tau"], single["tau"])
        assert spec["alpha0"] == single["alpha0"] and spec["width"] == single["width"]
        assert spec["seed"] == s and spec["retained"]
    a0 = np.array([s["alpha0"] for s in res["per_seed"]])
    w = np.array([s["width"] for s in res["per_seed"]])
    assert res["alpha0_mean"] == pytest.approx(a0.mean(), rel=1e-15)
    assert res["alpha0_std"] == pytest.approx(a0.std(), rel=1e-15)
    assert res["width_mean"] == pytest.approx(w.mean(), rel=1e-15)
    assert res["width_std"] == pytest.approx(w.std(), rel=1e-15)
    np.testing.assert_allclose(res["tau_mean"], np.mean([s["tau"] for s in res["per_seed"]], axis=0))
    assert res["alpha_mean"].shape == (60,) and res["f_alpha_mean"].shape == (60,)
    assert res["n_retained"] == 4 and res["seeds"] == seeds


def test_analyze_int_seeds_and_progress(make_fake_ckpt):
    ckpt = make_fake_ckpt(2, 16, seed=2)
    calls = []
    res = analyze_reference(ckpt, 2, n_per_layer=5, progress=lambda *a: calls.append(a))
    assert res["seeds"] == [0, 1]
    assert calls == [("read blocks", 1, 2), ("read blocks", 2, 2), ("spectra", 1, 2), ("spectra", 2, 2)]


def test_sample_filter_mode_2_drops_non_monotone(make_fake_ckpt):
    ckpt = make_fake_ckpt(2, 16, seed=3)
    res = analyze_reference(ckpt, 4, n_per_layer=5, sample_filter=2)
    keep = [s["alpha"].max() - s["alpha"][0] <= 0.01 for s in res["per_seed"]]
    assert [s["retained"] for s in res["per_seed"]] == keep
    kept = [s["alpha0"] for s, k in zip(res["per_seed"], keep) if k]
    if kept:
        assert res["alpha0_mean"] == pytest.approx(np.mean(kept))
    else:
        assert math.isnan(res["alpha0_mean"])
    with pytest.raises(ConfigError, match="seeds must be"):
        analyze_reference(ckpt, [-1], n_per_layer=5)
    with pytest.raises(ConfigError, match="sample_filter"):
        analyze_reference(ckpt, 1, n_per_layer=5, sample_filter=4)


def test_prefix_detection_and_missing_tensor(make_fake_ckpt):
    ckpt = make_fake_ckpt(2, 16, seed=4, prefix="")
    res = analyze_reference(ckpt, [0], n_per_layer=5)
    assert res["per_seed"][0]["n_centres"] > 2
    del ckpt._tensors["layers.1.mlp.dense_4h_to_h.weight"]
    with pytest.raises(CheckpointError, match="layers.1.mlp.dense_4h_to_h.weight.*missing"):
        analyze_reference(ckpt, [0], n_per_layer=5)


def test_shape_mismatch_is_checkpoint_error(make_fake_ckpt):
    ckpt = make_fake_ckpt(1, 16, seed=4)
    ckpt._tensors["gpt_neox.layers.0.attention.dense.weight"] = np.zeros((16, 15), np.float32)
    with pytest.raises(CheckpointError, match=r"attention.dense.weight.*\[16, 15\].*\[16, 16\]"):
        analyze_reference(ckpt, [0], n_per_layer=5)


def test_analysis_error_names_the_seed(make_fake_ckpt):
    ckpt = make_fake_ckpt(1, 16, seed=4)
    for name in list(ckpt._tensors):
        ckpt._tensors[name] = np.full_like(ckpt._tensors[name], 1e-4)  # d = 1e4 > T everywhere
    with pytest.raises(AnalysisError, match=r"seed 3.*only 0 of"):
        analyze_reference(ckpt, [3], n_per_layer=5)


def test_emergence_formula():
    a0 = [2.0, 1.8, 1.5]
    w = [0.5, 0.6, 1.0]
    e = reference_emergence(a0, w)
    np.testing.assert_allclose(e, [0.0, 1.2 * math.log(2 / 1.8), 2.0 * math.log(2 / 1.5)], rtol=1e-15)
    with pytest.raises(ConfigError):
        reference_emergence([1.0, -1.0], [1.0, 1.0])
