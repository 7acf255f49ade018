"""Centre sampling streamed above the memory budget (issue 20, item 4): the same records as the
in-memory path, one stream for every seed's centres, the plan of its reads, and its limits."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from mfa_engine.arch import get_adapter
from mfa_engine.checkpoints import open_checkpoint
from mfa_engine.errors import ConfigError
from mfa_engine.limits import estimate_network
from mfa_engine.modes import paper, paper_stream
from mfa_engine.nin import build_nin, nin_level_sizes
from mfa_engine.options import AnalysisOptions

from .._models import write_tiny_checkpoint
from .plan_check import planned_and_run

#: Fields that may differ between two runs of the same sample (none today: records hold no timing).
TIMING = {"seconds", "elapsed", "wall_s", "cpu_s"}


def _strip(rec: dict) -> dict:
    out = {k: v for k, v in rec.items() if k not in TIMING}
    if "null" in out:
        out["null"] = _strip(out["null"])
    return out


@pytest.fixture(scope="module")
def neox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("neox-stream"), "gpt_neox", seed=5, n_layers=2)


def _force_stream(monkeypatch, ckpt) -> None:
    """A budget below the full network's estimate but above one stream's needs."""
    est = estimate_network(nin_level_sizes(get_adapter(ckpt.config)))
    monkeypatch.setenv("MFA_NETWORK_MEMORY", str(est - 1))


def _runs(neox, monkeypatch, seeds, **kw) -> tuple[list[dict], list[dict], list]:
    opts = AnalysisOptions(backend="cpu", **kw)
    with open_checkpoint(neox) as ckpt:
        mem, _ = paper.run(ckpt, seeds, opts)
        _force_stream(monkeypatch, ckpt)
        calls = []
        real = paper_stream._stream_counts
        monkeypatch.setattr(paper_stream, "_stream_counts", lambda *a, **k: calls.append(a[2].size) or real(*a, **k))
        streamed, _ = paper.run(ckpt, seeds, opts)
    return mem, streamed, calls


@pytest.mark.parametrize("kw", [
    {"centres": 23},
    {"centres": 25, "structural_scale": "absolute", "structural_distance": 2.5},
    {"centres": 17, "structural_distance": 0.7, "eps": 0.02, "convention": "sandbox"},
])
def test_streamed_records_equal_the_in_memory_records(neox, monkeypatch, kw) -> None:
    seeds = [3, 1, 4]
    mem, streamed, calls = _runs(neox, monkeypatch, seeds, **kw)
    assert [_strip(r) for r in streamed] == [_strip(r) for r in mem]
    assert len(calls) == 1  # every seed's centres in one stream of the checkpoint
    with open_checkpoint(neox) as ckpt:
        ad = get_adapter(ckpt.config)
    strata = paper.centre_strata(paper_stream.skeleton(ad), ad)
    union = np.unique(np.concatenate([paper.draw_centres(strata, kw["centres"], s)[0] for s in seeds]))
    assert calls == [union.size]


@pytest.mark.parametrize("null", ["shuffle", "gaussian"])
def test_streamed_nulls_equal_the_in_memory_nulls(neox, monkeypatch, null) -> None:
    mem, streamed, calls = _runs(neox, monkeypatch, [2, 7], centres=19, null=null)
    assert [_strip(r) for r in streamed] == [_strip(r) for r in mem]
    assert all(r["null"]["model"] == null for r in streamed)
    assert len(calls) == 3  # the checkpoint once, then each seed's null


def test_streamed_whole_network_is_one_measurement(neox, monkeypatch) -> None:
    mem, streamed, calls = _runs(neox, monkeypatch, [0, 5], centres="all")
    assert [_strip(r) for r in streamed] == [_strip(r) for r in mem]
    assert sum(calls) == streamed[0]["n_nodes"]  # every node a centre once (in passes that fit the budget)


def test_scan_matches_the_built_network(neox) -> None:
    """The pre-pass's edges, structural distance and r_unit are those of the built network."""
    from mfa_engine.analysis.radii import r_unit_of

    for kw in [{}, {"structural_scale": "absolute"}, {"structural_distance": 3.0}, {"eps": 0.05}]:
        opts = AnalysisOptions(**kw)
        with open_checkpoint(neox) as ckpt:
            ad = get_adapter(ckpt.config)
            g = build_nin(ckpt, ad, neurons_per_layer="all", eps=opts.eps, structural_distance=opts.structural_distance,
                          structural_scale=opts.structural_scale)
            sk = paper_stream.scan_network(ckpt, ad, opts)
        assert sk.n_edges == g.n_edges and sk.n_nodes == g.n_nodes and sk.layer_sizes == g.layer_sizes
        assert sk.structural_distance == g.structural_distance
        assert sk.r_unit == r_unit_of(g.weight_distances())
        np.testing.assert_array_equal(sk.node_kind, g.node_kind)
        np.testing.assert_array_equal(sk.node_neuron, g.node_neuron)
        np.testing.assert_array_equal(sk.node_block, g.node_block)


@pytest.mark.parametrize("model_type", ["gpt_neox", "gpt2", "llama", "bert"])
def test_plan_records_the_reads_of_the_streamed_run(tiny_checkpoint, monkeypatch, model_type) -> None:
    kw = {"kv_heads": 2} if model_type == "llama" else {}
    opts = AnalysisOptions(centres=15, null="shuffle", backend="cpu")
    with open_checkpoint(tiny_checkpoint(model_type, **kw)) as ckpt:
        mem, _ = paper.run(ckpt, [3, 1], opts)
        _force_stream(monkeypatch, ckpt)
        planned, ran, records = planned_and_run(paper, ckpt, [3, 1], opts)
    n_matrices = len(planned) // 9  # (2 pre-pass reads + 1 stream) x (checkpoint + 2 nulls)
    assert len(planned) == n_matrices * 9 and n_matrices > 0
    # every planned read is made; the exact resolution of a float32 stream may read some of
    # the same whole matrices again (data-dependent), never anything else
    assert not Counter(planned) - Counter(ran) and set(ran) == set(planned)
    assert [_strip(r) for r in records] == [_strip(r) for r in mem]


def test_sources_split_into_passes_when_their_panel_does_not_fit(neox, monkeypatch) -> None:
    from mfa_engine import limits

    opts = AnalysisOptions(centres=30, backend="cpu")
    with open_checkpoint(neox) as ckpt:
        mem, _ = paper.run(ckpt, [1, 2], opts)
        sizes = nin_level_sizes(get_adapter(ckpt.config))
        blocks, per = limits._stream_parts(sizes, 61)
        monkeypatch.setenv("MFA_NETWORK_MEMORY", str(blocks + 13 * per))  # 13 sources a pass
        assert limits.stream_sources_per_pass(sizes, 61) == 13
        calls = []
        real = paper_stream._stream_counts
        monkeypatch.setattr(paper_stream, "_stream_counts", lambda *a, **k: calls.append(a[2].size) or real(*a, **k))
        streamed, _ = paper.run(ckpt, [1, 2], opts)
    assert [_strip(r) for r in streamed] == [_strip(r) for r in mem]
    assert len(calls) >= 3 and max(calls) <= 13


def test_impossible_budget_and_unstreamable_options_are_clear_errors(neox, monkeypatch) -> None:
    with open_checkpoint(neox) as ckpt:
        monkeypatch.setenv("MFA_NETWORK_MEMORY", "1000")
        with pytest.raises(ConfigError, match=r"two level blocks of about .* GB plus .* MB per centre, above the "
                                              r"budget of 0\.00 GB \(MFA_NETWORK_MEMORY\)"):
            paper.run(ckpt, [0], AnalysisOptions(centres=10, backend="cpu"))
        _force_stream(monkeypatch, ckpt)
        with pytest.raises(ConfigError, match="radius_grid='u'"):
            paper.run(ckpt, [0], AnalysisOptions(centres=10, radius_grid="data", fit_window="auto", backend="cpu"))
        with pytest.raises(ConfigError, match="undirected"):
            paper.run(ckpt, [0], AnalysisOptions(centres=10, directed=False, backend="cpu"))


def test_sample_fit_streamed_equals_in_memory(neox, monkeypatch) -> None:
    opts = AnalysisOptions(centres=20, backend="cpu")
    with open_checkpoint(neox) as ckpt:
        a = paper.sample_fit(ckpt, 4, opts)
        _force_stream(monkeypatch, ckpt)
        b = paper.sample_fit(ckpt, 4, opts)
    for k in ("ln_r", "ln_z", "tau", "u"):
        np.testing.assert_array_equal(a[k], b[k])
    assert a["window"] == b["window"] and a["window_u"] == b["window_u"]


def test_streamed_on_the_device_driver_equals_in_memory(neox, monkeypatch) -> None:
    """A device backend streams through paths.gpu_stream (torch here: CPU tensors without a GPU)."""
    pytest.importorskip("torch")
    from mfa_engine.paths import gpu_stream

    with open_checkpoint(neox) as ckpt:
        mem, _ = paper.run(ckpt, [6, 2], AnalysisOptions(centres=21, backend="cpu"))
        _force_stream(monkeypatch, ckpt)
        calls = []
        real = gpu_stream.stream_histogram
        monkeypatch.setattr(gpu_stream, "stream_histogram", lambda *a, **k: calls.append(k["backend"]) or real(*a, **k))
        streamed, _ = paper.run(ckpt, [6, 2], AnalysisOptions(centres=21, backend="torch"))
    assert calls == ["torch"]
    assert [_strip(r) for r in streamed] == [_strip(r) for r in mem]


def test_the_stream_runs_float32_with_exact_resolution_unless_distances_leave_its_range(neox, monkeypatch) -> None:
    """CPU streams pass the float64 columns for the exact resolution of a float32 pass; a network
    with a distance outside [1e-30, 1e30] streams in float64; the records are the same."""
    from mfa_engine.paths import stream

    sk = paper_stream.NetworkSkeleton.__new__(paper_stream.NetworkSkeleton)
    sk.structural_distance = None
    sk.distance_range = (0.5, 40.0)
    assert sk.float32_ok
    sk.distance_range = (1e-31, 40.0)
    assert not sk.float32_ok
    sk.distance_range, sk.structural_distance = (0.5, 40.0), 2e30
    assert not sk.float32_ok

    seen: list[bool] = []
    real = stream.stream_counts
    monkeypatch.setattr(paper_stream, "stream_counts",
                        lambda *a, **k: seen.append(k.get("columns_at") is not None) or real(*a, **k))
    opts = AnalysisOptions(backend="cpu", centres=19)
    with open_checkpoint(neox) as ckpt:
        mem, _ = paper.run(ckpt, [4], opts)
        _force_stream(monkeypatch, ckpt)
        f32, _ = paper.run(ckpt, [4], opts)
        monkeypatch.setattr(paper_stream.NetworkSkeleton, "float32_ok", property(lambda self: False))
        f64, _ = paper.run(ckpt, [4], opts)
    assert seen == [True, False]
    assert [_strip(r) for r in f32] == [_strip(r) for r in mem] == [_strip(r) for r in f64]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_a_16bit_checkpoint_streams_to_the_in_memory_records(tmp_path, monkeypatch, dtype) -> None:
    """16-bit checkpoints take the pre-pass's histogram path (no block built for the medians):
    r_unit, the median-scaled structural distance and every record equal the in-memory run."""
    path = write_tiny_checkpoint(tmp_path, "gpt_neox", seed=9, n_layers=2, dtype=dtype)
    opts = AnalysisOptions(backend="cpu", centres=21)
    with open_checkpoint(path) as ckpt:
        mem, _ = paper.run(ckpt, [2, 5], opts)
        ad = get_adapter(ckpt.config)
        g = build_nin(ckpt, ad, neurons_per_layer="all", structural_scale="median")
        sk = paper_stream.scan_network(ckpt, ad, opts)
        _force_stream(monkeypatch, ckpt)
        streamed, _ = paper.run(ckpt, [2, 5], opts)
    fin = np.concatenate([b[np.isfinite(b)] for b, st in zip(g.blocks, g.structural) if not st])
    assert sk.structural_distance == g.structural_distance == float(np.median(fin))
    assert sk.n_edges == sum(int(np.isfinite(b).sum()) for b in g.blocks)
    assert [_strip(r) for r in streamed] == [_strip(r) for r in mem]
