"""GPU DAG driver exact at every weight: extreme-weight cases on the Triton backend (interpreter,
in a ``TRITON_INTERPRET=1`` subprocess) against float64 Dijkstra, and the driver's range rule,
cutoff rounding, batch sizing and launch model (plain Python)."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
import scipy.sparse as sp

from mfa_engine._device import cuda_available
from mfa_engine.layered import LayeredGraph
from mfa_engine.paths import gpu
from mfa_engine.paths.dag import from_layered
from tests._interpreter import run_file_under_interpreter
from tests.paths.paths_graphs import layered_to_csr

INTERP = os.environ.get("TRITON_INTERPRET", "0") == "1"
#: Run on a CUDA device, or here inside the TRITON_INTERPRET=1 subprocess.
needs_interp = pytest.mark.skipif(not (INTERP or cuda_available()),
                                  reason="needs a CUDA device or the TRITON_INTERPRET=1 subprocess")


@pytest.mark.slow
@pytest.mark.skipif(INTERP, reason="already under the interpreter")
def test_interpreter_cases_in_subprocess() -> None:
    run_file_under_interpreter(__file__)


def _chain(weights: list[float]) -> LayeredGraph:
    """A path 0 -> 1 -> ... with the given edge distances (one node per layer)."""
    return LayeredGraph([1] * (len(weights) + 1), [np.array([[w]]) for w in weights])


#: (name, graph, sources, radii, expected counts): the issue's cases plus neighbours.
EXTREME = [
    ("edge_1e-46_radius_0", _chain([1e-46]), [0], [0.0], [[1]]),
    ("edge_1e-46_radius_1e-46", _chain([1e-46]), [0], [0.0, 1e-46, 2e-46], [[1, 2, 2]]),
    ("subnormal_sum_below_radius", _chain([1e-44, 1e-44]), [0], [1.99e-44, 2e-44], [[2, 3]]),
    ("overflow_edge_1e39", _chain([1e39]), [0], [1e40, np.inf], [[2, 2]]),
    ("overflow_sum", _chain([3e38, 3e38]), [0], [3.1e38, 6e38, 6.1e38], [[2, 3, 3]]),
    ("radius_beyond_float32", _chain([1.0, 2.0]), [0, 1], [1e-50, 1.0, 1e300], [[1, 2, 3], [1, 1, 2]]),
]


def _oracle(g: LayeredGraph, src, radii) -> np.ndarray:
    from scipy.sparse import csgraph

    m = layered_to_csr(g)
    d = csgraph.dijkstra(m, indices=np.asarray(src))
    d = np.where(np.isfinite(d), d, np.nan)
    return (d[:, None, :] <= np.asarray(radii)[None, :, None]).sum(-1)


@pytest.mark.parametrize("name,g,src,radii,want", EXTREME, ids=[e[0] for e in EXTREME])
def test_expected_counts_are_float64_dijkstra_and_cpu(name, g, src, radii, want) -> None:
    from mfa_engine.paths import multi_source_counts

    np.testing.assert_array_equal(_oracle(g, src, radii), want)
    np.testing.assert_array_equal(multi_source_counts(g, src, radii, backend="cpu"), want)


@pytest.mark.parametrize("name,g,src,radii,want", EXTREME, ids=[e[0] for e in EXTREME])
def test_range_rule_sends_extremes_to_float64(name, g, src, radii, want) -> None:
    assert gpu.needs_float64(from_layered(g), np.sort(np.asarray(radii, float)))


def test_range_rule_keeps_ordinary_inputs_in_float32() -> None:
    g = _chain([0.5, 3.0, 1e6])
    assert not gpu.needs_float64(from_layered(g), np.array([0.0, 1.0, 2.0**99, np.inf]))
    assert gpu.needs_float64(from_layered(g), np.array([0.0, 2.0**-101]))
    assert gpu.needs_float64(from_layered(_chain([0.0, 2.0**101])), np.array([1.0]))
    assert not gpu.needs_float64(from_layered(_chain([0.0, 1.0])), np.array([0.0]))  # zero edges are exact


@pytest.mark.parametrize("x", [0.1, 1.0, 1e-46, 3.4e38, 1e40, np.inf, 0.0, 1.0000000001])
def test_thr32_never_rounds_the_cutoff_down(x: float) -> None:
    t = gpu._thr32(x)
    assert t >= x
    assert float(np.float32(t)) == t  # a float32 value: the kernel argument is exactly this


@pytest.mark.parametrize("n_p,s_n,item", [(128, 1, 4), (30_720, 30_720, 4), (30_720, 30_720, 8), (896, 5, 8)])
def test_batch_sources_fits_the_budget(n_p: int, s_n: int, item: int) -> None:
    budget = 1 << 30
    b = gpu.batch_sources(n_p, s_n, item, budget, 64)
    assert b % 128 == 0 and 128 <= b <= -(-s_n // 128) * 128
    assert b == 128 or b * (n_p * item + 65 * 4 + 8) <= budget


def test_launch_waves_model() -> None:
    w = gpu.launch_waves(np.array([4, 16, 80]), 8192, 132, 2)
    np.testing.assert_allclose(w, np.array([4, 16, 80]) * 64 / 264)


@needs_interp
@pytest.mark.parametrize("name,g,src,radii,want", EXTREME, ids=[e[0] for e in EXTREME])
def test_triton_backend_exact_at_extreme_weights(name, g, src, radii, want) -> None:
    from mfa_engine.paths import multi_source_counts

    np.testing.assert_array_equal(multi_source_counts(g, src, radii, backend="triton"), want)
    assert gpu.last_stats["float64_only"]


@needs_interp
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_triton_backend_exact_on_random_extreme_layered(seed: int) -> None:
    """Log-uniform weights over 1e-60 .. 1e60 (subnormal and overflowing in float32), radii at
    exact path lengths, zero, tiny, huge and infinite."""
    from mfa_engine.paths import multi_source_counts

    rng = np.random.default_rng(seed)
    sizes = [2, 3, 1, 3]
    blocks = []
    for a, b in itertools.pairwise(sizes):
        w = 10.0 ** rng.uniform(-60, 60, (a, b))
        w[rng.random((a, b)) < 0.3] = np.inf
        blocks.append(w)
    g = LayeredGraph(sizes, blocks)
    src = np.arange(sum(sizes))
    d = _oracle_dist(g, src)
    fin = np.unique(d[np.isfinite(d)])
    radii = np.concatenate([rng.choice(fin, min(5, fin.size), replace=False), [0.0, 1e-50, 1e50, np.inf]])
    np.testing.assert_array_equal(multi_source_counts(g, src, radii, backend="triton"), _oracle(g, src, radii))


def _oracle_dist(g: LayeredGraph, src) -> np.ndarray:
    from scipy.sparse import csgraph

    off = np.concatenate([[0], np.cumsum(g.layer_sizes)])
    n = int(off[-1])
    m = np.zeros((n, n))
    for l, b in enumerate(g.blocks):
        blk = np.where(np.isfinite(b), b, 0.0)
        m[off[l] : off[l + 1], off[l + 1] : off[l + 2]] = blk
    return csgraph.dijkstra(sp.csr_array(m), indices=np.asarray(src))


@needs_interp
def test_blocks_resident_across_calls_and_streamed_when_over_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A prepared DAG keeps its device blocks between calls (no re-upload); when the blocks do not
    fit the budget they are uploaded per target level, and the counts are the same."""
    from mfa_engine.paths import multi_source_counts, prepare_graph

    rng = np.random.default_rng(3)
    sizes = [5, 4, 6, 3]
    g = LayeredGraph(sizes, [rng.uniform(0.5, 2.0, (a, b)) for a, b in itertools.pairwise(sizes)])
    src = np.arange(sum(sizes))
    radii = np.array([0.0, 1.0, 2.0, 3.5, np.inf])
    want = _oracle(g, src, radii)
    prep = prepare_graph(g)
    np.testing.assert_array_equal(multi_source_counts(prep, src, radii, backend="triton"), want)
    uploads = []
    real = gpu._DagPlan._upload
    monkeypatch.setattr(gpu._DagPlan, "_upload", lambda self, *a: uploads.append(a[:2]) or real(self, *a))
    np.testing.assert_array_equal(multi_source_counts(prep, src, radii, backend="triton"), want)
    assert uploads == [] and gpu.last_stats["passes"][0]["resident"]
    monkeypatch.setattr(gpu, "_HOST_BUDGET", 1000)  # blocks (3 x 128 x 128 x 4 bytes) no longer fit
    monkeypatch.setattr(gpu, "device_budget", lambda dev: 1000)
    np.testing.assert_array_equal(multi_source_counts(g, src, radii, backend="triton"), want)
    p = gpu.last_stats["passes"][0]
    assert not p["resident"] and p["stream_uploads"] == 3 * p["batches"] > 0


@needs_interp
@pytest.mark.parametrize("seed", [0, 1])
def test_triton_dag_with_several_blocks_into_a_level(seed: int) -> None:
    """A CSR DAG with edges that skip levels: several blocks enter one level (the first overwrites,
    the others take the minimum, the last counts), radii at exact path lengths."""
    from mfa_engine.paths import multi_source_counts
    from tests.paths.paths_graphs import (
        oracle_counts,
        oracle_distances,
        radii_with_exact_lengths,
    )

    rng = np.random.default_rng(seed)
    n = 14
    m = np.triu(rng.uniform(0.5, 3.0, (n, n)), 1)
    m[rng.random((n, n)) < 0.6] = 0.0
    csr = sp.csr_array(m)
    src = np.arange(n)
    radii = np.append(radii_with_exact_lengths(rng, oracle_distances(csr, src)), np.inf)
    np.testing.assert_array_equal(multi_source_counts(csr, src, radii, backend="triton"), oracle_counts(csr, src, radii))
