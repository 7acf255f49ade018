"""Centre sampling of the full network (issue 21): stratified centres, the fixed grid in u, the
pre-registered window, per-sample profiles and the null on the same centres."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mfa_engine.analysis.radii import U_GRID
from mfa_engine.api import analyze_checkpoint
from mfa_engine.arch import get_adapter
from mfa_engine.checkpoints import open_checkpoint
from mfa_engine.errors import ConfigError
from mfa_engine.graph_spectrum import graph_counts, graph_spectrum
from mfa_engine.modes import paper
from mfa_engine.modes.paper import centres_per_layer, design_weights, draw_centres
from mfa_engine.nin import build_nin
from mfa_engine.options import AnalysisOptions

from .._models import write_tiny_checkpoint


@pytest.fixture(scope="module")
def neox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("neox"), "gpt_neox", seed=5, n_layers=2)


def test_centres_per_layer_largest_remainder_by_hand() -> None:
    # quotas 0.7, 2.1, 0.7, 3.5: floors 0, 2, 0, 3 (5); the 2 left go to the largest
    # remainders 0.7 and 0.7 (tie: the earlier layer first, both get one)
    assert centres_per_layer([10, 30, 10, 50], 7) == [1, 2, 1, 3]
    # quotas 0.3, 0.9, 0.3, 1.5: floors 0, 0, 0, 1; the 2 left to remainders 0.9 and 0.5
    assert centres_per_layer([10, 30, 10, 50], 3) == [0, 1, 0, 2]
    # quotas 0.1 each of ten equal layers and one centre: the first layer (tie order)
    assert centres_per_layer([5] * 10, 1) == [1] + [0] * 9
    assert centres_per_layer([10, 30, 10, 50], 100) == [10, 30, 10, 50]
    assert centres_per_layer([10, 30, 10, 50], 1000) == [10, 30, 10, 50]
    assert centres_per_layer([10, 30, 10, 50], "all") == [10, 30, 10, 50]


def test_draw_centres_is_stratified_and_seeded() -> None:
    sizes = [8, 24, 8, 32, 8]
    c, per = draw_centres(sizes, 20, seed=3)
    assert per == centres_per_layer(sizes, 20) and sum(per) == c.size == 20
    assert np.all(np.diff(c) > 0)  # sorted, no repeat
    off = np.concatenate([[0], np.cumsum(sizes)])
    assert [int(((c >= off[l]) & (c < off[l + 1])).sum()) for l in range(len(sizes))] == per
    again, _ = draw_centres(sizes, 20, seed=3)
    other, _ = draw_centres(sizes, 20, seed=4)
    assert np.array_equal(c, again) and not np.array_equal(c, other)
    every, per_all = draw_centres(sizes, "all", seed=9)
    assert np.array_equal(every, np.arange(sum(sizes))) and per_all == sizes


def test_design_weights_by_hand() -> None:
    sizes = [10, 30, 10, 50]
    c = np.array([3, 12, 20, 30, 55, 60, 99])  # layers 0, 1, 1, 1, 3, 3, 3
    w = design_weights(sizes, [1, 3, 0, 3], c)
    np.testing.assert_array_equal(w, [10.0, 10.0, 10.0, 10.0, 50 / 3, 50 / 3, 50 / 3])
    assert design_weights(sizes, [1, 3, 1, 5], np.array([0, 10, 11, 12, 40, 50, 51, 52, 53, 54])) is None
    assert design_weights(sizes, sizes, np.arange(100)) is None  # every node: unweighted


def test_same_seed_same_centres_at_every_checkpoint(neox, tmp_path) -> None:
    other = write_tiny_checkpoint(tmp_path, "gpt_neox", seed=6, n_layers=2)  # same shapes, other weights
    seen: list[tuple[int, list[int]]] = []
    real = paper._measure

    def spy(net, centres, options, window, seed, per_layer):
        seen.append((seed, centres.tolist()))
        return real(net, centres, options, window, seed, per_layer)

    mp = pytest.MonkeyPatch()
    mp.setattr(paper, "_measure", spy)
    try:
        a = analyze_checkpoint(neox, samples=2, seed=7, centres=30, backend="cpu")
        b = analyze_checkpoint(other, samples=2, seed=7, centres=30, backend="cpu")
    finally:
        mp.undo()
    assert seen[:2] == seen[2:] and seen[0][1] != seen[1][1]
    assert [s["centres_per_layer"] for s in a["samples"]] == [s["centres_per_layer"] for s in b["samples"]]


def _strata_by_hand(g) -> list[int]:
    """Node layers in order x, qkv, ctx, attn_out, mlp per block (then x); GPT-NeoX's QKV layer
    is 3 * hidden nodes: its q, k and v thirds are separate strata."""
    out: list[int] = []
    for l, n in enumerate(g.layer_sizes):
        out.extend([n // 3] * 3 if l % 5 == 1 and l < len(g.layer_sizes) - 1 else [n])
    return out


def test_centre_strata_split_the_qkv_layers_by_role(neox) -> None:
    with open_checkpoint(neox) as ckpt:
        adapter = get_adapter(ckpt.config)
        g = build_nin(ckpt, adapter, neurons_per_layer="all", structural_scale="median")
    strata = paper.centre_strata(g, adapter)
    assert strata == _strata_by_hand(g) and sum(strata) == g.n_nodes
    assert len(strata) == len(g.layer_sizes) + 2 * 2  # two blocks, two more strata each
    assert paper.centre_strata(g, None) == list(g.layer_sizes)


def test_centres_all_equals_graph_spectrum_of_the_full_network(neox) -> None:
    doc = analyze_checkpoint(neox, centres="all", backend="cpu")
    (rec,) = doc["samples"]
    assert doc["config"]["window"] == [1.2, 2.2] and doc["config"]["window_source"] == "family:gpt_neox"
    with open_checkpoint(neox) as ckpt:
        g = build_nin(ckpt, get_adapter(ckpt.config), neurons_per_layer="all", structural_scale="median")
    r_unit = float(np.median(g.weight_distances()))
    assert rec["r_unit"] == r_unit and rec["n_nodes"] == g.n_nodes
    assert rec["centres_per_layer"] == _strata_by_hand(g)
    radii = r_unit * np.exp(U_GRID)
    # the fixed window [1.2, 2.2] in u is the radius range r_unit * e^1.2 .. r_unit * e^2.2
    opts = AnalysisOptions(backend="cpu", fit_range=(r_unit * np.exp(1.2), r_unit * np.exp(2.2)))
    spec = graph_spectrum(g, opts, radii=radii, centres=np.arange(g.n_nodes))
    assert rec["alpha0"] == spec.alpha0 and rec["tau"] == spec.tau.tolist() and rec["width"] == spec.width
    assert rec["window_u"] == [1.2, 2.2]
    assert spec.radii.size == 11  # 1.2, 1.3, ..., 2.2


def test_profile_is_the_finite_difference_of_the_counts(neox) -> None:
    doc = analyze_checkpoint(neox, samples=1, seed=2, centres=25, backend="cpu", q=[-1.0, 0.0, 2.0])
    (rec,) = doc["samples"]
    with open_checkpoint(neox) as ckpt:
        g = build_nin(ckpt, get_adapter(ckpt.config), neurons_per_layer="all", structural_scale="median")
    strata = _strata_by_hand(g)
    centres, per = draw_centres(strata, 25, 2)
    radii = rec["r_unit"] * np.exp(U_GRID)
    counts, _, _ = graph_counts(g, AnalysisOptions(backend="cpu"), radii=radii, centres=centres)
    # design weights n_s / k_s of each centre's stratum, computed here from the stratum sizes
    stratum = np.repeat(np.arange(len(strata)), strata)[centres]
    w = np.array([strata[l] / per[l] for l in stratum])
    keep = counts[:, -1] - 1 >= 10  # min_reach = 10
    c, w = counts[keep].astype(np.float64), w[keep]
    mu = c / c[:, -1:]
    mean_ln_mu = (w[:, None] * np.log(mu)).sum(axis=0) / w.sum()
    u = np.arange(-30, 31) / 10.0
    prof = rec["profile"]
    # central differences: the slope between the radii one grid point below and one above
    np.testing.assert_allclose(prof["u"], u[1:-1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(prof["ln_mu"], (mean_ln_mu[2:] - mean_ln_mu[:-2]) / 0.2, rtol=1e-9, atol=1e-9)
    for j, qj in enumerate([-1.0, 0.0, 2.0]):
        ln_z = np.log((w[:, None] * mu ** qj).sum(axis=0))
        np.testing.assert_allclose(prof["ln_z"][j], (ln_z[2:] - ln_z[:-2]) / 0.2, rtol=1e-9, atol=1e-9)
    assert rec["sampling"] == "centres" and sum(rec["centres_per_layer"]) == 25


def test_null_uses_the_same_centres(neox) -> None:
    seen: list[tuple[int, list[int]]] = []
    real = paper._measure

    def spy(net, centres, options, window, seed, per_layer):
        seen.append((seed, centres.tolist()))
        return real(net, centres, options, window, seed, per_layer)

    mp = pytest.MonkeyPatch()
    mp.setattr(paper, "_measure", spy)
    try:
        doc = analyze_checkpoint(neox, samples=2, centres=30, null="shuffle", backend="cpu")
    finally:
        mp.undo()
    assert [s for s, _ in seen] == [0, 0, 1, 1]
    assert seen[0] == seen[1] and seen[2] == seen[3] and seen[0] != seen[2]
    for s in doc["samples"]:
        n = s["null"]
        assert n["model"] == "shuffle" and n["centres_per_layer"] == s["centres_per_layer"]
        assert set(n) >= {"sampling", "r_unit", "profile", "window_u"}
        assert n["r_unit"] == s["r_unit"]  # a permutation keeps the median weight distance
        assert n["alpha0"] != s["alpha0"]


def test_neuron_sampling_keeps_its_grid_and_reports_a_profile(neox) -> None:
    doc = analyze_checkpoint(neox, samples=1, sampling="neurons", neurons_per_layer=8, backend="cpu")
    (rec,) = doc["samples"]
    assert rec["sampling"] == "neurons" and "centres_per_layer" not in rec
    assert rec["diagnostics"]["fit_window_source"] == "auto"
    assert len(rec["profile"]["u"]) == 62  # its own 64-radius grid (central differences), u relative to its own r_unit
    lo, hi = rec["diagnostics"]["fit_window"]
    assert rec["window_u"] == pytest.approx([np.log(lo / rec["r_unit"]), np.log(hi / rec["r_unit"])], rel=1e-12)


def test_window_option_and_fixed_window_rules(neox) -> None:
    doc = analyze_checkpoint(neox, samples=1, centres=30, window=(0.5, 1.5), backend="cpu")
    assert doc["config"]["window"] == [0.5, 1.5] and doc["config"]["window_source"] == "option"
    assert doc["samples"][0]["window_u"] == [0.5, 1.5]
    assert doc["samples"][0]["diagnostics"]["n_fit_radii"] == 11
    with pytest.raises(ConfigError, match="radius_grid='u'"):
        AnalysisOptions(fit_window="fixed", radius_grid="data")
    with pytest.raises(ConfigError, match="window"):
        AnalysisOptions(window=(1.0, 2.0), fit_window="auto")
    with pytest.raises(ConfigError, match="LO < HI"):
        AnalysisOptions(window=(2.0, 1.0))
    auto = analyze_checkpoint(neox, samples=1, centres=30, fit_window="auto", backend="cpu")
    assert auto["config"]["window"] is None and auto["samples"][0]["diagnostics"]["fit_window_source"] == "auto"


def test_centre_sampling_above_the_memory_budget_is_streamed_or_refused(neox, monkeypatch) -> None:
    """Above MFA_NETWORK_MEMORY the full network is streamed (tests/modes/test_paper_stream.py has
    the record-for-record comparison); only a budget that cannot hold even the stream is refused."""
    ref = analyze_checkpoint(neox, samples=1, centres=10, backend="cpu")
    monkeypatch.setenv("MFA_NETWORK_MEMORY", "400000")  # network 737 280 bytes, stream 257 728
    doc = analyze_checkpoint(neox, samples=1, centres=10, backend="cpu")
    assert doc["samples"][0]["tau"] == ref["samples"][0]["tau"]
    monkeypatch.setenv("MFA_NETWORK_MEMORY", "1000")
    with pytest.raises(ConfigError, match=r"streaming the full network .* above the budget .* sampling='neurons'"):
        analyze_checkpoint(neox, samples=1, centres=10, backend="cpu")
    doc = analyze_checkpoint(neox, samples=1, sampling="neurons", neurons_per_layer=8, backend="cpu")
    assert doc["samples"][0]["sampling"] == "neurons"
