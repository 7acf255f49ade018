"""Property tests of the public path API against SciPy Dijkstra (seeded loops)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mfa_engine.errors import BackendError, ConfigError
from mfa_engine.paths import multi_source_counts, multi_source_distances
from tests.paths.paths_graphs import (
    LG,
    layered_to_csr,
    oracle_counts,
    oracle_distances,
    radii_with_exact_lengths,
    random_csr,
    random_layered,
)

BACKENDS = ["cpu", "torch"]


def _assert_dist(got: np.ndarray, ref: np.ndarray) -> None:
    assert got.dtype == np.float32
    assert got.shape == ref.shape
    np.testing.assert_array_equal(np.isinf(got), np.isinf(ref))
    fin = np.isfinite(ref)
    np.testing.assert_allclose(got[fin], ref[fin], rtol=1e-5, atol=0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["int", "float", "zero"])
@pytest.mark.parametrize("sizes", [[1], [3, 5, 4, 2], [7, 1, 9, 13, 3], [5, 0, 4], [17, 33, 9]])
def test_layered_counts_and_distances(backend: str, kind: str, sizes: list[int]) -> None:
    rng = np.random.default_rng(hash((kind, tuple(sizes))) % 2**32)
    for density in (0.15, 0.6, 1.0):
        g = random_layered(rng, sizes, density, kind)
        m = layered_to_csr(g)
        n = m.shape[0]
        src = rng.integers(0, n, size=min(n, 11))
        src = np.concatenate([src, src[:2]])  # duplicates
        ref = oracle_distances(m, src)
        radii = radii_with_exact_lengths(rng, ref)
        for graph in (g, m):
            got = multi_source_counts(graph, src, radii, backend=backend)
            assert got.dtype == np.int64 and got.shape == (src.size, radii.size)
            np.testing.assert_array_equal(got, oracle_counts(m, src, radii))
            _assert_dist(multi_source_distances(graph, src, backend=backend), ref)
            cut = float(radii[0])
            _assert_dist(
                multi_source_distances(graph, src, cutoff=cut, backend=backend),
                oracle_distances(m, src, cutoff=cut),
            )
        # undirected on a layered graph
        np.testing.assert_array_equal(
            multi_source_counts(g, src, radii, directed=False, backend=backend),
            oracle_counts(m, src, radii, directed=False),
        )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("directed", [True, False])
@pytest.mark.parametrize("kind", ["int", "float", "zero"])
@pytest.mark.parametrize("n", [1, 2, 19, 61])
def test_csr_counts_and_distances(backend: str, directed: bool, kind: str, n: int) -> None:
    rng = np.random.default_rng(n * 7 + len(kind) + directed)
    for density in (0.02, 0.1, 0.4):
        m = random_csr(rng, n, density, kind)
        src = rng.integers(0, n, size=min(n, 9))
        src = np.concatenate([src, src[:1]])
        ref = oracle_distances(m, src, directed)
        radii = radii_with_exact_lengths(rng, ref)
        got = multi_source_counts(m, src, radii, directed=directed, backend=backend)
        np.testing.assert_array_equal(got, oracle_counts(m, src, radii, directed))
        _assert_dist(multi_source_distances(m, src, directed=directed, backend=backend), ref)
        cut = float(np.median(radii))
        _assert_dist(
            multi_source_distances(m, src, cutoff=cut, directed=directed, backend=backend),
            oracle_distances(m, src, directed, cutoff=cut),
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_sources_and_single_node(backend: str) -> None:
    g = LG([1], [])
    assert multi_source_counts(g, np.zeros(0, np.int64), [1.0, 2.0], backend=backend).shape == (0, 2)
    assert multi_source_distances(g, [], backend=backend).shape == (0, 1)
    np.testing.assert_array_equal(multi_source_counts(g, [0, 0], [0.0, 5.0], backend=backend), [[1, 1], [1, 1]])
    m = sp.csr_array((1, 1))
    np.testing.assert_array_equal(multi_source_counts(m, [0], [-1.0, 0.0], backend=backend), [[0, 1]])
    np.testing.assert_array_equal(multi_source_distances(m, [0], backend=backend), [[0.0]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_unreachable_never_counted_even_at_inf(backend: str) -> None:
    # 0 -> 1 (2.5), node 2 isolated
    m = sp.csr_array((np.array([2.5]), (np.array([0]), np.array([1]))), shape=(3, 3))
    got = multi_source_counts(m, [0, 1, 2], [np.inf, 2.5, 2.4999], backend=backend)
    np.testing.assert_array_equal(got, [[2, 2, 1], [1, 1, 1], [1, 1, 1]])
    d = multi_source_distances(m, [0], cutoff=2.5, backend=backend)
    np.testing.assert_array_equal(d, [[0.0, 2.5, np.inf]])
    d = multi_source_distances(m, [0], cutoff=2.4, backend=backend)
    np.testing.assert_array_equal(d, [[0.0, np.inf, np.inf]])


def test_inputs_torch_and_networkx_oracle() -> None:
    import networkx as nx
    import torch

    rng = np.random.default_rng(5)
    m = random_csr(rng, 30, 0.1, "float")
    gx = nx.from_scipy_sparse_array(m, create_using=nx.DiGraph)
    src = [0, 3, 7]
    got = multi_source_distances(m, torch.tensor(src), backend="cpu")
    for i, s in enumerate(src):
        lengths = nx.single_source_dijkstra_path_length(gx, s)
        for v in range(30):
            if v in lengths:
                assert got[i, v] == pytest.approx(lengths[v], rel=1e-6)
            else:
                assert np.isinf(got[i, v])
    c = multi_source_counts(m, np.array(src), torch.tensor([1.0, 3.0]), backend="cpu")
    np.testing.assert_array_equal(c, oracle_counts(m, src, [1.0, 3.0]))


def test_errors() -> None:
    m = sp.csr_array((3, 3))
    with pytest.raises(ConfigError, match="sources"):
        multi_source_counts(m, [3], [1.0])
    with pytest.raises(ConfigError, match="backend"):
        multi_source_counts(m, [0], [1.0], backend="gpu")
    with pytest.raises(ConfigError, match="NaN"):
        multi_source_counts(m, [0], [np.nan])
    bad = sp.csr_array((np.array([-1.0]), (np.array([0]), np.array([1]))), shape=(3, 3))
    with pytest.raises(ConfigError, match="negative"):
        multi_source_distances(bad, [0])
    with pytest.raises(ConfigError, match="blocks"):
        multi_source_counts(LG([2, 3], [np.zeros((3, 2))]), [0], [1.0])


def test_gpu_backend_without_gpu_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    from mfa_engine import _device

    monkeypatch.setattr(_device, "cuda_available", lambda: False)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    m = sp.csr_array((3, 3))
    for b in ("triton", "cupy"):
        with pytest.raises(BackendError, match=b):
            multi_source_counts(m, [0], [1.0], backend=b)
    np.testing.assert_array_equal(multi_source_counts(m, [0], [1.0], backend="auto"), [[1]])


def test_import_is_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, mfa_engine.paths, mfa_engine.aot, mfa_engine.cli.kernels; "
        "bad = [m for m in ('torch', 'triton', 'cupy', 'numba') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_explicit_inf_entry_is_no_edge_and_dense_input() -> None:
    m = sp.csr_array((np.array([np.inf, 1.0]), (np.array([0, 1]), np.array([1, 2]))), shape=(3, 3))
    np.testing.assert_array_equal(multi_source_counts(m, [0, 1], [1.0, 5.0]), [[1, 1], [2, 2]])
    dense = np.full((3, 3), np.inf)
    dense[0, 1], dense[1, 2] = 0.0, 2.0  # 0 is no edge in dense input (as in scipy.sparse.csgraph)
    np.testing.assert_array_equal(multi_source_distances(dense, [0]), [[0.0, np.inf, np.inf]])
    np.testing.assert_array_equal(multi_source_distances(dense, [1]), [[np.inf, 0.0, 2.0]])
    zero = sp.csr_array((np.array([0.0, 2.0]), (np.array([0, 1]), np.array([1, 2]))), shape=(3, 3))
    np.testing.assert_array_equal(multi_source_distances(zero, [0]), [[0.0, 0.0, 2.0]])  # explicit zero: an edge


def test_long_path_takes_dijkstra_with_int64_ids() -> None:
    # more levels than MAX_LEVELS: the general CSR path; ids above 2**16 given as int64
    n = 70_000
    m = sp.csr_array((np.ones(n - 1), (np.arange(n - 1), np.arange(1, n))), shape=(n, n))
    got = multi_source_counts(m, np.array([0, n - 5], dtype=np.int64), [3.0, 1e9])
    np.testing.assert_array_equal(got, [[4, n], [4, 5]])
