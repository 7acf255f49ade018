"""The streamed GPU driver (mfa_engine.paths.gpu_stream) against SciPy's float64 Dijkstra: the
torch backend here (CPU tensors without a GPU), the Triton kernels in a ``TRITON_INTERPRET=1``
subprocess on tiny shapes, CuPy on a CUDA device only."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse import csgraph

from mfa_engine._device import cuda_available
from mfa_engine.errors import ConfigError
from mfa_engine.layered import LayeredGraph, LevelBlock
from mfa_engine.paths import stream
from tests._interpreter import run_file_under_interpreter

pytest.importorskip("torch")

from mfa_engine.paths import gpu_stream  # noqa: E402

INTERP = os.environ.get("TRITON_INTERPRET", "0") == "1"
needs_triton = pytest.mark.skipif(not (INTERP or cuda_available()),
                                  reason="needs a CUDA device or the TRITON_INTERPRET=1 subprocess")


@pytest.mark.slow
@pytest.mark.skipif(INTERP, reason="already under the interpreter")
def test_interpreter_cases_in_subprocess() -> None:
    run_file_under_interpreter(__file__)


def _graph(sizes: list[int], seed: int, zeros: bool = False, scale: float = 1.0) -> LayeredGraph:
    rng = np.random.default_rng(seed)
    blocks = []
    for a, b in itertools.pairwise(sizes):
        w = np.round(rng.uniform(0.1, 2.0, (a, b)), 1) * scale
        w[rng.random((a, b)) < 0.3] = np.inf
        if zeros:
            w[rng.random((a, b)) < 0.05] = 0.0
        blocks.append(w)
    return LayeredGraph(sizes, blocks)


def _oracle(g: LayeredGraph, src: np.ndarray, radii: np.ndarray) -> np.ndarray:
    d = csgraph.dijkstra(sp.csr_array(g.to_csr()), indices=src)
    d = np.where(np.isfinite(d), d, np.nan)  # unreachable: never within a radius, even an infinite one
    return np.stack([(d <= r).sum(axis=1) for r in radii], axis=1)


def _case(sizes: list[int], seed: int, zeros: bool = False, scale: float = 1.0):
    g = _graph(sizes, seed, zeros, scale)
    rng = np.random.default_rng(seed + 100)
    src = rng.choice(g.n_nodes, min(g.n_nodes, 29), replace=False)
    d = csgraph.dijkstra(sp.csr_array(g.to_csr()), indices=src)
    radii = rng.permutation(np.concatenate([[0.0, -1.0], np.unique(d[np.isfinite(d)])[::3]]))
    return g, src, radii


@pytest.mark.parametrize("sizes", [[3, 5, 2], [17, 33, 9, 65, 12], [40, 130, 64, 31]])
@pytest.mark.parametrize("zeros", [False, True])
def test_torch_stream_matches_dijkstra_and_the_cpu_stream(sizes: list[int], zeros: bool) -> None:
    g, src, radii = _case(sizes, sum(sizes) + zeros, zeros)
    want = _oracle(g, src, radii)
    got = gpu_stream.stream_histogram(sizes, stream.iter_layered_blocks(g), src, radii, backend="torch")
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(stream.stream_counts(sizes, stream.iter_layered_blocks(g), src, radii), want)
    assert gpu_stream.last_stream_stats["passes"] == [("float64", src.size, len(sizes) - 1)]


def test_stream_reads_each_block_once_and_checks_the_stream() -> None:
    g, src, radii = _case([4, 6, 5, 3], 1)
    seen = []

    def blocks():
        for b in stream.iter_layered_blocks(g):
            seen.append(b.level)
            yield b

    gpu_stream.stream_histogram(g.layer_sizes, blocks(), src, radii, backend="torch")
    assert seen == [0, 1, 2]
    with pytest.raises(ConfigError, match="ended after 2 blocks, expected 3"):
        gpu_stream.stream_histogram(g.layer_sizes, list(stream.iter_layered_blocks(g))[:2], src, radii, backend="torch")
    bad = [LevelBlock(0, g.blocks[0], False), LevelBlock(2, g.blocks[2], False)]
    with pytest.raises(ConfigError, match="block 1 expected"):
        gpu_stream.stream_histogram(g.layer_sizes, bad, src, radii, backend="torch")
    with pytest.raises(ConfigError, match="backend must be one of"):
        gpu_stream.stream_histogram(g.layer_sizes, [], src, radii, backend="cpu")
    with pytest.raises(ConfigError, match=r"node ids in \[0, 18\)"):
        gpu_stream.stream_histogram(g.layer_sizes, [], np.array([18]), radii, backend="torch")
    assert gpu_stream.stream_histogram(g.layer_sizes, stream.iter_layered_blocks(g), src, np.array([-2.0, -1.0]),
                                       backend="torch").tolist() == [[0, 0]] * src.size


@needs_triton
@pytest.mark.parametrize("sizes", [[3, 5, 2], [9, 17, 4, 6]])
@pytest.mark.parametrize("twice", [False, True])
def test_triton_stream_matches_dijkstra(sizes: list[int], twice: bool) -> None:
    g, src, radii = _case(sizes, 7 + len(sizes))
    blocks = (lambda: stream.iter_layered_blocks(g)) if twice else stream.iter_layered_blocks(g)
    got = gpu_stream.stream_histogram(sizes, blocks, src, radii, backend="triton")
    np.testing.assert_array_equal(got, _oracle(g, src, radii))
    first = gpu_stream.last_stream_stats["passes"][0][0]
    assert first == ("float32" if twice else "float64")


@needs_triton
def test_triton_stream_float32_flags_are_recomputed_exactly() -> None:
    """Radii at exact path lengths: float32 rounding lands on them, the flagged sources are redone."""
    sizes = [5, 7, 6]
    g, src, _ = _case(sizes, 3, scale=0.1)  # weights 0.01 .. 0.2: inexact in binary
    d = csgraph.dijkstra(sp.csr_array(g.to_csr()), indices=src)
    radii = np.unique(d[np.isfinite(d) & (d > 0)])
    got = gpu_stream.stream_histogram(sizes, lambda: stream.iter_layered_blocks(g), src, radii, backend="triton")
    np.testing.assert_array_equal(got, _oracle(g, src, radii))
    assert gpu_stream.last_stream_stats["flagged"] > 0


@needs_triton
def test_triton_stream_out_of_range_weights_and_radii_go_to_float64() -> None:
    g = LayeredGraph([1, 1, 1], [np.array([[1e-46]]), np.array([[1e39]])])
    src = np.array([0, 1])
    blocks = lambda: stream.iter_layered_blocks(g)  # noqa: E731
    radii = np.array([0.0, 1e-46, 1e40, np.inf])  # radii outside float32's range: float64 from the start
    np.testing.assert_array_equal(gpu_stream.stream_histogram(g.layer_sizes, blocks, src, radii, backend="triton"),
                                  _oracle(g, src, radii))
    assert [p[0] for p in gpu_stream.last_stream_stats["passes"]] == ["float64"]
    radii = np.array([0.0, 0.5, 1e20, np.inf])  # weights outside it: every source recomputed in float64
    np.testing.assert_array_equal(gpu_stream.stream_histogram(g.layer_sizes, blocks, src, radii, backend="triton"),
                                  _oracle(g, src, radii))
    assert gpu_stream.last_stream_stats["passes"] == [("float32", 2, 2), ("float64", 2, 2)]


@pytest.mark.skipif(not cuda_available(), reason="needs a CUDA device")
def test_cupy_stream_matches_dijkstra() -> None:
    pytest.importorskip("cupy")
    sizes = [130, 257, 64, 129]
    g, src, radii = _case(sizes, 11)
    for blocks in (stream.iter_layered_blocks(g), lambda: stream.iter_layered_blocks(g)):
        got = gpu_stream.stream_histogram(sizes, blocks, src, radii, backend="cupy")
        np.testing.assert_array_equal(got, _oracle(g, src, radii))
